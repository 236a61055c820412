"""A phone call through the mu-law path with the real embedded models."""

import httpx
import pytest

from agent_core.audio.resample import resample
from parley.phone_demo import trim_silence
from tests.integration.conftest import words
from tests.telephony.kit import phone_line

pytestmark = pytest.mark.models


async def test_jfk_over_the_phone_is_transcribed_and_the_caller_hears_the_answer(tmp_path, providers, jfk):
    # One turn for the whole speech: its pauses are shorter than 1.2 s.
    async with phone_line(tmp_path, providers=providers, end_of_turn_silence_ms=1200) as line:
        report = await line.simulator(fast=True).call(jfk, quiet_after_reply_s=1.0, max_call_s=90)
        async with httpx.AsyncClient() as http:
            call = (
                await http.get(f"{line.url}/api/calls/{report.call_sid}", headers={"Authorization": f"Bearer {line.admin_token}"})
            ).json()
    user = [t["text"] for t in call["turns"] if t["role"] == "user"]
    assert len(user) == 1
    assert "ask not what your country can do for you" in words(user[0])
    [answer] = [t for t in call["turns"] if t["role"] == "assistant"]
    assert answer["text"].strip() and answer["heard"]
    # What reached the caller's ear (8 kHz mu-law) is the answer the server recorded.
    heard = trim_silence(report.heard_after(report.caller_spoke_at_s))
    assert heard.duration_s > 0.5
    heard_text = words(await providers.stt.transcribe(resample(heard, 16000)))
    recorded = words(answer["text"]).split()
    overlap = sum(1 for w in recorded if w in heard_text.split())
    assert overlap >= 0.6 * len(recorded), (heard_text, recorded)


async def test_jfk_unedited_is_one_caller_turn_with_the_semantic_policy(tmp_path, providers, jfk):
    """The default end-of-turn policy (Smart Turn + the transcript so far), in real time: JFK's natural
    0.3-1.2 s pauses ("ask not ... what your country can do for you, ...") do not end his turn.
    Fed at the real pace, so the models' verdicts land while the pauses are still running."""
    async with phone_line(tmp_path, providers=providers, end_of_turn_signals="audio+text",
                          end_of_turn_silence_ms=800) as line:
        report = await line.simulator(fast=False).call(jfk, quiet_after_reply_s=1.0, max_call_s=90)
        async with httpx.AsyncClient() as http:
            call = (
                await http.get(f"{line.url}/api/calls/{report.call_sid}", headers={"Authorization": f"Bearer {line.admin_token}"})
            ).json()
    roles = [t["role"] for t in call["turns"]]
    assert roles == ["user", "assistant"], call["turns"]  # no reply started inside the caller's sentence
    assert report.clears == 0  # nothing had to be cleared: no reply was playing while he spoke
    assert "ask not what your country can do for you ask what you can do for your country" in words(call["turns"][0]["text"])
