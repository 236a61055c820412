"""What `parley doctor` runs in each child process: load one embedded model, one tiny inference.

Each check returns a short description of what it saw; an exception or a crash is the failure.
The models are the ones the settings select (e.g. Whisper tiny.en, or Piper when opted in).
"""

from __future__ import annotations

import numpy as np

from agent_core.audio.frames import AudioFrame
from agent_core.settings import Settings


def vad() -> str:
    from agent_core.vad import VAD_SAMPLE_RATE, SileroVad

    stream = SileroVad.shared().stream()
    tone = 0.3 * np.sin(2 * np.pi * 220 * np.arange(VAD_SAMPLE_RATE // 10) / VAD_SAMPLE_RATE)
    probabilities = stream.process(AudioFrame.from_float32(tone.astype(np.float32), VAD_SAMPLE_RATE))
    return f"{len(probabilities)} windows scored"


async def stt() -> str:
    from agent_core.demo import default_question
    from agent_core.stt.whisper_local import WhisperStt

    settings = Settings()
    whisper = WhisperStt(model=settings.stt.model, cache_dir=settings.models_dir, language=settings.stt.language)
    await whisper.load()
    try:
        text = await whisper.transcribe(default_question())
    finally:
        await whisper.aclose()
    if not text.strip():
        raise RuntimeError("Whisper heard nothing in the recorded demo question")
    return f"Whisper {settings.stt.model}: {text.strip()[:40]!r}"


async def llm() -> str:
    from agent_core.llm.base import TextDelta
    from agent_core.llm.llama_local import LlamaCppLlm

    model = LlamaCppLlm(max_tokens=4)
    await model.load()  # includes a warm-up prompt of several tokens: the batch that AMX builds crash on
    try:
        reply = "".join([event.text async for event in model.stream([{"role": "user", "content": "Say hi."}])
                         if isinstance(event, TextDelta)])
    finally:
        await model.aclose()
    return f"{len(reply)} characters generated"


async def tts() -> str:
    from agent_core.providers import build_tts

    settings = Settings()
    if settings.tts.backend == "remote":
        settings.tts.backend = "local"
    voice = build_tts(settings)
    await voice.load()
    try:
        frames = [frame async for frame in voice.synthesize("Hello.")]
    finally:
        await voice.aclose()
    seconds = sum(frame.duration_s for frame in frames)
    if seconds <= 0:
        raise RuntimeError("the voice produced no audio")
    return f"{voice.name}: {seconds:.2f} s of audio"
