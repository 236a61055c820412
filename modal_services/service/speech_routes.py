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
from collections.abc import AsyncGenerator, Sequence
from contextlib import aclosing
from typing import Literal

from fastapi import APIRouter, Depends, HTTPException
from fastapi.responses import Response, StreamingResponse
from pydantic import Field

from agent_core.audio.encode import MEDIA_TYPES, AudioEncoder, SpeechFormat, wav_header
from agent_core.audio.frames import AudioFrame
from agent_core.remote.protocol import MAX_TEXT_CHARS
from agent_core.text.delivery_tags import delivery_tags, strip_delivery_tags
from agent_core.text.sentences import SentenceSplitter, sentence_tags
from agent_core.text.speakable import speakable
from agent_core.tts.base import SpeechStyle, TextToSpeech, UnknownVoiceError, UnsupportedStyleError
from agent_core.tts.styles import sentence_style
from modal_services.service.audio_stream import pcm_stream
from modal_services.service.auth import ServiceAuth
from modal_services.service.voice_aliases import VoiceAliases

log = logging.getLogger(__name__)
SPEECH_RATE = 24000  # OpenAI's rate for every response_format


class SpeechRequest(SpeechStyle):
    """OpenAI's `POST /v1/audio/speech` body, plus Parley's `normalize` and the style fields.

    The style fields (speed, exaggeration, cfg_weight, temperature, seed) and their ranges are
    SpeechStyle's own; None is the voice's default (GET /v1/voices), a speed of 1.0 unless configured.
    """

    model: str = "parley"
    input: str = Field(min_length=1, max_length=MAX_TEXT_CHARS)
    voice: str | None = None
    response_format: SpeechFormat = "mp3"  # OpenAI's default
    stream_format: Literal["audio", "sse"] = "audio"
    instructions: str | None = None  # accepted for compatibility; no engine here takes instructions
    # Parley's speakable text (numbers, dates, markdown read as a person would); false sends
    # the input as is. Delivery tags ("[laughs]") are never read aloud either way.
    normalize: bool = True


def speech_text(request: SpeechRequest) -> str:
    """What the engine is given; a 400 when nothing in the input can be said."""
    text = speakable(request.input) if request.normalize else strip_delivery_tags(request.input)
    if not any(ch.isalnum() for ch in text):
        raise HTTPException(400, "input has nothing to say: it is blank, punctuation or tags only")
    return text


def speech_pieces(
    request: SpeechRequest, style: SpeechStyle, knobs: Sequence[str], voice_default: SpeechStyle | None
) -> list[tuple[str, SpeechStyle | None]]:
    """The text to speak and its style; sentence by sentence when a delivery tag changes the style.

    The same `sentence_style` as the conversation path: on a backend with exaggeration a
    "[laughs]" raises it for its sentence; elsewhere tags are only removed.
    """
    tags = delivery_tags(request.input)
    if sentence_style(tags, style, knobs, voice_default) is style:
        return [(speech_text(request), style)]
    splitter = SentenceSplitter(normalize=request.normalize, first_min_chars=None)
    pieces = [*splitter.push(request.input), *splitter.flush()]
    if not pieces:
        raise HTTPException(400, "input has nothing to say: it is blank, punctuation or tags only")
    return [(str(p), sentence_style(sentence_tags(p), style, knobs, voice_default)) for p in pieces]


def speech_router(tts: TextToSpeech, auth: ServiceAuth, aliases: VoiceAliases) -> APIRouter:
    router = APIRouter()

    async def speak(request: SpeechRequest, *, streamed: bool) -> Response:
        style = SpeechStyle(**request.model_dump(include=set(SpeechStyle.model_fields)))
        voice = aliases.resolve(request.voice)
        voice_default = tts.describe_voice(voice).style if voice else None
        # ~13 ms for 4,096 characters: off the loop
        pieces = await asyncio.to_thread(speech_pieces, request, style, tts.style_knobs, voice_default)
        frames = pcm_stream(_spoken(tts, pieces, voice), SPEECH_RATE)
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


async def _spoken(
    tts: TextToSpeech, pieces: list[tuple[str, SpeechStyle | None]], voice: str | None
) -> AsyncGenerator[AudioFrame, None]:
    for text, style in pieces:
        async with aclosing(tts.synthesize(text, voice=voice, style=style)) as frames:
            async for frame in frames:
                yield frame


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
