"""Speech-to-text routes: the streaming WebSocket the agent core speaks, and OpenAI's transcriptions.

The service wraps any `SpeechToText`: Kyutai on a GPU, or the embedded Whisper
under `parley services serve`. A connection carries one utterance at a time;
finishing one runs in the background, so the next can start at once.
"""

from __future__ import annotations

import asyncio
import json
import logging
from contextlib import suppress
from typing import Annotated, Any

from fastapi import APIRouter, Depends, File, Form, HTTPException, UploadFile, WebSocket
from fastapi.responses import PlainTextResponse
from pydantic import ValidationError

from agent_core.audio.frames import AudioFrame
from agent_core.audio.resample import StreamResampler, resample
from agent_core.audio.uploads import AudioDecodeError, decode_segment, segment_frame
from agent_core.remote.protocol import STT_PATH, SttRequest, SttStart, message_id
from agent_core.stt.base import STT_SAMPLE_RATE, SpeechToText, SttStream
from modal_services.service.auth import ServiceAuth

log = logging.getLogger(__name__)
MAX_UTTERANCE_S = 120.0  # a stream left open by a broken client must not grow without bound
MAX_UPLOAD_BYTES = 25 * 1024 * 1024  # OpenAI's limit for /v1/audio/transcriptions


def stt_router(stt: SpeechToText, auth: ServiceAuth) -> APIRouter:
    router = APIRouter()

    @router.websocket(STT_PATH)
    async def stream(websocket: WebSocket) -> None:
        if await auth.accept(websocket):
            await _SttConnection(stt, websocket).run()

    @router.post("/v1/audio/transcriptions", dependencies=[Depends(auth.check_request)])
    async def transcriptions(
        file: Annotated[UploadFile, File()],
        model: Annotated[str, Form()] = "parley",
        language: Annotated[str | None, Form()] = None,
        response_format: Annotated[str, Form()] = "json",
    ) -> Any:
        if response_format not in ("json", "text"):
            raise HTTPException(400, f"response_format {response_format!r} is not supported; use 'json' or 'text'")
        data = await file.read(MAX_UPLOAD_BYTES + 1)
        if len(data) > MAX_UPLOAD_BYTES:
            raise HTTPException(413, f"the file is larger than {MAX_UPLOAD_BYTES // (1024 * 1024)} MB")
        try:
            audio = await asyncio.to_thread(_decode, data, file.filename or "upload")
        except AudioDecodeError as exc:
            raise HTTPException(400, str(exc)) from exc
        try:
            text = await transcribe(stt, audio, language)
        except Exception as exc:
            log.exception("transcription failed")
            raise HTTPException(502, f"transcription failed: {exc}") from exc
        return PlainTextResponse(text) if response_format == "text" else {"text": text}

    return router


def _decode(data: bytes, filename: str) -> AudioFrame:
    return resample(segment_frame(decode_segment(data, filename)), STT_SAMPLE_RATE)


async def transcribe(stt: SpeechToText, audio: AudioFrame, language: str | None = None) -> str:
    """Transcribe a whole recording through the streaming interface."""
    stream = stt.open_stream(language=language)
    try:
        for piece in audio.split(0.1):
            stream.push(piece)
        return await stream.finish()
    finally:
        await stream.aclose()


class _Utterance:
    def __init__(self, start: SttStart, stream: SttStream) -> None:
        self.id, self.stream = start.id, stream
        self.rate = start.sample_rate
        self.resampler = StreamResampler(start.sample_rate, STT_SAMPLE_RATE) if start.sample_rate != STT_SAMPLE_RATE else None
        self.seconds = 0.0


class _SttConnection:
    def __init__(self, stt: SpeechToText, websocket: WebSocket) -> None:
        self.stt, self.ws = stt, websocket
        self.outbox: asyncio.Queue[dict[str, Any]] = asyncio.Queue()
        self.current: _Utterance | None = None
        self.tasks: set[asyncio.Task[None]] = set()

    async def run(self) -> None:
        writer = asyncio.create_task(self._write())
        try:
            while True:
                message = await self.ws.receive()
                if message["type"] == "websocket.disconnect":
                    break
                if message.get("bytes") is not None:
                    self._audio(message["bytes"])
                elif message.get("text") is not None:
                    self._control(message["text"])
        finally:
            if self.current is not None:
                self._spawn(self.current.stream.aclose())
            for task in list(self.tasks):
                task.cancel()
            writer.cancel()
            with suppress(asyncio.CancelledError):
                await writer

    def _audio(self, pcm: bytes) -> None:
        u = self.current
        if u is None:
            return  # the tail of an utterance already finished or cancelled
        if len(pcm) % 2:
            self._error(u.id, "audio must be 16-bit PCM (an even number of bytes)")
            return
        frame = AudioFrame(pcm, u.rate)
        u.seconds += frame.duration_s
        if u.seconds > MAX_UTTERANCE_S:
            self._error(u.id, f"utterance longer than {MAX_UTTERANCE_S:g} s; finish it and start another")
            self.current = None
            self._spawn(u.stream.aclose())
            return
        u.stream.push(u.resampler.process(frame) if u.resampler else frame)

    def _control(self, text: str) -> None:
        try:
            request = SttRequest.validate_json(text)
        except ValidationError as exc:
            self._error(message_id(text), f"bad message: {exc.errors()[0]['msg']}")
            return
        if isinstance(request, SttStart):
            self._start(request)
            return
        u = self.current
        if u is None or u.id != request.id:
            if request.type == "finish":
                self._error(request.id, "no open utterance with this id")
            return
        if request.type == "pause":
            u.stream.speaker_paused()
        elif request.type == "finish":
            self.current = None
            self._spawn(self._finish(u))
        else:  # cancel
            self.current = None
            self._spawn(u.stream.aclose())

    def _start(self, start: SttStart) -> None:
        if self.current is not None:  # a client that starts again has given up on the previous one
            self._spawn(self.current.stream.aclose())
            self.current = None
        try:
            stream = self.stt.open_stream(language=start.language)
        except Exception as exc:  # e.g. every GPU slot is busy
            self._error(start.id, f"cannot start: {exc}")
            return
        uid = start.id
        stream.on_partial = lambda text: self.outbox.put_nowait({"type": "partial", "id": uid, "text": text})
        stream.on_pause_probability = lambda p: self.outbox.put_nowait(
            {"type": "pause_probability", "id": uid, "value": round(float(p), 4)}
        )
        self.current = _Utterance(start, stream)

    async def _finish(self, u: _Utterance) -> None:
        try:
            if u.resampler:
                tail = u.resampler.flush()
                if tail.samples:
                    u.stream.push(tail)
            text = await u.stream.finish()
        except Exception as exc:
            log.warning("STT failed for utterance %s: %s", u.id, exc)
            self._error(u.id, f"transcription failed: {exc}")
        else:
            self.outbox.put_nowait({"type": "final", "id": u.id, "text": text})
        finally:
            await u.stream.aclose()

    def _error(self, uid: str | None, message: str) -> None:
        self.outbox.put_nowait({"type": "error", "id": uid, "message": message})

    def _spawn(self, coro: Any) -> None:
        task = asyncio.create_task(coro)
        self.tasks.add(task)
        task.add_done_callback(self.tasks.discard)

    async def _write(self) -> None:
        while True:
            await self.ws.send_text(json.dumps(await self.outbox.get()))

