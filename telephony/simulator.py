"""`parley phone`: plays Twilio's part of a call, byte for byte, against a Parley server.

It signs and posts the incoming-call webhook like Twilio, reads the TwiML,
opens the Media Stream, sends `connected` and `start`, streams a caller WAV as
20 ms mu-law `media` frames (real time, or `fast`), then silence. It plays
back what the bot sends the way Twilio does: audio is buffered and played in
real time, a `mark` is echoed once the audio before it has played, and `clear`
drops the buffer and echoes every pending mark. It can barge in with a second
WAV, and records what the caller heard.
"""

from __future__ import annotations

import asyncio
import base64
import json
import secrets
import time
import xml.etree.ElementTree as ET
from collections import deque
from dataclasses import dataclass, field

import httpx
import websockets
from twilio.request_validator import RequestValidator

from agent_core.audio.frames import AudioFrame
from agent_core.audio.mulaw import ULAW_SILENCE, pcm16_to_ulaw, ulaw_to_pcm16
from agent_core.audio.resample import resample

RATE = 8000
FRAME_MS = 20
FRAME_BYTES = RATE * FRAME_MS // 1000  # 160 bytes of mu-law
GREETING_PAUSE_MS = 600  # the caller answers once the greeting has been over this long
NO_GREETING_WAIT_S = 3.0  # ... or after this long without hearing anything


@dataclass
class CallReport:
    call_sid: str
    twiml: str
    heard: AudioFrame  # the caller's earpiece, 8 kHz, silence where nothing played
    reply_latency_ms: float | None = None  # caller's last sound -> first reply audio received
    barge_in_to_clear_ms: float | None = None  # barge-in speech starts -> `clear` received
    marks_echoed: int = 0
    clears: int = 0
    media_received: int = 0
    hung_up_by_server: bool = False
    caller_spoke_at_s: float | None = None  # where the caller's words start in the `heard` timeline
    record: dict | None = None  # the server's call record (transcript, latencies), if readable

    def heard_after(self, seconds: float) -> AudioFrame:
        """What the caller heard from `seconds` into the call (e.g. the reply, without the greeting)."""
        return AudioFrame(self.heard.pcm[int(seconds * RATE) * 2 :], RATE)

    def as_json(self) -> dict:
        turns = (self.record or {}).get("turns", [])
        return {
            "call_sid": self.call_sid,
            "heard_seconds": round(self.heard.duration_s, 3),
            "reply_latency_ms": self.reply_latency_ms,
            "barge_in_to_clear_ms": self.barge_in_to_clear_ms,
            "marks_echoed": self.marks_echoed,
            "clears": self.clears,
            "hung_up_by_server": self.hung_up_by_server,
            "transcript": [{k: t[k] for k in ("speaker", "text", "interrupted", "latency_ms")} for t in turns],
            "summary": (self.record or {}).get("summary"),
        }


@dataclass
class _Earpiece:
    """Twilio's outbound buffer: plays in order, in real time, echoing marks as their audio passes."""

    buffer: deque[bytes | str] = field(default_factory=deque)  # mu-law frames, or mark names
    heard: bytearray = field(default_factory=bytearray)
    playing: bool = False

    def tick(self, echo: list[str]) -> None:
        """Play 20 ms: the next buffered frame (after echoing the marks before it) or silence."""
        self._echo_marks(echo)
        if self.buffer and isinstance(frame := self.buffer[0], bytes):  # marks were echoed: audio
            self.buffer.popleft()
            self.heard += frame
            self.playing = True
        else:
            self.heard += bytes([ULAW_SILENCE]) * FRAME_BYTES
            self.playing = False
        self._echo_marks(echo)

    def _echo_marks(self, echo: list[str]) -> None:
        while self.buffer and isinstance(mark := self.buffer[0], str):
            self.buffer.popleft()
            echo.append(mark)

    def add_audio(self, ulaw: bytes) -> None:
        for i in range(0, len(ulaw), FRAME_BYTES):
            self.buffer.append(ulaw[i : i + FRAME_BYTES])

    def clear(self) -> list[str]:
        pending = [item for item in self.buffer if isinstance(item, str)]
        self.buffer.clear()
        return pending


def _sid(prefix: str) -> str:
    return prefix + secrets.token_hex(16)


def _last_audible_frame(ulaw_frames: list[bytes]) -> int:
    last = -1
    for index, frame in enumerate(ulaw_frames):
        if AudioFrame(ulaw_to_pcm16(frame), RATE).audible:
            last = index
    return last


class TwilioSimulator:
    def __init__(
        self,
        server_url: str,
        *,
        auth_token: str = "",
        public_url: str | None = None,
        admin_token: str | None = None,
        caller: str = "+15550001111",
        called: str = "+15552223333",
        fast: bool = False,
        stamp_send_time: bool = False,
    ) -> None:
        self.stamp_send_time = stamp_send_time  # load tests: media carries "sentAt" (monotonic s), ignored by servers
        self.server_url = server_url.rstrip("/")
        self.public_url = (public_url or server_url).rstrip("/")  # what Twilio signs
        self.auth_token = auth_token
        self.admin_token = admin_token
        self.caller, self.called = caller, called
        self.fast = fast
        self.account_sid = "AC" + "0" * 32

    # ----- webhooks ------------------------------------------------------------

    async def post_webhook(self, http: httpx.AsyncClient, path: str, params: dict[str, str]) -> httpx.Response:
        signature = RequestValidator(self.auth_token).compute_signature(self.public_url + path, params)
        return await http.post(self.server_url + path, data=params, headers={"X-Twilio-Signature": signature})

    def incoming_call_params(self, call_sid: str) -> dict[str, str]:
        return {
            "CallSid": call_sid,
            "AccountSid": self.account_sid,
            "From": self.caller,
            "To": self.called,
            "Caller": self.caller,
            "Called": self.called,
            "CallStatus": "ringing",
            "Direction": "inbound",
            "ApiVersion": "2010-04-01",
            "CallerCountry": "US",  # Twilio adds fields like these at will; servers must accept them
            "CallToken": "%7B%22parentCallInfoToken%22%3A%22x%22%7D",
        }

    @staticmethod
    def parse_stream(twiml: str) -> tuple[str, dict[str, str]]:
        stream = ET.fromstring(twiml).find("./Connect/Stream")
        if stream is None:
            raise ValueError(f"TwiML has no <Connect><Stream>: {twiml}")
        parameters = {p.get("name", ""): p.get("value", "") for p in stream.findall("Parameter")}
        return stream.get("url", ""), parameters

    # ----- the call -------------------------------------------------------------

    async def call(
        self,
        audio: AudioFrame,
        *,
        barge_in: AudioFrame | None = None,
        barge_in_after_s: float = 1.0,
        quiet_after_reply_s: float = 1.5,
        max_call_s: float = 60.0,
        greeting_wait_s: float = NO_GREETING_WAIT_S,
    ) -> CallReport:
        call_sid = _sid("CA")
        async with httpx.AsyncClient(timeout=10.0) as http:
            answer = await self.post_webhook(http, "/twilio/voice", self.incoming_call_params(call_sid))
            answer.raise_for_status()
            stream_url, parameters = self.parse_stream(answer.text)
            report = CallReport(call_sid=call_sid, twiml=answer.text, heard=AudioFrame(b"", RATE))
            await self._stream(
                stream_url, parameters, report, audio, barge_in, barge_in_after_s, quiet_after_reply_s, max_call_s, greeting_wait_s
            )
            status = {"CallSid": call_sid, "AccountSid": self.account_sid, "CallStatus": "completed", "CallDuration": "1"}
            await self.post_webhook(http, "/twilio/status", status)
            if self.admin_token:
                await asyncio.sleep(0.2)  # the server writes the record as the stream closes
                got = await http.get(
                    f"{self.server_url}/api/calls/{call_sid}", headers={"Authorization": f"Bearer {self.admin_token}"}
                )
                if got.status_code == 200:
                    report.record = got.json()
        return report

    async def _stream(
        self,
        url: str,
        parameters: dict[str, str],
        report: CallReport,
        audio: AudioFrame,
        barge_in: AudioFrame | None,
        barge_in_after_s: float,
        quiet_after_reply_s: float,
        max_call_s: float,
        greeting_wait_s: float,
    ) -> None:
        async with websockets.connect(url, max_size=2**20) as ws:
            line = _Line(ws, self.account_sid, report, fast=self.fast, stamp=self.stamp_send_time)
            await line.open(parameters)
            await line.talk(
                _ulaw_frames(audio), _ulaw_frames(barge_in), barge_in_after_s, quiet_after_reply_s, max_call_s, greeting_wait_s
            )
        report.heard = AudioFrame(ulaw_to_pcm16(bytes(line.earpiece.heard)), RATE)


class _Line:
    """One Media Stream from Twilio's side."""

    def __init__(self, ws, account_sid: str, report: CallReport, *, fast: bool, stamp: bool = False) -> None:
        self.ws = ws
        self.stamp = stamp
        self.account_sid = account_sid
        self.report = report
        self.fast = fast
        self.stream_sid = _sid("MZ")
        self.earpiece = _Earpiece()
        self.sequence = 0
        self.loop = asyncio.get_running_loop()
        self.last_media: float | None = None  # when the bot last sent audio
        self.spoke_at: float | None = None  # when the caller started talking
        self.last_sound: float | None = None  # when the caller's last audible frame went out
        self.first_reply: float | None = None  # first bot audio after that
        self.barge_start: float | None = None

    async def send(self, message: dict) -> None:
        self.sequence += 1
        if message["event"] != "connected":
            message["sequenceNumber"] = str(self.sequence)  # Twilio sends numbers as strings
        if self.stamp and message["event"] == "media":
            message["sentAt"] = time.monotonic()
        await self.ws.send(json.dumps(message))

    async def echo_mark(self, name: str) -> None:
        self.report.marks_echoed += 1
        await self.send({"event": "mark", "streamSid": self.stream_sid, "mark": {"name": name}})

    async def open(self, parameters: dict[str, str]) -> None:
        await self.send({"event": "connected", "protocol": "Call", "version": "1.0.0"})
        start = {
            "accountSid": self.account_sid,
            "streamSid": self.stream_sid,
            "callSid": self.report.call_sid,
            "tracks": ["inbound"],
            "customParameters": parameters,
            "mediaFormat": {"encoding": "audio/x-mulaw", "sampleRate": 8000, "channels": 1},
        }
        await self.send({"event": "start", "streamSid": self.stream_sid, "start": start})

    async def receive(self) -> None:
        """What the bot sends: audio into the earpiece buffer, marks behind it, clear empties it."""
        async for raw in self.ws:
            message = json.loads(raw)
            event = message.get("event")
            if event == "media":
                self.report.media_received += 1
                self.last_media = self.loop.time()
                if self.last_sound is not None and self.first_reply is None:
                    self.first_reply = self.last_media  # the greeting, still playing as the caller talks, is no reply
                self.earpiece.add_audio(base64.b64decode(message["media"]["payload"]))
            elif event == "mark":
                self.earpiece.buffer.append(message["mark"]["name"])
            elif event == "clear":
                self.report.clears += 1
                if self.barge_start is not None and self.report.barge_in_to_clear_ms is None:
                    self.report.barge_in_to_clear_ms = round((self.loop.time() - self.barge_start) * 1000, 1)
                for name in self.earpiece.clear():
                    await self.echo_mark(name)

    async def talk(
        self,
        caller: list[bytes],
        barge: list[bytes],
        barge_in_after_s: float,
        quiet_after_reply_s: float,
        max_call_s: float,
        greeting_wait_s: float,
    ) -> None:
        """Listen to the greeting, say the caller's words, then listen until the reply has played.

        Like a person on the phone: the caller waits for the greeting (if any) to end,
        speaks, optionally talks over the reply, and hangs up once the line is quiet.
        """
        receiver = asyncio.create_task(self.receive())
        last_audible = _last_audible_frame(caller)
        speech_from: int | None = None  # frame index where the caller starts talking
        barge_at: int | None = None
        timestamp = 140  # real streams do not start at 0
        started = deadline = self.loop.time()
        quiet_frames = 0
        index = 0
        try:
            while not receiver.done() and self.loop.time() - started < max_call_s:
                now = self.loop.time()
                greeting_over = quiet_frames * FRAME_MS >= GREETING_PAUSE_MS and (
                    self.last_media is not None or now - started >= greeting_wait_s
                )
                if speech_from is None and greeting_over:
                    speech_from, self.spoke_at = index, now
                    self.report.caller_spoke_at_s = index * FRAME_MS / 1000
                if barge and barge_at is None and self.first_reply is not None and now - self.first_reply >= barge_in_after_s:
                    barge_at, self.barge_start = index, now
                payload = bytes([ULAW_SILENCE]) * FRAME_BYTES
                if speech_from is not None and index - speech_from < len(caller):
                    payload = caller[index - speech_from]
                    if index - speech_from == last_audible:
                        self.last_sound = now
                elif barge_at is not None and index - barge_at < len(barge):
                    payload = barge[index - barge_at]
                media = {"track": "inbound", "chunk": str(index + 1), "timestamp": str(timestamp),
                         "payload": base64.b64encode(payload).decode()}
                await self.send({"event": "media", "streamSid": self.stream_sid, "media": media})
                index += 1
                timestamp += FRAME_MS
                echoes: list[str] = []
                self.earpiece.tick(echoes)
                for name in echoes:
                    await self.echo_mark(name)
                quiet_frames = 0 if (self.earpiece.playing or self.earpiece.buffer) else quiet_frames + 1
                caller_done = speech_from is not None and index - speech_from >= len(caller)
                barge_done = not barge or (barge_at is not None and index - barge_at >= len(barge))
                if caller_done and barge_done and self.first_reply is not None and quiet_frames * FRAME_MS >= quiet_after_reply_s * 1000:
                    break
                # --fast sends the caller's own words at once; the rest of the call runs in real time.
                saying = speech_from is not None and not caller_done
                deadline = self.loop.time() if (self.fast and saying) else deadline + FRAME_MS / 1000
                await asyncio.sleep(max(0.0, deadline - self.loop.time()))
            if receiver.done():
                self.report.hung_up_by_server = True
            else:
                stop = {"accountSid": self.account_sid, "callSid": self.report.call_sid}
                await self.send({"event": "stop", "streamSid": self.stream_sid, "stop": stop})
        finally:
            receiver.cancel()
        if self.last_sound is not None and self.first_reply is not None:
            self.report.reply_latency_ms = round((self.first_reply - self.last_sound) * 1000, 1)


def _ulaw_frames(audio: AudioFrame | None) -> list[bytes]:
    if audio is None:
        return []
    ulaw = pcm16_to_ulaw(resample(audio, RATE).pcm)
    return [ulaw[i : i + FRAME_BYTES].ljust(FRAME_BYTES, bytes([ULAW_SILENCE])) for i in range(0, len(ulaw), FRAME_BYTES)]
