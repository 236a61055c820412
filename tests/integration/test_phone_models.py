"""A phone call through the mu-law path with the real embedded models."""

import httpx
import pytest

from agent_core.audio import AudioFrame
from agent_core.audio.resample import resample
from agent_core.providers import Providers
from agent_core.testing import ScriptedLlm
from agent_core.turns import TurnSettings
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
                          end_of_turn_silence_ms=TurnSettings().end_of_turn_silence_ms) as line:
        report = await line.simulator(fast=False).call(jfk, quiet_after_reply_s=1.0, max_call_s=90)
        async with httpx.AsyncClient() as http:
            call = (
                await http.get(f"{line.url}/api/calls/{report.call_sid}", headers={"Authorization": f"Bearer {line.admin_token}"})
            ).json()
    roles = [t["role"] for t in call["turns"]]
    assert roles == ["user", "assistant"], call["turns"]  # no reply started inside the caller's sentence
    assert report.clears == 0  # nothing had to be cleared: no reply was playing while he spoke
    assert "ask not what your country can do for you ask what you can do for your country" in words(call["turns"][0]["text"])


LONG_REPLY = ("Here is a long answer that takes a while to say. It has a second sentence, which goes on for a bit. "
              "And a third one, so that there is time to talk over it.")


async def piper_says(providers, text: str):
    """Synthetic speech: the embedded Piper voice, at 8 kHz as a phone line carries it."""
    frames = [f async for f in providers.tts.synthesize(text)]
    return resample(AudioFrame(b"".join(f.pcm for f in frames), frames[0].sample_rate), 8000)


async def call_with_sound_over_the_reply(tmp_path, providers, jfk_opening, over_reply):
    llm = ScriptedLlm([LONG_REPLY, "Okay."])
    line_providers = Providers(stt=providers.stt, llm=llm, tts=providers.tts)
    async with phone_line(tmp_path, providers=line_providers, end_of_turn_silence_ms=800) as line:
        report = await line.simulator().call(jfk_opening, barge_in=over_reply, barge_in_after_s=1.5,
                                             quiet_after_reply_s=4.0, max_call_s=60)
        async with httpx.AsyncClient() as http:
            call = (
                await http.get(f"{line.url}/api/calls/{report.call_sid}", headers={"Authorization": f"Bearer {line.admin_token}"})
            ).json()
    return report, call


@pytest.mark.parametrize("said", ["Okay.", "Yeah."])
async def test_a_backchannel_over_the_reply_does_not_stop_it(tmp_path, providers, jfk_opening, said):
    """Spoken by Piper. (Its "uh-huh" is too unclear for Whisper base to read back the same way twice,
    "Uh-huh" / "Ah" / "I'll help", so that one is covered with a scripted transcript in tests/unit.)"""
    report, call = await call_with_sound_over_the_reply(tmp_path, providers, jfk_opening, await piper_says(providers, said))
    assert report.clears >= 1  # the bot went quiet while it listened
    assert [t["role"] for t in call["turns"]] == ["user", "backchannel", "assistant"], call["turns"]
    assert words(call["turns"][1]["text"]) == words(said)
    answer = call["turns"][2]
    assert not answer["interrupted"] and answer["text"] == LONG_REPLY  # all of it reached the caller


async def test_words_over_the_reply_still_stop_it(tmp_path, providers, jfk_opening):
    first_word = AudioFrame(jfk_opening.pcm[int(0.32 * 16000) * 2 :], 16000)  # the clip's first 0.32 s are silence
    report, call = await call_with_sound_over_the_reply(tmp_path, providers, jfk_opening, resample(first_word, 8000))
    assert report.clears >= 1 and report.barge_in_to_clear_ms is not None
    answers = [t for t in call["turns"] if t["role"] == "assistant"]
    assert answers[0]["interrupted"] and LONG_REPLY.startswith(answers[0]["text"]) and answers[0]["text"] != LONG_REPLY
    print(f"barge-in -> clear: {report.barge_in_to_clear_ms} ms")


async def test_a_wordless_burst_over_the_reply_does_not_lose_it(tmp_path, providers, jfk, jfk_opening):
    """A cough-like sound: 0.3 s of JFK played backwards, voiced and loud enough for the VAD to call it
    speech (a barge-in), with no real words in it. Whisper reads it as nothing on some CPUs and as a
    backchannel-like sound ("mm", "oh") on others; either way it is not a new caller turn and the reply goes on."""
    samples = jfk.to_float32()[int(5.5 * 16000) : int(5.8 * 16000)][::-1].copy()
    burst = resample(AudioFrame.from_float32(samples, 16000), 8000)
    report, call = await call_with_sound_over_the_reply(tmp_path, providers, jfk_opening, burst)
    assert report.clears >= 1  # the VAD took it for speech: the bot went quiet at once
    roles = [t["role"] for t in call["turns"]]
    assert roles in (["user", "assistant"], ["user", "backchannel", "assistant"]), call["turns"]
    answer = call["turns"][-1]
    assert answer["text"] == LONG_REPLY and not answer["interrupted"]
