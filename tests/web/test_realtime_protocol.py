"""WS /ws/talk driven by a Realtime API client: a turn, barge-in, text input, bad events, access."""

from __future__ import annotations

import asyncio
import json

import httpx
import pytest
from websockets.asyncio.client import connect
from websockets.exceptions import InvalidStatus

from agent_core.providers import Providers
from agent_core.scripted import ScriptedLlm, ScriptedStt, ScriptedTts
from tests.web.kit import talk_server
from tests.web.realtime_client import RealtimeClient


def providers(**kw) -> Providers:
    return Providers(stt=kw.get("stt") or ScriptedStt(["What is the capital of France?"]),
                     llm=kw.get("llm") or ScriptedLlm(), tts=kw.get("tts") or ScriptedTts())


def ws_url(url: str) -> str:
    return url.replace("http://", "ws://") + "/ws/talk"


async def test_a_spoken_turn_in_realtime_events(tmp_path, jfk_opening):
    async with talk_server(tmp_path, providers()) as url, RealtimeClient(ws_url(url)) as client:
        [created] = await client.wait_for("session.created")
        assert created["session"]["input_audio_format"] == "pcm16"
        await client.send({"type": "session.update", "session": {"instructions": "Be brief.",
                                                                   "turn_detection": {"type": "server_vad", "silence_duration_ms": 400}}})
        [updated] = await client.wait_for("session.updated")
        assert updated["session"]["instructions"] == "Be brief."
        assert updated["session"]["turn_detection"]["silence_duration_ms"] == 400
        await client.speak(jfk_opening, realtime=False)
        [done] = await client.wait_for("response.done")
    types = client.types()
    order = ["input_audio_buffer.speech_started", "input_audio_buffer.speech_stopped",
             "conversation.item.input_audio_transcription.completed", "response.created",
             "response.audio.delta", "response.audio.done", "response.audio_transcript.done", "response.done"]
    assert all(t in types for t in order), set(order) - set(types)
    assert sorted(order, key=types.index) == order  # first occurrences in protocol order
    [transcription] = [e for e in client.events if e["type"] == "conversation.item.input_audio_transcription.completed"]
    assert transcription["transcript"] == "What is the capital of France?"
    assert done["response"]["status"] == "completed"
    assert done["response"]["output"][0]["content"][0]["transcript"] == "The capital of France is Paris."
    assert float(done["response"]["metadata"]["voice_to_voice_ms"]) > 0
    assert len(client.heard()) > 24000 * 0.5  # the scripted TTS's reply, as pcm16 at 24 kHz
    deltas = [e for e in client.events if e["type"] == "response.audio.delta"]
    assert {d["response_id"] for d in deltas} == {done["response"]["id"]}


async def test_barge_in_cancels_the_reply_and_history_keeps_what_was_heard(tmp_path, jfk_opening):
    long_reply = "This is the first sentence of a long answer. Here is a second sentence that goes on and on and on."
    llm = ScriptedLlm([long_reply, "Okay."])
    stt = ScriptedStt(["Tell me a story.", "Stop."])
    p = providers(stt=stt, llm=llm, tts=ScriptedTts(seconds_per_word=0.3))
    async with talk_server(tmp_path, p) as url, RealtimeClient(ws_url(url)) as client:
        await client.speak(jfk_opening, realtime=False)
        await client.wait_for("response.audio.delta", 5)
        await asyncio.sleep(1.0)
        await client.speak(jfk_opening, realtime=True)  # talk over the bot
        done = await client.wait_for("response.done", 2)
    assert done[0]["response"]["status"] == "cancelled"
    heard = done[0]["response"]["output"][0]["content"][0]["transcript"]
    assert heard and len(heard) < len(long_reply)
    assert done[1]["response"]["status"] == "completed"
    # The model saw only the part of the first reply that was played before the barge-in.
    assert llm.requests[-1][2] == {"role": "assistant", "content": heard}
    started = [i for i, e in enumerate(client.events) if e["type"] == "input_audio_buffer.speech_started"]
    first_done = client.events.index(done[0])
    assert any(i < first_done for i in started[1:])  # the client was told to stop playback


async def test_text_items_and_bad_events(tmp_path):
    async with talk_server(tmp_path, providers()) as url, RealtimeClient(ws_url(url)) as client:
        await client.send({"type": "conversation.item.create", "item": {
            "type": "message", "role": "user", "content": [{"type": "input_text", "text": "Capital of France?"}]}})
        [done] = await client.wait_for("response.done")
        assert done["response"]["status"] == "completed"
        for bad in ({"type": "input_audio_buffer.append", "audio": "%%%"},
                    {"type": "input_audio_buffer.append", "audio": "AAAB"},  # 3 bytes: not pcm16
                    {"type": "session.update", "session": {"input_audio_format": "g711_ulaw"}},
                    {"type": "conversation.item.create", "item": {"type": "message", "role": "system"}},
                    {"type": "no.such.event"}):
            await client.send(bad)
        await client.ws.send("not json")
        errors = await client.wait_for("error", 6)
        assert [e["error"]["code"] for e in errors] == ["invalid_audio", "invalid_audio", "invalid_value",
                                                        "invalid_value", "unknown_event", "invalid_event"]
        await client.send({"type": "response.create"})  # accepted: the server decides when to reply
        await asyncio.sleep(0.1)
        assert len([e for e in client.events if e["type"] == "error"]) == 6


async def test_access_needs_the_token_when_the_server_is_reachable_from_outside(tmp_path):
    async with talk_server(tmp_path, providers(), public=True) as url:  # no token set: closed
        async with httpx.AsyncClient() as http:
            assert (await http.get(url + "/")).status_code == 401
        with pytest.raises(InvalidStatus):
            await connect(ws_url(url))
    async with talk_server(tmp_path, providers(), public=True, talk_token="t0ken-123") as url:
        async with httpx.AsyncClient() as http:
            assert (await http.get(url + "/?token=wrong")).status_code == 401
            page = await http.get(url + "/?token=t0ken-123")
            assert page.status_code == 200 and "Talk to Parley" in page.text
            assert (await http.get(url + "/static/talk.js")).headers["content-type"].startswith("text/javascript")
            assert (await http.get(url + "/static/secrets.txt")).status_code == 404
        async with RealtimeClient(ws_url(url), api_key="t0ken-123") as client:  # a Realtime client's header
            await client.wait_for("session.created")
        async with connect(ws_url(url) + "?token=t0ken-123") as ws:  # the page's query parameter
            assert json.loads(await ws.recv())["type"] == "session.created"
