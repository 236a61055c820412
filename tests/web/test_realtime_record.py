"""A Realtime session through the official `openai` SDK, then its record under the admin API."""

from __future__ import annotations

import asyncio
import io
import wave

import httpx
import numpy as np
import pytest

from agent_core.testing import ScriptedTts
from tests.web.kit import providers, talk_server
from tests.web.sdk import EventLog, sdk_connection, speak


async def test_a_browser_session_is_recorded_with_what_its_listener_heard(tmp_path, jfk_opening):
    """Written when the socket closes: the client may cut the last reply short until then."""
    async with talk_server(tmp_path, providers(tts=ScriptedTts(seconds_per_word=0.25)), admin_token="admin",
                           record_audio=True) as url:
        async with sdk_connection(url) as connection:
            log = EventLog(connection)
            await speak(connection, jfk_opening)
            [done] = await log.until("response.done")
            [message] = done.response.output
            # The listener heard the first 0.6 s: "The capital" at 0.25 s a word.
            await connection.conversation.item.truncate(item_id=message.id, content_index=0, audio_end_ms=600)
            await log.until("conversation.item.truncated")
            await connection.input_audio_buffer.clear()  # mid-session: the record is still written once, at the end
            await log.until("input_audio_buffer.cleared")
        async with httpx.AsyncClient(base_url=url, headers={"Authorization": "Bearer admin"}) as http:
            async with asyncio.timeout(10):  # the record is written off the socket's path, right after it
                while not (page := (await http.get("/api/conversations?channel=web")).json())["conversations"] or \
                        page["conversations"][0]["status"] != "completed":
                    await asyncio.sleep(0.05)
            [listed] = page["conversations"]
            record = (await http.get(f"/api/conversations/{listed['id']}")).json()
            wav = (await http.get(f"/api/conversations/{listed['id']}/recording")).content
    assert record["channel"] == "web" and record["persona"] == "quiet" and record["meta"]["model"] == "gpt-realtime"
    # The recording: what the user sent on the left, the reply on the right as far as it was heard.
    with wave.open(io.BytesIO(wav)) as recording:
        assert (recording.getnchannels(), recording.getframerate()) == (2, 24000)
        stereo = np.frombuffer(recording.readframes(recording.getnframes()), dtype="<i2").reshape(-1, 2)
    assert np.count_nonzero(stereo[:, 1]) / 24000 == pytest.approx(0.6, abs=0.02)  # heard: 0.6 s of the answer
    heard = np.flatnonzero(stereo[:, 1])
    assert heard[0] / 24000 > jfk_opening.duration_s  # the answer after the question
    # As long as what the user sent (speech + 1 s of silence), or as far as the heard answer goes
    # where it started once all of that was in (a busy machine answers later).
    assert len(stereo) / 24000 == pytest.approx(max(jfk_opening.duration_s + 1.0, (heard[-1] + 1) / 24000), abs=0.1)
    assert record["meta"]["recording"]["seconds"] == pytest.approx(len(stereo) / 24000, abs=0.01)
    assert sorted(job["kind"] for job in record["jobs"]) == ["summary", "transcript"]
    user, answer = record["turns"]
    assert (user["role"], user["text"]) == ("user", "What is the capital of France?")
    assert answer["role"] == "assistant" and answer["interrupted"] and answer["text"] == "The capital"
    assert answer["latency_ms"]["voice_to_voice"] is not None
