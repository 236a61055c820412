"""`WS /ws/talk`: a Session spoken to over a subset of OpenAI's Realtime API events (docs/talk.md).

The browser talk page uses it, and so can an existing Realtime client by changing its URL. Audio
is pcm16 mono at 24 kHz both ways, base64 in JSON, as in the Realtime API. Turn detection is
always the server's (Silero VAD + Parley's turn-taking), like the API's `server_vad`.

Replies are sent a little ahead of real time and counted as heard when their play time comes,
so a barge-in keeps only what the listener actually heard in the history.
"""

from __future__ import annotations

import asyncio
import base64
import binascii
import json
import logging
import time
import uuid
from contextlib import suppress
from typing import Any

from fastapi import WebSocket
from starlette.websockets import WebSocketDisconnect

from agent_core import events as ev
from agent_core import logs, telemetry
from agent_core.audio.frames import AudioFrame
from agent_core.persona import Persona
from agent_core.playback import PlaybackChunk
from agent_core.providers import Providers
from agent_core.session import Session, SessionSettings

log = logging.getLogger(__name__)
RATE = 24000  # the Realtime API's pcm16 rate
LEAD_S = 0.25  # how far ahead of the listener's playback replies are sent
MAX_APPEND_BYTES = RATE * 2 * 5  # 5 s of audio per append: more is a client bug
SPEAKER = "user"


def _id(prefix: str) -> str:
    return f"{prefix}_{uuid.uuid4().hex[:20]}"


class RealtimeTalk:
    """One browser (or Realtime client) conversation; the Session's channel."""

    output_sample_rate = RATE

    def __init__(self, websocket: WebSocket, providers: Providers, persona: Persona, settings: SessionSettings):
        self.ws = websocket
        self.persona = persona
        self.session = Session(
            stt=providers.stt, llm=providers.llm, tts=providers.tts, persona=persona, channel=self, settings=settings
        )
        self.session_id = _id("sess")
        self._send_lock = asyncio.Lock()
        self._play_until = 0.0  # loop time when the listener's playback of what was sent ends
        self._played_handles: list[asyncio.TimerHandle] = []
        self._responses: dict[int, str] = {}  # turn -> response id
        self._items: dict[int, str] = {}  # turn -> the user's input item id
        self._started = 0.0

    # ---- Channel ---------------------------------------------------------------------------------
    async def flush(self) -> None:
        """Barge-in: what was sent but not yet played is not heard. The client stops its playback
        on `input_audio_buffer.speech_started`, as Realtime clients do."""
        for handle in self._played_handles:
            handle.cancel()
        self._played_handles.clear()
        self._play_until = 0.0

    # ---- lifecycle -------------------------------------------------------------------------------
    async def run(self) -> None:
        logs.bind(talk_session=self.session_id)
        self._started = time.monotonic()
        self.session.subscribe(self._on_event)
        telemetry.watch_session(self.session, "web")
        await self.send({"type": "session.created", "session": self._session_object()})
        pump = asyncio.create_task(self._pump())
        await self.session.start()
        try:
            while True:
                text = await self.ws.receive_text()
                await self._handle(text)
        except (WebSocketDisconnect, RuntimeError):  # RuntimeError: a binary frame or a closed socket
            pass
        finally:
            pump.cancel()
            with suppress(asyncio.CancelledError):
                await pump
            await self.flush()
            await self.session.close()

    async def send(self, event: dict[str, Any]) -> None:
        event.setdefault("event_id", _id("event"))
        async with self._send_lock:
            with suppress(WebSocketDisconnect, RuntimeError):
                await self.ws.send_text(json.dumps(event))

    async def _error(self, message: str, *, code: str, event_id: str | None = None) -> None:
        await self.send({"type": "error", "error": {
            "type": "invalid_request_error", "code": code, "message": message, "event_id": event_id,
        }})

    # ---- client events ---------------------------------------------------------------------------
    async def _handle(self, text: str) -> None:
        try:
            event = json.loads(text)
            kind = event["type"]
        except (ValueError, KeyError, TypeError):
            await self._error("expected a JSON object with a 'type'", code="invalid_event")
            return
        event_id = event.get("event_id")
        if kind == "input_audio_buffer.append":
            await self._append(event.get("audio"), event_id)
        elif kind == "session.update":
            await self._update(event.get("session") or {}, event_id)
        elif kind == "conversation.item.create":
            await self._create_item(event.get("item") or {}, event_id)
        elif kind == "response.cancel":
            self.session.interrupt(SPEAKER)
        elif kind in ("input_audio_buffer.commit", "input_audio_buffer.clear", "response.create",
                      "conversation.item.truncate"):
            pass  # server VAD decides turns and replies; truncation follows from what was played
        else:
            await self._error(f"unsupported event type {kind!r}", code="unknown_event", event_id=event_id)

    async def _append(self, audio: Any, event_id: str | None) -> None:
        try:
            pcm = base64.b64decode(audio or "", validate=True)
        except (binascii.Error, TypeError, ValueError):
            await self._error("audio must be base64", code="invalid_audio", event_id=event_id)
            return
        if len(pcm) % 2 or len(pcm) > MAX_APPEND_BYTES:
            await self._error("audio must be pcm16 mono at 24 kHz, at most 5 s per append", code="invalid_audio",
                              event_id=event_id)
            return
        if pcm:
            self.session.push_audio(SPEAKER, AudioFrame(pcm, RATE))

    async def _update(self, changes: dict[str, Any], event_id: str | None) -> None:
        for field in ("input_audio_format", "output_audio_format"):
            if changes.get(field, "pcm16") != "pcm16":
                await self._error(f"{field} must be 'pcm16' (24 kHz mono)", code="invalid_value", event_id=event_id)
                return
        updates: dict[str, Any] = {}
        if isinstance(changes.get("instructions"), str) and changes["instructions"].strip():
            updates["system_prompt"] = changes["instructions"]
        if isinstance(changes.get("voice"), str) and changes["voice"]:
            updates["voice"] = changes["voice"]
        if updates:
            self.persona = self.persona.model_copy(update=updates)
            self.session.persona = self.persona
        silence = (changes.get("turn_detection") or {}).get("silence_duration_ms")
        if isinstance(silence, int) and 100 <= silence <= 5000:
            settings = self.session.settings
            turn = settings.turn.model_copy(update={"end_of_turn_silence_ms": silence})
            self.session.update_settings(settings.model_copy(update={"turn": turn}))
        await self.send({"type": "session.updated", "session": self._session_object()})

    async def _create_item(self, item: dict[str, Any], event_id: str | None) -> None:
        texts = [part.get("text", "") for part in item.get("content") or [] if part.get("type") == "input_text"]
        if item.get("type") != "message" or item.get("role") != "user" or not any(t.strip() for t in texts):
            await self._error("only user messages with input_text are supported", code="invalid_value",
                              event_id=event_id)
            return
        self.session.push_text(SPEAKER, " ".join(texts))

    def _session_object(self) -> dict[str, Any]:
        turn = self.session.settings.turn
        return {
            "id": self.session_id, "object": "realtime.session", "model": "parley",
            "modalities": ["audio", "text"], "instructions": self.persona.system_prompt,
            "voice": self.persona.voice or "default", "input_audio_format": "pcm16", "output_audio_format": "pcm16",
            "input_audio_transcription": {"model": "parley"},
            "turn_detection": {"type": "server_vad", "silence_duration_ms": turn.end_of_turn_silence_ms},
        }

    # ---- Session events -> server events ---------------------------------------------------------
    def _on_event(self, event: ev.SessionEvent) -> None:
        out: list[dict[str, Any]] = []
        ms = round((event.t - self._started) * 1000)
        if isinstance(event, ev.SpeechStarted):  # also a barge-in: the client stops its playback
            item = self._items.setdefault(event.turn, _id("item"))
            out.append({"type": "input_audio_buffer.speech_started", "audio_start_ms": ms, "item_id": item})
        elif isinstance(event, ev.SpeechEnded):
            out.append({"type": "input_audio_buffer.speech_stopped", "audio_end_ms": ms,
                        "item_id": self._items.setdefault(event.turn, _id("item"))})
        elif isinstance(event, ev.TranscriptFinal):
            out.append({"type": "conversation.item.input_audio_transcription.completed", "content_index": 0,
                        "item_id": self._items.setdefault(event.turn, _id("item")), "transcript": event.text})
        elif isinstance(event, ev.SentenceReady):
            out.extend(self._response_started(event.turn))
            out.append({**self._part(event.turn), "type": "response.audio_transcript.delta",
                        "delta": event.text + " "})
        elif isinstance(event, ev.ReplyFinished):
            out.extend(self._response_finished(event))
        for message in out:
            asyncio.get_running_loop().create_task(self.send(message))

    def _part(self, turn: int) -> dict[str, Any]:
        return {"response_id": self._responses[turn], "item_id": f"item_{self._responses[turn][5:]}",
                "output_index": 0, "content_index": 0}

    def _response_started(self, turn: int) -> list[dict[str, Any]]:
        if turn in self._responses:
            return []
        self._responses[turn] = _id("resp")
        return [{"type": "response.created", "response": {"id": self._responses[turn], "object": "realtime.response",
                                                         "status": "in_progress", "output": []}}]

    def _response_finished(self, event: ev.ReplyFinished) -> list[dict[str, Any]]:
        out = self._response_started(event.turn)
        part = self._part(event.turn)
        latency = event.latency.as_dict()
        status = "cancelled" if event.interrupted else "completed"
        out += [
            {**part, "type": "response.audio.done"},
            {**part, "type": "response.audio_transcript.done", "transcript": event.heard_text},
            {"type": "response.done", "response": {
                "id": part["response_id"], "object": "realtime.response", "status": status,
                "output": [{"id": part["item_id"], "type": "message", "role": "assistant", "content": [
                    {"type": "audio", "transcript": event.heard_text}]}],
                # Realtime metadata is string key/values: Parley's per-turn latencies go there.
                "metadata": {f"{k}_ms": str(v) for k, v in latency.items() if v is not None},
            }},
        ]
        return out

    # ---- reply audio -----------------------------------------------------------------------------
    async def _pump(self) -> None:
        loop = asyncio.get_running_loop()
        while True:
            chunk = await self.session.next_audio()
            turn = chunk.reply.turn
            for message in self._response_started(turn):
                await self.send(message)
            await self.send({**self._part(turn), "type": "response.audio.delta",
                             "delta": base64.b64encode(chunk.frame.pcm).decode()})
            now = loop.time()
            self._play_until = max(self._play_until, now) + chunk.frame.duration_s
            self._played_handles.append(loop.call_at(self._play_until, self._heard, chunk))
            ahead = self._play_until - loop.time() - LEAD_S
            if ahead > 0:
                await asyncio.sleep(ahead)

    def _heard(self, chunk: PlaybackChunk) -> None:
        if self._played_handles:
            self._played_handles.pop(0)
        self.session.audio_played(chunk)
