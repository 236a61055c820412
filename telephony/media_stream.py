"""One Twilio Media Streams WebSocket: Twilio's JSON messages <-> one Session.

Inbound: `media` carries base64 mu-law 8 kHz; it is decoded, gaps in the media
timestamps are filled with silence, and the PCM goes to the Session. Outbound:
each playback chunk is sent as a `media` message followed by a `mark`; Twilio
echoes the mark once that audio has played, which is how the Session learns
what the caller heard. Barge-in sends `clear`, after which Twilio echoes every
pending mark although that audio never played, so those echoes are ignored.

Nothing a caller's stream sends can take the server down: malformed messages
are counted, logged and skipped.
"""

from __future__ import annotations

import asyncio
import base64
import binascii
import json
import logging
import time
from collections import deque
from dataclasses import dataclass, field
from typing import Any

from starlette.websockets import WebSocket, WebSocketDisconnect, WebSocketState

from agent_core import logs, telemetry
from agent_core.audio.frames import AudioFrame
from agent_core.audio.mulaw import pcm16_to_ulaw, ulaw_to_pcm16
from agent_core.events import BargeIn
from agent_core.playback import PlaybackChunk
from agent_core.session import Session
from telephony.stream_token import StreamTokenError

log = logging.getLogger(__name__)

TWILIO_RATE = 8000
CALLER = "caller"
MAX_GAP_FILL_MS = 2000  # a longer gap is a network outage, not silence worth replaying
POLICY_VIOLATION = 1008  # WebSocket close code for a refused stream
TRY_AGAIN_LATER = 1013  # WebSocket close code: at capacity


@dataclass
class StreamStats:
    """Per-call counters, stored with the call record."""

    media_frames: int = 0
    malformed: int = 0
    oversized: int = 0
    unknown_events: int = 0
    errors: int = 0
    gap_fill_ms: int = 0
    marks_sent: int = 0
    marks_heard: int = 0
    clears_sent: int = 0
    # How far behind the media clock each inbound frame was handled (s), for lag percentiles;
    # the last 10 minutes of 20 ms frames.
    lags: deque[float] = field(default_factory=lambda: deque(maxlen=30_000))
    # Caller speech onset (as VAD dated it) -> `clear` sent, per barge-in (ms).
    barge_in_reaction_ms: list[float] = field(default_factory=list)

    def as_dict(self) -> dict[str, Any]:
        ordered = sorted(self.lags)

        def pct(q: float) -> float | None:
            return round(ordered[int(q * (len(ordered) - 1))] * 1000, 2) if ordered else None

        summary = {k: v for k, v in self.__dict__.items() if k != "lags"}
        return {**summary, "inbound_lag_p50_ms": pct(0.5), "inbound_lag_p99_ms": pct(0.99)}


class MediaStreamCall:
    """Translates one call's stream. `start_session` builds the Session once `start` arrives."""

    output_sample_rate = TWILIO_RATE  # the Channel protocol: the Session resamples replies to 8 kHz

    def __init__(self, websocket: WebSocket, phone: Any, *, max_message_bytes: int) -> None:
        self.ws = websocket
        self.phone = phone  # telephony.phone.Phone: tokens, providers, storage
        self.max_message_bytes = max_message_bytes
        self.stats = StreamStats()
        self.stream_sid: str | None = None
        self.call_sid: str | None = None
        self.session: Session | None = None
        self._pending_marks: dict[str, PlaybackChunk] = {}
        self._send_lock = asyncio.Lock()
        self._pump: asyncio.Task[None] | None = None
        self._starting: asyncio.Task[None] | None = None
        self._next_ts_ms: int | None = None
        self._clock_origin: tuple[float, int] | None = None  # (monotonic s, media ms) of the first frame

    # ----- the receive loop ----------------------------------------------------

    async def run(self) -> None:
        try:
            while True:
                message = await self.ws.receive()
                if message["type"] == "websocket.disconnect":
                    break
                text = message.get("text")
                if text is None:
                    self._malformed("binary frame")
                    continue
                if len(text) > self.max_message_bytes:
                    self.stats.oversized += 1
                    self._malformed(f"oversized message ({len(text)} bytes)")
                    continue
                try:
                    if not await self._handle(text):
                        break
                except Exception:  # a bug for this call; the call and the server go on
                    self.stats.errors += 1
                    log.exception("call %s: error handling a stream message", self.call_sid)
        except WebSocketDisconnect:
            pass
        finally:
            await self._end()
            if self.ws.application_state == WebSocketState.CONNECTED:
                try:
                    await self.ws.close()  # after `stop`: end the stream as Twilio expects
                except (WebSocketDisconnect, RuntimeError):
                    pass

    async def _handle(self, text: str) -> bool:
        """Returns False when the stream is over."""
        try:
            message = json.loads(text)
            event = message["event"]
        except (ValueError, KeyError, TypeError):
            self._malformed("not a JSON object with an 'event'")
            return True
        if event == "media":
            self._on_media(message)
        elif event == "mark":
            self._on_mark(message)
        elif event == "start":
            return await self._on_start(message)
        elif event == "dtmf":
            self._on_dtmf(message)
        elif event == "stop":
            return False
        elif event == "connected":
            pass
        else:
            self.stats.unknown_events += 1  # Twilio may add events: ignore, do not fail
        return True

    def _malformed(self, why: str) -> None:
        self.stats.malformed += 1
        telemetry.FRAMES_MALFORMED.labels("phone").inc()
        # Log the first few and then every thousandth: a broken client must not flood the logs.
        if self.stats.malformed <= 3 or self.stats.malformed % 1000 == 0:
            log.warning("call %s: malformed stream message #%d: %s", self.call_sid, self.stats.malformed, why)

    # ----- Twilio events ------------------------------------------------------

    async def _on_start(self, message: dict[str, Any]) -> bool:
        if self.session is not None:
            self._malformed("second start")
            return True
        try:
            start = message["start"]
            stream_sid, call_sid = str(start["streamSid"]), str(start["callSid"])
            params = start.get("customParameters") or {}
            media_format = start.get("mediaFormat") or {}
        except (KeyError, TypeError):
            self._malformed("start without streamSid/callSid")
            return True
        if media_format.get("encoding", "audio/x-mulaw") != "audio/x-mulaw" or media_format.get("sampleRate", 8000) != 8000:
            log.error("call %s: unsupported media format %s", call_sid, media_format)
            await self.ws.close(code=POLICY_VIOLATION, reason="unsupported media format")
            return False
        try:
            await self.phone.tokens.redeem(params.get("token"), call_sid)
        except StreamTokenError as exc:
            log.warning("refused media stream for call %s: %s", call_sid, exc)
            self.phone.refusals += 1
            telemetry.refused("bad_stream_token")
            await self.ws.close(code=POLICY_VIOLATION, reason="invalid stream token")
            return False
        self.stream_sid, self.call_sid = stream_sid, call_sid
        logs.bind(call_sid=call_sid)  # every line about this call from here on, the Session's too
        self.session = await self.phone.start_session(self, params)
        if self.session is None:  # at capacity: the webhook's place was not kept
            await self.ws.close(code=TRY_AGAIN_LATER, reason="at capacity")
            return False
        self._pump = asyncio.create_task(self._send_replies(), name=f"twilio-out-{call_sid}")
        # Not awaited: preparing the apology and greeting must not hold up the caller's audio.
        self._starting = asyncio.create_task(self.session.start(), name=f"session-start-{call_sid}")
        return True

    def _on_media(self, message: dict[str, Any]) -> None:
        if self.session is None:
            self._malformed("media before start")
            return
        try:
            media = message["media"]
            if media.get("track", "inbound") != "inbound":
                return
            ulaw = base64.b64decode(media["payload"], validate=True)
            timestamp = int(media["timestamp"])
        except (KeyError, TypeError, ValueError, binascii.Error):
            self._malformed("media without a valid payload/timestamp")
            return
        self.stats.media_frames += 1
        self._measure_lag(timestamp)
        if self._next_ts_ms is not None and timestamp > self._next_ts_ms:
            gap_ms = min(timestamp - self._next_ts_ms, MAX_GAP_FILL_MS)
            self.stats.gap_fill_ms += gap_ms
            self.session.push_audio(CALLER, AudioFrame.silence(gap_ms / 1000, TWILIO_RATE))
        self._next_ts_ms = timestamp + len(ulaw) * 1000 // TWILIO_RATE
        if ulaw:
            self.session.push_audio(CALLER, AudioFrame(ulaw_to_pcm16(ulaw), TWILIO_RATE))

    def _measure_lag(self, timestamp_ms: int) -> None:
        now = time.monotonic()  # not loop.time(): uvloop's clock ticks in whole milliseconds
        if self._clock_origin is None:
            self._clock_origin = (now, timestamp_ms)
        origin_time, origin_ms = self._clock_origin
        self.stats.lags.append(max(0.0, (now - origin_time) - (timestamp_ms - origin_ms) / 1000))

    def _on_mark(self, message: dict[str, Any]) -> None:
        try:
            name = str(message["mark"]["name"])
        except (KeyError, TypeError):
            self._malformed("mark without a name")
            return
        chunk = self._pending_marks.pop(name, None)
        if chunk is not None and self.session is not None:  # unknown: cleared, or not ours
            self.stats.marks_heard += 1
            self.session.audio_played(chunk)

    def _on_dtmf(self, message: dict[str, Any]) -> None:
        try:
            digit = str(message["dtmf"]["digit"])
        except (KeyError, TypeError):
            self._malformed("dtmf without a digit")
            return
        if self.session is not None:
            self.session.push_text(CALLER, f"(the caller pressed {digit} on the keypad)")

    # ----- outbound -----------------------------------------------------------

    async def _send_replies(self) -> None:
        assert self.session is not None
        async for chunk in self.session.audio_out():
            payload = base64.b64encode(pcm16_to_ulaw(chunk.frame.pcm)).decode()
            name = str(chunk.id)
            self._pending_marks[name] = chunk
            await self._send({"event": "media", "streamSid": self.stream_sid, "media": {"payload": payload}})
            await self._send({"event": "mark", "streamSid": self.stream_sid, "mark": {"name": name}})
            self.stats.marks_sent += 1

    async def flush(self) -> None:
        """Barge-in: Twilio drops its buffered audio; the marks it then echoes were never heard."""
        self._pending_marks.clear()
        self.stats.clears_sent += 1
        await self._send({"event": "clear", "streamSid": self.stream_sid})
        barge_in = next((e for e in reversed(self.session.events) if isinstance(e, BargeIn)), None) if self.session else None
        if barge_in is not None:
            reaction_s = time.monotonic() - barge_in.onset_t
            self.stats.barge_in_reaction_ms.append(round(reaction_s * 1000, 1))
            telemetry.observe_barge_in("phone", reaction_s)

    async def _send(self, message: dict[str, Any]) -> None:
        async with self._send_lock:  # one writer at a time on the socket
            try:
                await self.ws.send_text(json.dumps(message))
            except (WebSocketDisconnect, RuntimeError):
                pass  # the caller hung up; the receive loop ends the call

    async def _end(self) -> None:
        for task in (self._pump, self._starting):
            if task is not None:
                task.cancel()
        if self.session is not None:
            await self.phone.end_session(self)
