"""Text-to-speech routes: the streaming WebSocket the agent core speaks, OpenAI's speech route, voices.

The service wraps any `TextToSpeech`: Chatterbox on a GPU, or the embedded
voice under `parley services serve`. Audio goes out chunk by chunk as the
engine makes it; a cancel stops the engine, not only the sending.
"""

from __future__ import annotations

import asyncio
import json
import logging
import struct
from collections.abc import AsyncIterator
from contextlib import aclosing, suppress
from typing import Annotated, Any, Literal

from fastapi import APIRouter, Depends, File, Form, HTTPException, UploadFile, WebSocket
from fastapi.responses import StreamingResponse
from pydantic import BaseModel, Field, ValidationError

from agent_core.audio.frames import AudioFrame
from agent_core.audio.resample import StreamResampler
from agent_core.audio.voice_clip import MAX_UPLOAD_BYTES, VoiceClipError, prepare_voice_clip, validate_clip_name
from agent_core.remote.protocol import MAX_TEXT_CHARS, TTS_PATH, TtsRequest, TtsSpeak
from agent_core.tts.base import SpeechStyle, TextToSpeech, UnknownVoiceError, visible_voices
from modal_services.service.auth import ServiceAuth

log = logging.getLogger(__name__)
OPENAI_PCM_RATE = 24000  # OpenAI's `pcm` format: 24 kHz 16-bit little-endian mono


class SpeechRequest(BaseModel):
    """OpenAI's `POST /v1/audio/speech` body, plus the style fields Chatterbox understands."""

    model: str = "parley"
    input: str = Field(min_length=1, max_length=MAX_TEXT_CHARS)
    voice: str | None = None
    response_format: str = "wav"
    speed: float = Field(1.0, ge=0.25, le=4.0)
    stream_format: Literal["audio"] = "audio"
    instructions: str | None = None  # accepted for compatibility; the engines take no instructions
    exaggeration: float | None = Field(None, ge=0.0, le=2.0)
    cfg_weight: float | None = Field(None, ge=0.0, le=1.0)
    temperature: float | None = Field(None, ge=0.05, le=2.0)
    seed: int | None = None


def tts_router(tts: TextToSpeech, auth: ServiceAuth) -> APIRouter:
    router = APIRouter()

    @router.websocket(TTS_PATH)
    async def stream(websocket: WebSocket) -> None:
        if await auth.accept(websocket):
            await _TtsConnection(tts, websocket).run()

    @router.post("/v1/audio/speech", dependencies=[Depends(auth.check_request)])
    async def speech(request: SpeechRequest) -> StreamingResponse:
        if request.response_format not in ("wav", "pcm"):
            raise HTTPException(400, f"response_format {request.response_format!r} is not supported; use 'wav' or 'pcm'")
        style = SpeechStyle(**request.model_dump(include={"speed", "exaggeration", "cfg_weight", "temperature", "seed"}))
        rate = OPENAI_PCM_RATE if request.response_format == "pcm" else None
        frames = _pcm_stream(tts.synthesize(request.input, voice=request.voice, style=style), rate)
        try:  # the first chunk decides the status: a failure before any audio is a clean 502
            first = await anext(frames)
        except StopAsyncIteration:
            raise HTTPException(502, "the engine produced no audio") from None
        except UnknownVoiceError as exc:  # the caller's mistake, named with the voices it may use
            await frames.aclose()
            raise HTTPException(400, str(exc)) from exc  # the message lists the known voices
        except Exception as exc:
            await frames.aclose()
            log.exception("speech synthesis failed")
            raise HTTPException(502, f"synthesis failed: {exc}") from exc

        async def body() -> AsyncIterator[bytes]:
            async with aclosing(frames):
                if request.response_format == "wav":
                    yield streaming_wav_header(first.sample_rate)
                yield first.pcm
                async for frame in frames:
                    yield frame.pcm

        media = "audio/wav" if request.response_format == "wav" else f"audio/pcm;rate={OPENAI_PCM_RATE}"
        return StreamingResponse(body(), media_type=media)

    @router.get("/v1/voices", dependencies=[Depends(auth.check_request)])
    async def voices(namespace: str | None = None) -> dict[str, Any]:
        """Every voice for the platform holding the token; with `namespace`, what that namespace may use."""
        names = tts.voice_names() if namespace is None else visible_voices(tts.voice_names(), namespace)
        return {"voices": names, "can_clone": tts.can_clone}

    @router.post("/v1/voices", dependencies=[Depends(auth.check_request)])
    async def clone(
        name: Annotated[str, Form()], file: Annotated[UploadFile, File()], namespace: Annotated[str | None, Form()] = None
    ) -> dict[str, Any]:
        """Clone a voice from a clip; with a namespace (a guild) only that namespace sees and uses it."""
        if not tts.can_clone:
            raise HTTPException(501, f"{tts.name} cannot clone voices")
        data = await file.read(MAX_UPLOAD_BYTES + 1)
        try:
            validate_clip_name(name)
            if namespace is not None:
                validate_clip_name(namespace)
            wav = await asyncio.to_thread(prepare_voice_clip, data, file.filename or f"{name}.wav")
        except VoiceClipError as exc:
            raise HTTPException(400, str(exc)) from exc
        return {"name": await tts.clone_voice(name, wav, namespace=namespace)}

    return router


def streaming_wav_header(sample_rate: int) -> bytes:
    """A 16-bit mono WAV header for a stream of unknown length (sizes at their maximum, as ffmpeg writes)."""
    unknown = 0xFFFFFFFF
    fmt = struct.pack("<HHIIHH", 1, 1, sample_rate, sample_rate * 2, 2, 16)
    return b"RIFF" + struct.pack("<I", unknown) + b"WAVEfmt " + struct.pack("<I", 16) + fmt + b"data" + struct.pack("<I", unknown)


async def _pcm_stream(frames: AsyncIterator[AudioFrame], rate: int | None) -> AsyncIterator[AudioFrame]:
    """The engine's frames at `rate` (None: the engine's own), skipping empty ones."""
    resampler: StreamResampler | None = None
    async with aclosing(frames):  # type: ignore[type-var]
        async for frame in frames:
            if rate and frame.sample_rate != rate:
                resampler = resampler or StreamResampler(frame.sample_rate, rate)
                frame = resampler.process(frame)
            if frame.samples:
                yield frame
    if resampler is not None:
        tail = resampler.flush()
        if tail.samples:
            yield tail


class _TtsConnection:
    def __init__(self, tts: TextToSpeech, websocket: WebSocket) -> None:
        self.tts, self.ws = tts, websocket
        self.send_lock = asyncio.Lock()
        self.current: tuple[str, asyncio.Task[None]] | None = None

    async def run(self) -> None:
        try:
            while True:
                message = await self.ws.receive()
                if message["type"] == "websocket.disconnect":
                    break
                if message.get("text") is None:
                    await self._send({"type": "error", "id": None, "message": "send JSON text messages only"})
                    continue
                await self._control(message["text"])
        finally:
            if self.current is not None:
                self.current[1].cancel()

    async def _control(self, text: str) -> None:
        try:
            request = TtsRequest.validate_json(text)
        except ValidationError as exc:
            await self._send({"type": "error", "id": None, "message": f"bad message: {exc.errors()[0]['msg']}"})
            return
        busy = self.current is not None and not self.current[1].done()
        if isinstance(request, TtsSpeak):
            if busy:
                await self._send({"type": "error", "id": request.id, "message": "one request at a time per connection"})
                return
            self.current = (request.id, asyncio.create_task(self._speak(request)))
        elif busy and self.current and self.current[0] == request.id:
            self.current[1].cancel()

    async def _speak(self, request: TtsSpeak) -> None:
        started = False
        try:
            frames = _pcm_stream(self.tts.synthesize(request.text, voice=request.voice, style=request.style),
                                 request.sample_rate)
            async with aclosing(frames):
                async for frame in frames:
                    if not started:
                        started = True
                        await self._send({"type": "start", "id": request.id, "sample_rate": frame.sample_rate})
                    async with self.send_lock:
                        await self.ws.send_bytes(frame.pcm)
        except asyncio.CancelledError:
            with suppress(Exception):  # the client may be gone already
                await self._send({"type": "done", "id": request.id, "cancelled": True})
            return
        except UnknownVoiceError as exc:
            await self._send({"type": "error", "id": request.id, "code": "unknown_voice", "message": str(exc),
                              "voice": exc.voice, "voices": exc.known})
            return
        except Exception as exc:
            log.warning("TTS failed for request %s: %s", request.id, exc)
            await self._send({"type": "error", "id": request.id, "message": f"synthesis failed: {exc}"})
            return
        await self._send({"type": "done", "id": request.id, "cancelled": False})

    async def _send(self, message: dict[str, Any]) -> None:
        async with self.send_lock:
            await self.ws.send_text(json.dumps(message))
