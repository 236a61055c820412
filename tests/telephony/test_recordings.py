"""Call recordings: both sides, the agent as the caller heard it, downloadable, kept within retention."""

from __future__ import annotations

import asyncio
import io
import os
import time
import wave

import httpx
import numpy as np

from agent_core.storage.recordings import LocalRecordingStore
from agent_core.testing import ScriptedLlm, ScriptedStt, ScriptedTts
from tests.telephony.kit import phone_line

RATE = 8000


async def download(line, call_sid: str) -> httpx.Response:
    async with httpx.AsyncClient() as http:
        for _ in range(200):  # stored as the stream closes
            reply = await http.get(f"{line.url}/api/calls/{call_sid}/recording",
                                   headers={"Authorization": f"Bearer {line.admin_token}"})
            if reply.status_code != 404:
                return reply
            await asyncio.sleep(0.05)
    return reply


def tracks(wav_bytes: bytes) -> tuple[np.ndarray, np.ndarray]:
    with wave.open(io.BytesIO(wav_bytes)) as wav:
        assert (wav.getnchannels(), wav.getsampwidth(), wav.getframerate()) == (2, 2, RATE)
        stereo = np.frombuffer(wav.readframes(wav.getnframes()), dtype="<i2").reshape(-1, 2)
    return stereo[:, 0].astype(np.float32), stereo[:, 1].astype(np.float32)


def audible_seconds(samples: np.ndarray) -> float:
    """Seconds of 20 ms blocks with sound in them."""
    blocks = samples[: len(samples) // 160 * 160].reshape(-1, 160)
    return float((np.abs(blocks).max(axis=1) > 300).sum() * 0.02)


async def test_a_call_is_recorded_with_both_sides_and_downloadable(tmp_path, jfk_opening):
    stt = ScriptedStt(["What is the capital of France?"])
    async with phone_line(tmp_path, stt=stt, llm=ScriptedLlm(["Paris is the capital of France."])) as line:
        report = await line.simulator().call(jfk_opening, quiet_after_reply_s=1.0)
        reply = await download(line, report.call_sid)
        async with httpx.AsyncClient() as http:
            unauthorised = await http.get(f"{line.url}/api/calls/{report.call_sid}/recording")
    assert reply.status_code == 200 and reply.headers["content-type"] == "audio/wav"
    assert unauthorised.status_code == 401
    caller, agent = tracks(reply.content)
    assert abs(len(caller) / RATE - report.heard.duration_s) < 1.0  # the whole call, on one clock
    # Left: the caller's words (2.6 s of speech, through mu-law), where the caller said them.
    spoke_at = int(report.caller_spoke_at_s * RATE)
    assert 1.5 < audible_seconds(caller) < 3.0
    assert audible_seconds(caller[spoke_at : spoke_at + int(3.0 * RATE)]) > 1.5
    # Right: the reply, as much of it as the caller's earpiece played, after the caller spoke.
    earpiece = np.frombuffer(report.heard.pcm, dtype="<i2").astype(np.float32)
    assert abs(audible_seconds(agent) - audible_seconds(earpiece)) < 0.3
    assert audible_seconds(agent[: spoke_at + int(2.0 * RATE)]) == 0


async def test_a_barge_in_leaves_only_what_the_caller_heard(tmp_path, jfk_opening):
    long_reply = "This is the first sentence of a long answer. Here is a second sentence that goes on. And a third."
    tts = ScriptedTts(seconds_per_word=0.3)
    async with phone_line(tmp_path, stt=ScriptedStt(["Tell me a story.", "Stop."]),
                          llm=ScriptedLlm([long_reply, "Okay."]), tts=tts) as line:
        report = await line.simulator().call(jfk_opening, barge_in=jfk_opening, barge_in_after_s=1.0)
        reply = await download(line, report.call_sid)
    _, agent = tracks(reply.content)
    full_reply_s = len(long_reply.split()) * 0.3
    earpiece = np.frombuffer(report.heard.pcm, dtype="<i2").astype(np.float32)
    assert report.clears >= 1
    assert audible_seconds(agent) < full_reply_s / 2  # the cut-off rest was never heard, so never recorded
    assert abs(audible_seconds(agent) - audible_seconds(earpiece)) < 0.5


async def test_a_number_can_turn_recording_off(tmp_path, jfk_opening):
    async with phone_line(tmp_path, stt=ScriptedStt(["Hello."])) as line:
        await line.db.set_number_setting("+15551230000", "record", False)
        report = await line.simulator(called="+15551230000").call(jfk_opening, quiet_after_reply_s=0.5)
        reply = await download(line, report.call_sid)
    assert reply.status_code == 404


async def test_retention_removes_old_recordings_only(tmp_path):
    store = LocalRecordingStore(tmp_path)
    assert await store.save("phone", "CA-old", b"RIFF old") == "phone/CA-old.wav"
    await store.save("phone", "CA-new", b"RIFF new")
    old, new = store.path_for("phone", "CA-old"), store.path_for("phone", "CA-new")
    forty_days_ago = time.time() - 40 * 86400
    os.utime(old, (forty_days_ago, forty_days_ago))
    assert await store.delete_older_than(30) == 1
    assert not old.exists() and new.exists()
    assert await store.find("phone", "CA-new") == new


def test_a_call_id_cannot_name_a_file_outside_the_store(tmp_path):
    path = LocalRecordingStore(tmp_path / "recordings").path_for("phone", "../../etc/passwd")
    assert path.parent == tmp_path / "recordings" / "phone"
