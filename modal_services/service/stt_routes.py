"""Speech-to-text routes: the streaming WebSocket the agent core speaks, and OpenAI's transcriptions.

The service wraps any `SpeechToText`: Kyutai on a GPU, or the embedded Whisper
under `parley services serve`. A connection carries one utterance at a time;
finishing one runs in the background, so the next can start at once.
"""

from __future__ import annotations

import asyncio
import json
import logging
import re
from contextlib import suppress
from typing import Annotated, Any

from fastapi import APIRouter, Depends, File, Form, HTTPException, UploadFile, WebSocket
from fastapi.responses import PlainTextResponse
from pydantic import ValidationError

from agent_core.audio.frames import AudioFrame
from agent_core.audio.resample import StreamResampler, resample
from agent_core.audio.uploads import AudioDecodeError, decode_segment, segment_frame
from agent_core.remote.protocol import STT_PATH, SttRequest, SttStart, message_id
from agent_core.stt.base import STT_SAMPLE_RATE, SpeechToText, SttStream, UnsupportedLanguageError
from modal_services.service.auth import ServiceAuth
from modal_services.service.transcript_formats import TRANSCRIPT_FORMATS, subtitles, verbose_json

log = logging.getLogger(__name__)
MAX_UTTERANCE_S = 120.0  # a stream left open by a broken client must not grow without bound
MAX_UPLOAD_BYTES = 25 * 1024 * 1024  # OpenAI's limit for /v1/audio/transcriptions
_LANGUAGE_CODE = re.compile(r"[a-z]{2,3}")  # ISO 639-1 (639-3 for the few Whisper knows by three letters)


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
        timestamp_granularities: Annotated[list[str] | None, Form(alias="timestamp_granularities[]")] = None,
    ) -> Any:
        if response_format not in TRANSCRIPT_FORMATS:
            raise HTTPException(400, f"response_format {response_format!r} is not supported; use one of "
                                     f"{', '.join(TRANSCRIPT_FORMATS)}")
        granularities = set(timestamp_granularities or ())
        if granularities - {"segment", "word"}:
            raise HTTPException(400, "timestamp_granularities are 'segment' and 'word'")
        if "word" in granularities and not stt.times_words:
            raise HTTPException(400, f"{stt.name} does not time words; ask for 'segment' only")
        language = language or None
        if language is not None and not _LANGUAGE_CODE.fullmatch(language):
            raise HTTPException(400, f"language {language!r} is not an ISO 639-1 code such as 'en'")
        try:
            stt.check_language(language)
        except UnsupportedLanguageError as exc:
            raise HTTPException(400, str(exc)) from exc
        data = await file.read(MAX_UPLOAD_BYTES + 1)
        if len(data) > MAX_UPLOAD_BYTES:
            raise HTTPException(413, f"the file is larger than {MAX_UPLOAD_BYTES // (1024 * 1024)} MB")
        try:
            audio = await asyncio.to_thread(_decode, data, file.filename or "upload")
        except AudioDecodeError as exc:
            raise HTTPException(400, str(exc)) from exc
        try:
            transcript = await stt.transcribe_recording(audio, language=language, words="word" in granularities)
        except Exception as exc:
            log.exception("transcription failed")
            raise HTTPException(502, f"transcription failed: {exc}") from exc
        if response_format == "json":
            return {"text": transcript.text}
        if response_format == "verbose_json":
            return verbose_json(transcript)
        if response_format == "text":
            return PlainTextResponse(transcript.text)
        return PlainTextResponse(subtitles(transcript, response_format),
                                 media_type="text/vtt" if response_format == "vtt" else "application/x-subrip")

    return router


def _decode(data: bytes, filename: str) -> AudioFrame:
    return resample(segment_frame(decode_segment(data, filename)), STT_SAMPLE_RATE)


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
            self.stt.check_language(start.language)
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

