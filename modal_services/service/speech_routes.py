"""OpenAI's speech API: `POST /v1/audio/speech` and its streaming alias `/v1/audio/speech/stream`.

Audio is resampled to 24 kHz (OpenAI's rate for every format) and encoded as the engine
makes it: mp3, opus (Ogg), aac (ADTS), flac, wav or pcm (s16le). `/v1/audio/speech` answers
WAV with an exact header (the whole audio is held first); the `/stream` alias sends WAV
chunk by chunk with the header sizes at their maximum. `stream_format: "sse"` sends
`speech.audio.delta` events (base64 audio in the chosen format) and one `speech.audio.done`.
"""

from __future__ import annotations

import asyncio
import base64
import json
import logging
from collections.abc import AsyncGenerator
from contextlib import aclosing
from typing import Literal

from fastapi import APIRouter, Depends, HTTPException
from fastapi.responses import Response, StreamingResponse
from pydantic import BaseModel, Field

from agent_core.audio.encode import MEDIA_TYPES, AudioEncoder, SpeechFormat, wav_header
from agent_core.audio.frames import AudioFrame
from agent_core.remote.protocol import MAX_TEXT_CHARS
from agent_core.text.delivery_tags import strip_delivery_tags
from agent_core.text.speakable import speakable
from agent_core.tts.base import SpeechStyle, TextToSpeech, UnknownVoiceError, UnsupportedStyleError
from modal_services.service.audio_stream import pcm_stream
from modal_services.service.auth import ServiceAuth
from modal_services.service.voice_aliases import VoiceAliases

log = logging.getLogger(__name__)
SPEECH_RATE = 24000  # OpenAI's rate for every response_format


class SpeechRequest(BaseModel):
    """OpenAI's `POST /v1/audio/speech` body, plus Parley's `normalize` and Chatterbox's style fields."""

    model: str = "parley"
    input: str = Field(min_length=1, max_length=MAX_TEXT_CHARS)
    voice: str | None = None
    response_format: SpeechFormat = "mp3"  # OpenAI's default
    speed: float | None = Field(None, ge=0.25, le=4.0)  # None: the voice's own (GET /v1/voices), 1.0 unless configured
    stream_format: Literal["audio", "sse"] = "audio"
    instructions: str | None = None  # accepted for compatibility; no engine here takes instructions
    # Parley's speakable text (numbers, dates, markdown read as a person would); false sends
    # the input as is. Delivery tags ("[laughs]") are never read aloud either way.
    normalize: bool = True
    exaggeration: float | None = Field(None, ge=0.0, le=2.0)
    cfg_weight: float | None = Field(None, ge=0.0, le=1.0)
    temperature: float | None = Field(None, ge=0.05, le=2.0)
    seed: int | None = None


def speech_text(request: SpeechRequest) -> str:
    """What the engine is given; a 400 when nothing in the input can be said."""
    text = speakable(request.input) if request.normalize else strip_delivery_tags(request.input)
    if not any(ch.isalnum() for ch in text):
        raise HTTPException(400, "input has nothing to say: it is blank, punctuation or tags only")
    return text


def speech_router(tts: TextToSpeech, auth: ServiceAuth, aliases: VoiceAliases) -> APIRouter:
    router = APIRouter()

    async def speak(request: SpeechRequest, *, streamed: bool) -> Response:
        text = await asyncio.to_thread(speech_text, request)  # ~13 ms for 4,096 characters: off the loop
        style = SpeechStyle(**request.model_dump(include={"speed", "exaggeration", "cfg_weight", "temperature", "seed"}))
        voice = aliases.resolve(request.voice)
        frames = pcm_stream(tts.synthesize(text, voice=voice, style=style), SPEECH_RATE)
        first = await _first_frame(frames)
        if request.stream_format == "sse":
            return StreamingResponse(_sse(first, frames, request.response_format), media_type="text/event-stream")
        media = MEDIA_TYPES[request.response_format]
        if request.response_format == "pcm":
            media = f"audio/pcm;rate={SPEECH_RATE}"
        if request.response_format == "wav" and not streamed:
            async with aclosing(frames):
                pcm = bytearray(first.pcm)
                async for frame in frames:
                    pcm += frame.pcm
            return Response(wav_header(SPEECH_RATE, len(pcm)) + pcm, media_type=media)
        return StreamingResponse(_encoded(first, frames, request.response_format), media_type=media)

    @router.post("/v1/audio/speech", dependencies=[Depends(auth.check_request)])
    async def speech(request: SpeechRequest) -> Response:
        return await speak(request, streamed=False)

    @router.post("/v1/audio/speech/stream", dependencies=[Depends(auth.check_request)])
    async def speech_stream(request: SpeechRequest) -> Response:
        return await speak(request, streamed=True)

    return router


async def _first_frame(frames: AsyncGenerator[AudioFrame, None]) -> AudioFrame:
    """The first chunk decides the status: the caller's mistakes are 4xx, an engine fault a 502."""
    try:
        return await anext(frames)
    except StopAsyncIteration:
        raise HTTPException(502, "the engine produced no audio") from None
    except (UnknownVoiceError, UnsupportedStyleError) as exc:  # the message names what is allowed
        await frames.aclose()
        raise HTTPException(400, str(exc)) from exc
    except Exception as exc:
        await frames.aclose()
        log.exception("speech synthesis failed")
        raise HTTPException(502, f"synthesis failed: {exc}") from exc


async def _encoded(first: AudioFrame, frames: AsyncGenerator[AudioFrame, None], fmt: str) -> AsyncGenerator[bytes, None]:
    encoder = AudioEncoder(fmt, SPEECH_RATE)
    compressed = fmt not in ("wav", "pcm")  # pcm and wav are byte copies: no thread needed

    async def encode(pcm: bytes) -> bytes:
        return await asyncio.to_thread(encoder.encode, pcm) if compressed else encoder.encode(pcm)

    try:
        async with aclosing(frames):
            yield await encode(first.pcm)
            async for frame in frames:
                if chunk := await encode(frame.pcm):
                    yield chunk
        if tail := await asyncio.to_thread(encoder.finish):
            yield tail
    finally:
        encoder.close()  # a client that leaves mid-stream leaves no codec open


async def _sse(first: AudioFrame, frames: AsyncGenerator[AudioFrame, None], fmt: str) -> AsyncGenerator[str, None]:
    def event(body: dict[str, object]) -> str:
        return f"data: {json.dumps(body)}\n\n"

    try:
        async for chunk in _encoded(first, frames, fmt):
            yield event({"type": "speech.audio.delta", "audio": base64.b64encode(chunk).decode()})
    except Exception as exc:  # the status is sent already: the stream says what went wrong
        log.exception("speech synthesis failed mid-stream")
        yield event({"type": "error", "error": {"message": f"synthesis failed: {exc}", "type": "server_error"}})
        return
    # Parley's engines count no tokens: usage is zeros rather than a made-up figure.
    yield event({"type": "speech.audio.done", "usage": {"input_tokens": 0, "output_tokens": 0, "total_tokens": 0}})
