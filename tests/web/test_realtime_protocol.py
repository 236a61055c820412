"""WS /v1/realtime driven by a raw client: barge-in, beta names, bad events, isolation, access."""

from __future__ import annotations

import asyncio
import json

import httpx
import pytest
from websockets.asyncio.client import connect
from websockets.exceptions import InvalidStatus

from agent_core.audio.frames import AudioFrame
from agent_core.providers import Providers
from agent_core.testing import ScriptedLlm, ScriptedStt, ScriptedTts
from tests.web.kit import talk_server
from tests.web.realtime_client import RealtimeClient


def providers(**kw) -> Providers:
    return Providers(stt=kw.get("stt") or ScriptedStt(["What is the capital of France?"]),
                     llm=kw.get("llm") or ScriptedLlm(), tts=kw.get("tts") or ScriptedTts())


class HoldingTts(ScriptedTts):
    """Never finishes speaking sentences that start with `held`: the reply is still being spoken
    when the user talks over it, however fast the machine."""

    def __init__(self, held: str, **kw) -> None:
        super().__init__(**kw)
        self.held = held

    async def synthesize(self, text, *, voice=None, style=None):
        if text.startswith(self.held):
            await asyncio.Event().wait()
        async for frame in super().synthesize(text, voice=voice, style=style):
            yield frame


def ws_url(url: str) -> str:
    return url.replace("http://", "ws://") + "/v1/realtime?model=gpt-realtime"


async def test_beta_clients_get_beta_event_names(tmp_path, jfk_opening):
    async with talk_server(tmp_path, providers()) as url, RealtimeClient(ws_url(url), beta=True) as client:
        await client.wait_for("session.created")
        # The beta session shape: flat formats and voice, "modalities".
        await client.send({"type": "session.update", "session": {
            "modalities": ["text", "audio"], "input_audio_format": "pcm16", "output_audio_format": "g711_ulaw",
            "turn_detection": {"type": "server_vad", "silence_duration_ms": 400}}})
        [updated] = await client.wait_for("session.updated")
        assert updated["session"]["audio"]["output"]["format"] == {"type": "audio/pcmu"}
        assert updated["session"]["audio"]["input"]["turn_detection"]["silence_duration_ms"] == 400
        await client.speak(jfk_opening, realtime=False)
        [done] = await client.wait_for("response.done")
    types = client.types()
    assert {"conversation.item.created", "response.audio.delta", "response.audio_transcript.delta",
            "response.audio.done"} <= set(types)
    assert not {"conversation.item.added", "response.output_audio.delta", "conversation.item.done"} & set(types)
    assert done["response"]["status"] == "completed"
    assert len(client.audio) == pytest.approx(6 * 0.25 * 8000, rel=0.02)  # mu-law: one byte a sample at 8 kHz


async def test_barge_in_cancels_the_reply_and_history_keeps_what_was_heard(tmp_path, jfk_opening):
    long_reply = "This is the first sentence of a long answer. Here is a second sentence that goes on and on and on."
    llm = ScriptedLlm([long_reply, "Okay."])
    stt = ScriptedStt(["Tell me a story.", "Stop."])
    p = providers(stt=stt, llm=llm, tts=HoldingTts("Here is", seconds_per_word=0.3))
    # A turn ends after 1.5 s of silence: JFK's own pauses stay inside his turn.
    async with talk_server(tmp_path, p, end_of_turn_silence_ms=1500) as url, RealtimeClient(ws_url(url)) as client:
        await client.speak(jfk_opening, silence_s=2, realtime=False)
        # The second sentence's transcript follows all of the first one's audio (2.7 s).
        first_delta = (await client.wait_for("response.output_audio_transcript.delta", 2))[0]
        await client.speak(jfk_opening, silence_s=0, realtime=False)  # talk over the bot, still talking
        await client.wait_for("input_audio_buffer.speech_started", 2)
        # The client stops playback having played 0.9 s, and says so, as Realtime clients do.
        await client.send({"type": "conversation.item.truncate", "item_id": first_delta["item_id"],
                           "content_index": 0, "audio_end_ms": 900})
        [truncated] = await client.wait_for("conversation.item.truncated")
        await client.speak(AudioFrame.silence(2, 16000), realtime=False)  # the user stops talking
        done = await client.wait_for("response.done", 2)
    assert truncated["audio_end_ms"] == 900
    assert done[0]["response"]["status"] == "cancelled"
    assert done[0]["response"]["status_details"]["reason"] == "turn_detected"
    # Cancelled while the second sentence was not spoken yet: its text was never sent as audio.
    cancelled_transcript = done[0]["response"]["output"][0]["content"][0]["transcript"]
    assert cancelled_transcript == "This is the first sentence of a long answer."
    assert done[1]["response"]["status"] == "completed"
    # 0.9 s of 0.3 s words: the model remembers saying the first three words, and no more.
    assert llm.requests[-1][-2] == {"role": "assistant", "content": "This is the"}
    assert llm.requests[-1][-1] == {"role": "user", "content": "Stop."}
    started = [i for i, e in enumerate(client.events) if e["type"] == "input_audio_buffer.speech_started"]
    assert started[1] < client.events.index(done[0])  # the client was told to stop playback first


async def test_bad_events_get_errors_naming_them_and_other_sessions_carry_on(tmp_path, jfk_opening):
    async with (talk_server(tmp_path, providers()) as url, RealtimeClient(ws_url(url)) as bad,
                RealtimeClient(ws_url(url)) as good):
        for index, event in enumerate(({"type": "input_audio_buffer.append", "audio": "%%%"},
                                       {"type": "input_audio_buffer.append", "audio": "AAAB"},  # 3 bytes: not pcm16
                                       {"type": "session.update", "session": {"audio": {"input": {"format": {
                                           "type": "audio/opus"}}}}},
                                       {"type": "session.update", "session": {"type": "transcription"}},
                                       {"type": "conversation.item.create", "item": {"type": "message",
                                                                                     "role": "tool"}},
                                       {"type": "conversation.item.truncate", "item_id": "item_nope",
                                        "content_index": 0, "audio_end_ms": 10},
                                       {"type": "response.cancel"},
                                       {"type": "input_audio_buffer.commit"},
                                       {"type": "no.such.event"})):
            await bad.send({**event, "event_id": f"evt_{index}"})
        await bad.ws.send("not json")
        await bad.ws.send(b"\x00\x01")  # a binary frame
        await bad.ws.send(json.dumps({"type": ["session.update"]}))
        await good.speak(jfk_opening, realtime=False)
        errors = await bad.wait_for("error", 12)
        [done] = await good.wait_for("response.done")
        # The connection that sent them is still open and still answers.
        await bad.send({"type": "conversation.item.create", "item": {
            "type": "message", "role": "user", "content": [{"type": "input_text", "text": "Still there?"}]}})
        await bad.send({"type": "response.create"})
        [still] = await bad.wait_for("response.done")
    assert [(e["error"]["code"], e["error"]["event_id"]) for e in errors] == [
        ("invalid_audio", "evt_0"), ("invalid_audio", "evt_1"), ("invalid_value", "evt_2"), ("invalid_value", "evt_3"),
        ("invalid_value", "evt_4"), ("item_not_found", "evt_5"), ("response_cancel_not_active", "evt_6"),
        ("input_audio_buffer_commit_empty", "evt_7"), ("unknown_event", "evt_8"), ("invalid_json", None),
        ("invalid_json", None), ("invalid_json", None)]
    assert errors[2]["error"]["param"] == "session.audio.input.format"
    assert done["response"]["status"] == still["response"]["status"] == "completed"
    assert not [e for e in good.events if e["type"] == "error"]


async def test_access_needs_the_token_when_the_server_is_reachable_from_outside(tmp_path):
    async with talk_server(tmp_path, providers(), public=True) as url:  # no token set: closed
        async with httpx.AsyncClient() as http:
            assert (await http.get(url + "/")).status_code == 401
        with pytest.raises(InvalidStatus) as refused:
            await connect(ws_url(url))
        assert refused.value.response.status_code == 403
    async with talk_server(tmp_path, providers(), public=True, talk_token="t0ken-123") as url:
        async with httpx.AsyncClient() as http:
            assert (await http.get(url + "/?token=wrong")).status_code == 401
            page = await http.get(url + "/?token=t0ken-123")
            assert page.status_code == 200 and "Talk to Parley" in page.text
            assert (await http.get(url + "/static/talk.js")).headers["content-type"].startswith("text/javascript")
            assert (await http.get(url + "/static/secrets.txt")).status_code == 404
        with pytest.raises(InvalidStatus):
            await connect(ws_url(url), additional_headers={"Authorization": "Bearer wrong"})
        async with RealtimeClient(ws_url(url), api_key="t0ken-123") as client:  # an SDK's API key header
            await client.wait_for("session.created")
        async with connect(ws_url(url) + "&token=t0ken-123") as ws:  # the page's query parameter
            assert json.loads(await ws.recv())["type"] == "session.created"
