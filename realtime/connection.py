"""One Realtime WebSocket connection: client events in, server events out.

This class owns the connection's state (session config, conversation, input buffer, the one
active response) and every transition between client events and it. Bad input from the client
is answered with an `error` event naming the offending `event_id`; the connection stays open.
"""

from __future__ import annotations

import asyncio
import base64
import binascii
import json
import logging
import time
from collections.abc import Callable
from contextlib import suppress
from typing import Any

from fastapi import WebSocket
from starlette.websockets import WebSocketDisconnect

from agent_core import events as ev
from agent_core import logs, telemetry
from agent_core.llm.base import LanguageModel
from agent_core.stt.base import SpeechToText, SttStream
from agent_core.tts.base import TextToSpeech
from agent_core.turns import TurnSettings
from agent_core.vad import SileroVad
from realtime.conversation import Conversation, Item
from realtime.input_audio import InputBuffer, SpeechStarted, SpeechStopped
from realtime.items import parse_item, transcribe_item_audio
from realtime.protocol import BETA_SERVER_NAMES, BETA_SILENT, CLIENT_ALIASES, ProtocolError, error_event, new_id
from realtime.record import RealtimeRecording, record_events
from realtime.responder import DEFAULT_TIMEOUTS, LlmTimeouts, Response, ResponsePlan
from realtime.session_config import (
    SessionConfig,
    parse_max_output_tokens,
    parse_modalities,
    parse_tool_choice,
    parse_tools,
)

log = logging.getLogger(__name__)
CHANNEL = "realtime"  # the channel label of Parley's metrics
MAX_APPEND_MS = 10_000  # per append: more is a client bug, and VAD over it would hold the event loop


class RealtimeConnection:
    def __init__(self, websocket: WebSocket, *, stt: SpeechToText, llm: LanguageModel, tts: TextToSpeech,
                 config: SessionConfig, turn: TurnSettings, model: str, beta: bool = False,
                 language: str | None = None, timeouts: LlmTimeouts = DEFAULT_TIMEOUTS,
                 recording: RealtimeRecording | None = None) -> None:
        self.ws = websocket
        self.recording = recording
        self.session_id = new_id("sess")
        self.model = model
        self.config = config
        self._stt, self._llm, self._tts = stt, llm, tts
        self._beta = beta
        self._language = language
        self._timeouts = timeouts
        self.conversation = Conversation()
        self.input = InputBuffer(stt, SileroVad.shared(), turn, self._listening_language())
        self.input.configure(config.turn_detection)
        self._send_lock = asyncio.Lock()
        self._response: Response | None = None
        self._response_task: asyncio.Task[None] | None = None
        self._background: set[asyncio.Task[Any]] = set()
        self._speech_item_id: str | None = None  # the item the speech being heard will become
        self._listeners: list[Callable[[ev.SessionEvent], None]] = []

    def subscribe(self, listener: Callable[[ev.SessionEvent], None]) -> None:
        """Hear the conversation's record events (agent_core.recorder.EventSource), sent at its end."""
        self._listeners.append(listener)

    # ---- lifecycle -------------------------------------------------------------------------------
    async def serve(self) -> None:
        """Accept the socket and hold the conversation until the client leaves."""
        await self.ws.accept()
        await self.run()

    async def run(self) -> None:
        logs.bind(realtime_session=self.session_id)
        telemetry.ACTIVE_SESSIONS.labels(CHANNEL).inc()
        await self.send({"type": "session.created", "session": self._session_wire()})
        try:
            while (message := await self.ws.receive())["type"] != "websocket.disconnect":
                await self._handle(message.get("text"))
        except (WebSocketDisconnect, RuntimeError):  # RuntimeError: the socket closed under us
            pass
        finally:
            await self._close()
            telemetry.ACTIVE_SESSIONS.labels(CHANNEL).dec()

    async def _close(self) -> None:
        tasks = [t for t in (self._response_task, *self._background) if t is not None]
        for task in tasks:
            task.cancel()
        for task in tasks:
            with suppress(BaseException):
                await task
        for stream in self.input.clear():
            await stream.aclose()
        if self.recording is not None:
            self.recording.finish(self.conversation)
        for record_event in record_events(self.conversation):
            for listener in self._listeners:
                listener(record_event)

    async def send(self, event: dict[str, Any]) -> None:
        if self._beta:
            if event["type"] in BETA_SILENT:
                return
            event = {**event, "type": BETA_SERVER_NAMES.get(event["type"], event["type"])}
        event = {"event_id": new_id("event"), **event}
        async with self._send_lock:
            with suppress(WebSocketDisconnect, RuntimeError):  # the client left; run() ends the connection
                await self.ws.send_text(json.dumps(event))

    def _spawn(self, coroutine: Any) -> asyncio.Task[Any]:
        task = asyncio.create_task(coroutine)
        self._background.add(task)  # held until done: the loop keeps only weak references
        task.add_done_callback(self._background.discard)
        return task

    # ---- client events ---------------------------------------------------------------------------
    async def _handle(self, text: str | None) -> None:
        event_id = None
        try:
            try:
                event = json.loads(text)  # type: ignore[arg-type]  # None: a binary frame, refused below
                kind = event["type"]
                event_id = event.get("event_id")
                if not isinstance(kind, str):
                    raise TypeError(kind)
            except (ValueError, KeyError, TypeError, AttributeError):
                raise ProtocolError("invalid_json", "expected a text frame holding a JSON object with a 'type'"
                                    ) from None
            handler = self._handlers.get(CLIENT_ALIASES.get(kind, kind))
            if handler is None:
                raise ProtocolError("unknown_event", f"unsupported event type {kind!r}", param="type")
            await handler(self, event)
        except ProtocolError as error:
            await self.send(error_event(error, event_id))
        except Exception:  # a bug must cost this client one event, never the server
            log.exception("realtime event failed")
            await self.send(error_event(ProtocolError("server_error", "the server failed on this event",
                                                      error_type="server_error"), event_id))

    async def _session_update(self, event: dict[str, Any]) -> None:
        config = self.config.updated(event.get("session"))
        if config.voice != self.config.voice:
            self._check_voice(config.voice, "session.audio.output.voice")
        self._check_speed(config.speed, "session.audio.output.speed")
        self.config = config
        self.input.language = self._listening_language()
        for stream in self.input.configure(config.turn_detection):
            await stream.aclose()
        await self.send({"type": "session.updated", "session": self._session_wire()})

    def _listening_language(self) -> str | None:
        """The session's `transcription.language` where it names one, else the persona's language."""
        language = (self.config.transcription or {}).get("language")
        return language if isinstance(language, str) and language else self._language

    def _check_voice(self, voice: str | None, param: str) -> None:
        """Refuse a voice the TTS does not have, where it can say which it has; a backend that cannot
        list them refuses an unknown one when asked to speak, and the response fails then."""
        known = self._tts.voice_names()
        if voice is not None and known and voice not in known:
            raise ProtocolError("invalid_voice", f"unknown voice {voice!r} for {self._tts.name}; known voices: "
                                f"{', '.join(known)}", param=param)

    def _check_speed(self, speed: float, param: str) -> None:
        """A speed the TTS would ignore is refused, never echoed as if it were used (its registry lists its knobs)."""
        if speed != 1.0 and self._tts.style_knobs and "speed" not in self._tts.style_knobs:
            raise ProtocolError("invalid_value", f"{self._tts.name} cannot change its speed", param=param)

    def _session_wire(self) -> dict[str, Any]:
        return self.config.to_wire(self.session_id, self.model)

    async def _append(self, event: dict[str, Any]) -> None:
        try:
            payload = base64.b64decode(event.get("audio") or "", validate=True)
        except (binascii.Error, TypeError, ValueError):
            raise ProtocolError("invalid_audio", "audio must be base64", param="audio") from None
        audio_format = self.config.input_format
        if audio_format.duration_ms(len(payload)) > MAX_APPEND_MS:
            raise ProtocolError("invalid_audio", f"at most {MAX_APPEND_MS} ms of audio per append", param="audio")
        if not payload:
            return
        frame = audio_format.decode(payload)
        if self.recording is not None:
            self.recording.user_audio(frame)
        for signal in self.input.append(frame):
            if isinstance(signal, SpeechStarted):
                await self._speech_started(signal)
            else:
                await self._speech_stopped(signal)

    async def _speech_started(self, signal: SpeechStarted) -> None:
        self._speech_item_id = new_id("item")
        await self.send({"type": "input_audio_buffer.speech_started", "audio_start_ms": signal.audio_start_ms,
                         "item_id": self._speech_item_id})
        detection = self.config.turn_detection
        if detection is not None and detection.interrupt_response and self._response_task is not None:
            await self._cancel_response("turn_detected")

    async def _speech_stopped(self, signal: SpeechStopped) -> None:
        item_id = self._speech_item_id or new_id("item")
        self._speech_item_id = None
        await self.send({"type": "input_audio_buffer.speech_stopped", "audio_end_ms": signal.audio_end_ms,
                         "item_id": item_id})
        seconds = (signal.audio_end_ms - self.input.speech_start_ms) / 1000
        item, transcription = await self._commit_utterance(signal.utterance, item_id, seconds)
        detection = self.config.turn_detection
        if detection is not None and detection.create_response:
            plan = self._plan({})
            plan.turn_ended_t = time.monotonic() - signal.seconds_ago
            self._start_response(plan, after=transcription, answering=item)

    async def _commit(self, event: dict[str, Any]) -> None:
        utterance, length_ms = self.input.commit()
        await self._commit_utterance(utterance, new_id("item"), length_ms / 1000)

    async def _clear(self, event: dict[str, Any]) -> None:
        for stream in self.input.clear():
            await stream.aclose()
        await self.send({"type": "input_audio_buffer.cleared"})

    async def _commit_utterance(self, utterance: SttStream | None, item_id: str,
                                seconds: float) -> tuple[Item, asyncio.Task[Any]]:
        """The user's audio becomes an item now; its transcript follows when the STT has it."""
        item = Item({"id": item_id, "object": "realtime.item", "type": "message", "role": "user",
                     "status": "completed", "content": [{"type": "input_audio", "transcript": None}]})
        previous = self.conversation.add(item)
        await self.send({"type": "input_audio_buffer.committed", "item_id": item_id, "previous_item_id": previous})
        await self.send({"type": "conversation.item.added", "previous_item_id": previous, "item": item.wire})
        return item, self._spawn(self._transcribe(item, utterance, seconds))

    async def _transcribe(self, item: Item, utterance: SttStream | None, seconds: float) -> None:
        started = time.monotonic()
        await transcribe_item_audio(item, utterance, self.send, seconds=seconds,
                                    report=self.config.transcription is not None)
        if item.wire["content"][0]["transcript"] is not None:
            telemetry.STT_FINAL.labels(CHANNEL).observe(time.monotonic() - started)
        else:
            telemetry.PROVIDER_ERRORS.labels(CHANNEL, "stt").inc()
        await self.send({"type": "conversation.item.done", "item": item.wire})

    async def _item_create(self, event: dict[str, Any]) -> None:
        item, audio = parse_item(event.get("item"), self.config.input_format)
        previous = self.conversation.add(item, event.get("previous_item_id"))
        await self.send({"type": "conversation.item.added", "previous_item_id": previous, "item": item.wire})
        if audio is None:
            await self.send({"type": "conversation.item.done", "item": item.wire})
            return
        utterance = self._stt.open_stream(language=self.input.language)
        utterance.push(audio)
        self._spawn(self._transcribe(item, utterance, audio.duration_s))

    async def _item_truncate(self, event: dict[str, Any]) -> None:
        item_id, content_index, end_ms = event.get("item_id"), event.get("content_index", 0), event.get("audio_end_ms")
        self.conversation.truncate(item_id, content_index, end_ms)
        await self.send({"type": "conversation.item.truncated", "item_id": item_id, "content_index": content_index,
                         "audio_end_ms": end_ms})

    async def _item_delete(self, event: dict[str, Any]) -> None:
        self.conversation.delete(event.get("item_id"))
        await self.send({"type": "conversation.item.deleted", "item_id": event.get("item_id")})

    async def _item_retrieve(self, event: dict[str, Any]) -> None:
        item = self.conversation.get(event.get("item_id"))
        await self.send({"type": "conversation.item.retrieved", "item": item.wire})

    # ---- responses -------------------------------------------------------------------------------
    async def _response_create(self, event: dict[str, Any]) -> None:
        if self._response_task is not None:
            raise ProtocolError("conversation_already_has_active_response",
                                f"response {self._response.id if self._response else ''} is still in progress")
        plan = self._plan(event.get("response") or {})
        plan.client_event_id = event.get("event_id")
        self._start_response(plan)

    async def _response_cancel(self, event: dict[str, Any]) -> None:
        if self._response_task is None:
            raise ProtocolError("response_cancel_not_active", "there is no active response to cancel")
        await self._cancel_response("client_cancelled")

    def _plan(self, overrides: dict[str, Any]) -> ResponsePlan:
        """The session's settings, with a response.create's per-response ones on top."""
        if not isinstance(overrides, dict):
            raise ProtocolError("invalid_value", "response must be an object", param="response")
        config = self.config.updated({k: v for k, v in overrides.items()
                                      if k in ("instructions", "audio", "voice", "output_audio_format")})
        modalities = overrides.get("output_modalities", overrides.get("modalities"))
        if overrides.get("conversation", "auto") not in ("auto", "none"):
            raise ProtocolError("invalid_value", "conversation must be auto or none", param="response.conversation")
        if "input" in overrides:
            raise ProtocolError("unsupported", "responses over custom input items are not supported",
                                param="response.input")
        if config.voice != self.config.voice:
            self._check_voice(config.voice, "response.audio.output.voice")
        self._check_speed(config.speed, "response.audio.output.speed")
        metadata = overrides.get("metadata") or {}
        return ResponsePlan(
            instructions=config.instructions, voice=config.voice, speed=config.speed, style=config.style,
            output_format=config.output_format,
            output_modalities=parse_modalities(modalities, "response.output_modalities") if modalities
            else self.config.output_modalities,
            tools=parse_tools(overrides["tools"], "response.tools") if "tools" in overrides else self.config.tools,
            tool_choice=parse_tool_choice(overrides["tool_choice"], "response.tool_choice")
            if "tool_choice" in overrides else self.config.tool_choice,
            max_output_tokens=parse_max_output_tokens(overrides["max_output_tokens"], "response.max_output_tokens")
            if "max_output_tokens" in overrides else self.config.max_output_tokens,
            into_conversation=overrides.get("conversation", "auto") == "auto",
            metadata={str(k): str(v) for k, v in metadata.items()} if isinstance(metadata, dict) else {},
        )

    def _start_response(self, plan: ResponsePlan, after: asyncio.Task[Any] | None = None,
                        answering: Item | None = None) -> None:
        """Run a response once the one before it is over and the transcript `after` is in.

        A turn the STT found no words in (noise, a cough, a failed transcription) gets no reply."""
        previous = self._response_task
        response = Response(plan, llm=self._llm, tts=self._tts, conversation=self.conversation, send=self.send,
                            language=self._language, timeouts=self._timeouts,
                            on_audio=self.recording.agent_audio if self.recording is not None else None)

        async def run() -> None:
            if previous is not None:  # replies never overlap: a turn waits for the one before it
                with suppress(BaseException):
                    await previous
            if after is not None:  # the user's words must be in the conversation first
                with suppress(BaseException):
                    await asyncio.shield(after)
            if answering is not None and not (answering.wire["content"][0]["transcript"] or "").strip():
                return
            self._response = response
            await response.run(self.conversation.messages())
            observe_response(response)
            for item in response.output:
                item.latency_ms = response.latencies_ms

        task = asyncio.create_task(run())
        self._response_task = task
        task.add_done_callback(lambda done: self._response_finished(done))

    def _response_finished(self, task: asyncio.Task[None]) -> None:
        if self._response_task is task:
            self._response_task, self._response = None, None
        if not task.cancelled() and task.exception() is not None:
            log.error("realtime response failed", exc_info=task.exception())

    async def _cancel_response(self, reason: str) -> None:
        task, response = self._response_task, self._response
        if task is None:
            return
        if response is not None:
            response.cancel_reason = reason
        task.cancel()
        with suppress(BaseException):
            await task

    _handlers = {
        "session.update": _session_update,
        "input_audio_buffer.append": _append,
        "input_audio_buffer.commit": _commit,
        "input_audio_buffer.clear": _clear,
        "conversation.item.create": _item_create,
        "conversation.item.truncate": _item_truncate,
        "conversation.item.delete": _item_delete,
        "conversation.item.retrieve": _item_retrieve,
        "response.create": _response_create,
        "response.cancel": _response_cancel,
    }


def observe_response(response: Response) -> None:
    """A finished response's latencies and failure into Parley's Prometheus metrics."""
    latencies = response.latencies_ms
    for stage, histogram in (("voice_to_voice", telemetry.VOICE_TO_VOICE), ("llm_first_token", telemetry.LLM_FIRST_TOKEN),
                             ("tts_first_audio", telemetry.TTS_FIRST_AUDIO)):
        if stage in latencies:
            histogram.labels(CHANNEL).observe(latencies[stage] / 1000)
    if response.status == "failed":
        telemetry.PROVIDER_ERRORS.labels(CHANNEL, "response").inc()
