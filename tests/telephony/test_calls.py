"""Whole phone calls over real HTTP and WebSocket, with instant scripted providers."""

import asyncio
import base64
import json

import httpx
import numpy as np
import pytest
import websockets

from agent_core.audio import AudioFrame
from agent_core.audio.mulaw import pcm16_to_ulaw
from agent_core.audio.resample import resample
from agent_core.llm.base import ToolCall
from agent_core.testing import ScriptedLlm, ScriptedStt, ScriptedTts
from tests.telephony.kit import phone_line


def dominant_frequency(frame: AudioFrame) -> float:
    samples = frame.to_float32()
    spectrum = np.abs(np.fft.rfft(samples))
    return float(np.fft.rfftfreq(len(samples), 1 / frame.sample_rate)[np.argmax(spectrum)])


async def record(line, call_sid: str) -> dict:
    async with httpx.AsyncClient() as http:
        for _ in range(300):  # the record is finished (its writes queued in order) as the stream closes
            reply = await http.get(f"{line.url}/api/calls/{call_sid}", headers={"Authorization": f"Bearer {line.admin_token}"})
            if reply.status_code == 200 and reply.json()["ended_at"]:
                return reply.json()
            await asyncio.sleep(0.05)
    raise AssertionError(f"no finished record for {call_sid}")


async def test_a_call_is_answered_and_the_caller_hears_the_reply(tmp_path, jfk_opening):
    stt = ScriptedStt(["What is the capital of France?"])
    async with phone_line(tmp_path, stt=stt, greeting="Hello there.") as line:
        report = await line.simulator(fast=True).call(jfk_opening)
        call = await record(line, report.call_sid)
        async with httpx.AsyncClient(base_url=line.url, headers={"Authorization": f"Bearer {line.admin_token}"}) as http:
            listed = (await http.get("/api/conversations", params={"channel": "phone"})).json()["conversations"]
            by_id = (await http.get(f"/api/conversations/{call['id']}")).json()
            elsewhere = (await http.get("/api/conversations", params={"channel": "discord"})).json()["conversations"]
    # The call is a conversation of the phone channel like any other, under /api/conversations too.
    assert [c["external_id"] for c in listed] == [report.call_sid] and elsewhere == []
    assert by_id == call and call["channel"] == "phone"
    # What the caller heard: the greeting and the reply, both the scripted TTS's 220 Hz tone.
    assert report.heard.duration_s > 2.0
    reply_audio = report.heard_after(report.caller_spoke_at_s)
    assert dominant_frequency(reply_audio) == pytest.approx(220, abs=5)
    assert report.reply_latency_ms is not None and report.reply_latency_ms > 0
    assert report.marks_echoed == report.media_received  # one mark per chunk, each echoed after playing
    turns = [(t["speaker"], t["role"], t["text"]) for t in call["turns"]]
    assert turns == [
        ("agent", "assistant", "Hello there."),
        ("caller", "user", "What is the capital of France?"),
        ("agent", "assistant", "The capital of France is Paris."),
    ]
    answer = call["turns"][2]
    assert answer["heard"] and not answer["interrupted"]
    assert answer["latency_ms"]["voice_to_voice"] > 0
    assert call["status"] == "completed" and call["caller"] == "+15550001111"
    assert call["stats"]["malformed"] == 0 and call["stats"]["media_frames"] > 50
    assert call["stats"]["inbound_lag_p99_ms"] is not None


async def test_barge_in_sends_clear_and_history_keeps_only_what_was_heard(tmp_path, jfk_opening):
    long_reply = "This is the first sentence of a long answer. Here is a second sentence that goes on. And then a third one."
    llm = ScriptedLlm([long_reply, "Okay, stopping."])
    stt = ScriptedStt(["Tell me a story.", "Stop."])
    async with phone_line(tmp_path, stt=stt, llm=llm, tts=ScriptedTts(seconds_per_word=0.3)) as line:
        report = await line.simulator().call(jfk_opening, barge_in=jfk_opening, barge_in_after_s=1.0)
        call = await record(line, report.call_sid)
    assert report.clears >= 1
    assert report.barge_in_to_clear_ms is not None and report.barge_in_to_clear_ms < 1000
    interrupted = [t for t in call["turns"] if t["interrupted"]]
    assert len(interrupted) == 1
    heard = interrupted[0]["text"]
    assert heard and long_reply.startswith(heard) and len(heard) < len(long_reply) / 2
    # The model was told only the heard part when it answered the interruption.
    assert {"role": "assistant", "content": heard} in llm.requests[1]
    assert call["turns"][-1]["text"] == "Okay, stopping."
    assert call["stats"]["clears_sent"] >= 1


async def raw_stream(line, call_sid: str):
    """Answer a call through the webhook and open its stream by hand; returns (ws, start message)."""
    simulator = line.simulator()
    async with httpx.AsyncClient() as http:
        answer = await simulator.post_webhook(http, "/twilio/voice", simulator.incoming_call_params(call_sid))
    url, params = simulator.parse_stream(answer.text)
    start = {
        "event": "start", "sequenceNumber": "1", "streamSid": "MZ" + call_sid[2:],
        "start": {"accountSid": simulator.account_sid, "streamSid": "MZ" + call_sid[2:], "callSid": call_sid,
                  "tracks": ["inbound"], "customParameters": params,
                  "mediaFormat": {"encoding": "audio/x-mulaw", "sampleRate": 8000, "channels": 1}},
    }
    return url, start


def media(stream_sid: str, timestamp: int, ulaw: bytes) -> str:
    return json.dumps({"event": "media", "sequenceNumber": "2", "streamSid": stream_sid,
                       "media": {"track": "inbound", "chunk": "1", "timestamp": str(timestamp),
                                 "payload": base64.b64encode(ulaw).decode()}})


async def expect_refused(url: str, start: dict) -> None:
    async with websockets.connect(url, max_queue=None) as ws:
        await ws.send(json.dumps({"event": "connected", "protocol": "Call", "version": "1.0.0"}))
        await ws.send(json.dumps(start))
        with pytest.raises(websockets.ConnectionClosed) as closed:
            await asyncio.wait_for(ws.recv(), 5)
    assert closed.value.rcvd.code == 1008


async def test_streams_with_bad_replayed_expired_or_foreign_tokens_are_refused(tmp_path):
    async with phone_line(tmp_path) as line:
        url, start = await raw_stream(line, "CA" + "1" * 32)
        forged = json.loads(json.dumps(start))
        forged["start"]["customParameters"]["token"] = start["start"]["customParameters"]["token"][:-4] + "AAAA"
        await expect_refused(url, forged)
        missing = json.loads(json.dumps(start))
        del missing["start"]["customParameters"]["token"]
        await expect_refused(url, missing)
        other_call = json.loads(json.dumps(start))
        other_call["start"]["callSid"] = "CA" + "2" * 32
        await expect_refused(url, other_call)
        # The genuine token works once...
        async with websockets.connect(url, max_queue=None) as ws:
            await ws.send(json.dumps(start))
            await ws.send(json.dumps({"event": "stop", "sequenceNumber": "3", "streamSid": start["streamSid"], "stop": {}}))
            with pytest.raises(websockets.ConnectionClosed):
                await asyncio.wait_for(ws.recv(), 5)
        # ...and never again.
        await expect_refused(url, start)
        assert line.phone.refusals == 4
    async with phone_line(tmp_path / "short", token_ttl_s=0.5) as line:
        url, start = await raw_stream(line, "CA" + "3" * 32)
        await asyncio.sleep(1.6)
        await expect_refused(url, start)


async def test_malformed_frames_are_counted_and_do_not_disturb_another_call(tmp_path, jfk_opening):
    stt = ScriptedStt(["Hello from the good call."])
    async with phone_line(tmp_path, stt=stt) as line:
        url, start = await raw_stream(line, "CA" + "4" * 32)
        sid = start["streamSid"]
        garbage = [
            "not json", "{}", '{"event": "media"}', json.dumps({"event": "media", "streamSid": sid, "media": {"payload": "%%%", "timestamp": "1"}}),
            json.dumps({"event": "media", "streamSid": sid, "media": {"payload": "AAAA", "timestamp": "soon"}}),
            json.dumps({"event": "mark", "streamSid": sid}), json.dumps({"event": "dtmf", "streamSid": sid, "dtmf": 5}),
            "[1, 2, 3]", json.dumps({"event": "media", "streamSid": sid, "media": {"payload": "A" * 70_000, "timestamp": "1"}}),
        ]

        async def bad_call():
            async with websockets.connect(url, max_size=2**21, max_queue=None) as ws:
                await ws.send(json.dumps(start))
                for i in range(1000):
                    await ws.send(garbage[i % len(garbage)])
                    if i % 50 == 0:
                        await asyncio.sleep(0)
                await ws.send(json.dumps({"event": "surprise", "streamSid": sid}))  # unknown events are ignored
                await ws.send(json.dumps({"event": "stop", "sequenceNumber": "9", "streamSid": sid, "stop": {}}))
                await asyncio.sleep(0.2)

        good, _ = await asyncio.gather(line.simulator(fast=True).call(jfk_opening), bad_call())
        good_call = await record(line, good.call_sid)
        bad = await record(line, start["start"]["callSid"])
        async with httpx.AsyncClient() as http:
            assert (await http.get(line.url + "/healthz")).status_code == 200
    assert [t["text"] for t in good_call["turns"]] == ["Hello from the good call.", "The capital of France is Paris."]
    assert bad["stats"]["malformed"] == 1000
    assert bad["stats"]["oversized"] == 1000 // len(garbage) + (1 if 1000 % len(garbage) > 8 else 0)
    assert bad["stats"]["unknown_events"] == 1


async def test_timestamp_gaps_are_filled_with_silence_and_dtmf_reaches_the_model(tmp_path):
    llm = ScriptedLlm(["You pressed five."])
    async with phone_line(tmp_path, llm=llm) as line:
        url, start = await raw_stream(line, "CA" + "5" * 32)
        sid = start["streamSid"]
        silence = b"\xff" * 160
        async with websockets.connect(url, max_queue=None) as ws:
            await ws.send(json.dumps(start))
            await ws.send(media(sid, 140, silence))
            await ws.send(media(sid, 160, silence))
            await ws.send(media(sid, 560, silence))  # 380 ms lost in the network
            await ws.send(json.dumps({"event": "dtmf", "streamSid": sid, "sequenceNumber": "5",
                                      "dtmf": {"track": "inbound_track", "digit": "5"}}))
            received = []
            while not any(m.get("event") == "mark" for m in received):
                received.append(json.loads(await asyncio.wait_for(ws.recv(), 5)))
            await ws.send(json.dumps({"event": "stop", "sequenceNumber": "9", "streamSid": sid, "stop": {}}))
        call = await record(line, start["start"]["callSid"])
    assert call["stats"]["gap_fill_ms"] == 380
    assert "pressed 5" in llm.requests[0][-1]["content"]
    first_media = next(m for m in received if m["event"] == "media")
    assert first_media["streamSid"] == sid
    ulaw = base64.b64decode(first_media["media"]["payload"])
    assert len(ulaw) == 800  # 100 ms of 8 kHz mu-law, no WAV header


async def rest_requests(line, timeout_s: float = 10.0) -> list:
    """The REST requests the call made, once there are some (the tool runs as the reply ends)."""
    deadline = asyncio.get_running_loop().time() + timeout_s
    while not line.rest_http.requests and asyncio.get_running_loop().time() < deadline:
        await asyncio.sleep(0.05)
    await asyncio.sleep(0.2)  # and no second one follows
    return list(line.rest_http.requests)


async def test_hang_up_tool_says_goodbye_then_ends_the_call_through_rest(tmp_path, jfk_opening):
    llm = ScriptedLlm([[ToolCall("call_1", "hang_up", "{}")], "Goodbye, have a nice day."])
    async with phone_line(tmp_path, llm=llm, stt=ScriptedStt(["bye"])) as line:
        report = await line.simulator(fast=True).call(jfk_opening, quiet_after_reply_s=1.0)
        requests = await rest_requests(line)
    [hang_up] = requests
    assert hang_up.method == "POST"
    assert hang_up.url == f"https://api.twilio.com/2010-04-01/Accounts/{line.phone.twilio.account_sid}/Calls/{report.call_sid}.json"
    assert hang_up.data == {"Status": "completed"}
    assert report.heard_after(report.caller_spoke_at_s).duration_s > 1.0  # the goodbye was played first


async def test_transfer_tool_redirects_the_call_with_dial_twiml(tmp_path, jfk_opening):
    llm = ScriptedLlm([[ToolCall("call_1", "transfer_call", "{}")], "Transferring you now."])
    async with phone_line(tmp_path, llm=llm, transfer_to="+15550009999") as line:
        report = await line.simulator(fast=True).call(jfk_opening, quiet_after_reply_s=1.0)
        [transfer] = await rest_requests(line)
    assert transfer.url.endswith(f"/Calls/{report.call_sid}.json")
    assert "<Dial>+15550009999</Dial>" in transfer.data["Twiml"]


async def test_a_caller_who_vanishes_without_stop_still_leaves_a_record(tmp_path, jfk_opening):
    stt = ScriptedStt(["Are you there?"])
    async with phone_line(tmp_path, stt=stt) as line:
        url, start = await raw_stream(line, "CA" + "6" * 32)
        sid = start["streamSid"]
        ulaw = pcm16_to_ulaw(resample(jfk_opening + AudioFrame.silence(0.6, 16000), 8000).pcm)
        async with websockets.connect(url, max_queue=None) as ws:
            await ws.send(json.dumps(start))
            for i in range(0, len(ulaw), 160):
                await ws.send(media(sid, 140 + i // 8, ulaw[i : i + 160]))
            while True:  # wait for the reply to start, then drop the line
                if json.loads(await asyncio.wait_for(ws.recv(), 5))["event"] == "media":
                    break
        call = await record(line, start["start"]["callSid"])
    assert call["turns"][0]["text"] == "Are you there?"
    assert call["status"] == "completed"


async def test_persona_and_voice_follow_the_called_number(tmp_path, jfk_opening):
    from tests.telephony.kit import write_persona

    async with phone_line(tmp_path) as line:
        write_persona(tmp_path / "personas", name="bakery", greeting="Thanks for calling the bakery.")
        await line.db.set_number_setting("+15552223333", "persona", "bakery")
        await line.db.set_number_setting("+15552223333", "voice", "joe")
        report = await line.simulator(fast=True).call(jfk_opening, quiet_after_reply_s=0.5)
        call = await record(line, report.call_sid)
        other = await line.simulator(fast=True, called="+15559990000").call(jfk_opening, quiet_after_reply_s=0.5)
        other_call = await record(line, other.call_sid)
    assert call["persona"] == "bakery"
    assert call["turns"][0]["text"] == "Thanks for calling the bakery."
    assert other_call["persona"] == "quiet"


async def test_with_batched_vad_a_burst_of_frames_keeps_the_onset_of_speech(tmp_path, jfk_opening):
    """The batched VAD answers a tick after the audio; frames that arrive in a burst (here the whole
    question at once) must not push the start of the speech out of the pre-roll meanwhile."""
    heard = {}
    for batched in (False, True):
        stt = ScriptedStt(["What is the capital of France?"])
        async with phone_line(tmp_path / str(batched), stt=stt, batched_vad=batched) as line:
            report = await line.simulator(fast=True).call(jfk_opening)
            call = await record(line, report.call_sid)
        assert [t["role"] for t in call["turns"]] == ["user", "assistant"]
        heard[batched] = stt.pushed_seconds[0]
    # All the speech reached the STT (more of the silence after it may: the turn ends a tick later).
    assert heard[True] >= heard[False] - 0.05
