"""The GPU engines behind the agent core's STT and TTS seams, so the service routes serve them unchanged.

Engine calls block (a batched GPU step waits for the other streams' frames), so
they run in a thread pool sized to the engine's concurrency: one slow stream
must not hold up the event loop or the others.
"""

from __future__ import annotations

import asyncio
from collections.abc import AsyncGenerator
from concurrent.futures import ThreadPoolExecutor
from contextlib import aclosing, suppress

import numpy as np

from agent_core.audio.frames import AudioFrame
from agent_core.audio.resample import StreamResampler
from agent_core.blocking import iterate_in_thread
from agent_core.errors import ProviderError
from agent_core.stt.base import STT_SAMPLE_RATE, SpeechToText, SttStream
from agent_core.tts.base import (
    SpeechStyle,
    TextToSpeech,
    UnknownVoiceError,
    VoiceInfo,
    namespaced_voice,
    visible_voices,
    voice_namespace,
)
from agent_core.tts.styles import VoicePreset, layered

from .chatterbox_tts import ChatterboxEngine
from .kyutai_stt import FRAME, SR, KyutaiSttEngine


class KyutaiSpeechToText(SpeechToText):
    name = "kyutai"
    languages = ("en", "fr")  # stt-1b-en_fr

    def __init__(self, engine: KyutaiSttEngine) -> None:
        self.engine = engine
        self.executor = ThreadPoolExecutor(max_workers=engine.batch_size, thread_name_prefix="parley-kyutai")

    def open_stream(self, *, language: str | None = None) -> SttStream:
        try:
            stream = self.engine.open_stream()  # stt-1b-en_fr detects English/French itself
        except RuntimeError as exc:  # every slot is busy: this container is full
            raise ProviderError("stt", exc) from exc
        return _KyutaiStream(self, stream)

    async def aclose(self) -> None:
        self.executor.shutdown(wait=False, cancel_futures=True)


class _KyutaiStream(SttStream):
    """16 kHz audio in, 80 ms 24 kHz frames to the engine in order, words out as partials."""

    def __init__(self, owner: KyutaiSpeechToText, stream) -> None:
        super().__init__()
        self._owner, self._stream = owner, stream
        self._resampler = StreamResampler(STT_SAMPLE_RATE, SR)
        self._pending = np.zeros(0, np.float32)
        self._frames: asyncio.Queue[np.ndarray | None] = asyncio.Queue()
        self._words: list[str] = []
        self._worker = asyncio.create_task(self._step_frames())

    def push(self, frame: AudioFrame) -> None:
        self._queue(self._resampler.process(frame).to_float32())

    def _queue(self, samples: np.ndarray) -> None:
        self._pending = np.concatenate([self._pending, samples])
        while len(self._pending) >= FRAME:
            self._frames.put_nowait(self._pending[:FRAME])
            self._pending = self._pending[FRAME:]

    async def _step_frames(self) -> None:
        loop = asyncio.get_running_loop()
        while (pcm := await self._frames.get()) is not None:
            words = await loop.run_in_executor(self._owner.executor, self._stream.step, pcm)
            self._emit(words)
            if self.on_pause_probability is not None:
                self.on_pause_probability(self._stream.pause_probability)

    def _emit(self, words) -> None:
        if words:
            self._words.extend(w.text for w in words)
            self.heard_partial(" ".join(self._words))

    async def finish(self) -> str:
        # The model writes a word ~0.5 s after hearing it: feed that much silence to flush it out.
        flush_frames = int(np.ceil(self._owner.engine.delay_s * SR / FRAME)) + 1
        self._queue(self._resampler.flush().to_float32())
        self._queue(np.zeros(FRAME * flush_frames, np.float32))
        self._frames.put_nowait(None)
        await self._worker
        self._emit(self._stream.flush())
        return " ".join(self._words)

    async def aclose(self) -> None:
        if not self._worker.done():
            self._worker.cancel()
            with suppress(asyncio.CancelledError):
                await self._worker
        # The slot goes back only after the last step using it has returned.
        await asyncio.get_running_loop().run_in_executor(self._owner.executor, self._stream.close)


CHECKPOINT_VOICE = "default"  # the voice the Chatterbox checkpoint ships with


class ChatterboxSpeech(TextToSpeech):
    name = "chatterbox"
    can_clone = True
    style_knobs = ("speed", "exaggeration", "cfg_weight", "temperature", "seed")
    # The engine's defaults (ChatterboxEngine.synthesize_stream), as upstream Chatterbox has them.
    default_style = SpeechStyle(speed=1.0, exaggeration=0.5, cfg_weight=0.5, temperature=0.8)

    def __init__(self, engine: ChatterboxEngine, *, default_voice: str | None = None,
                 presets: dict[str, VoicePreset] | None = None) -> None:
        self.engine = engine
        self.default_voice = default_voice
        # The operator's named voices: a reference clip plus default style values, checked here at start.
        self.presets = dict(presets or {})
        clips = self._clips()
        problems = [f"{name!r} is a clip's name already" for name in self.presets if name in clips]
        problems += [f"{name!r} speaks with {p.clip!r}, which is not among the clips ({', '.join(clips)})"
                     for name, p in self.presets.items() if p.clip not in clips]
        if problems:
            raise ValueError("voice presets: " + "; ".join(problems))
        # One thread per open request: each waits on the engine's batching worker, not on the GPU itself.
        self.executor = ThreadPoolExecutor(max_workers=engine.max_streams, thread_name_prefix="parley-chatterbox")

    def _clips(self) -> list[str]:
        return [CHECKPOINT_VOICE, *self.engine.voices()]

    def voice_names(self) -> list[str]:
        return [*self._clips(), *sorted(self.presets)]

    def describe_voice(self, name: str) -> VoiceInfo:
        preset = self.presets.get(name)
        style = layered(self.default_style, preset.style) if preset else self.default_style
        return VoiceInfo(name=name, backend=self.name, language="en", clone=name != CHECKPOINT_VOICE and not preset,
                         style=style or self.default_style, knobs=list(self.style_knobs))

    def engine_voice(self, voice: str | None) -> str | None:
        """The engine's name for `voice` (None: the checkpoint's own); an unknown voice is refused, never replaced."""
        name = voice or self.default_voice
        if name in self.presets:
            name = self.presets[name].clip
        if name is None or name == CHECKPOINT_VOICE:
            return None
        if name not in self.engine.voices():
            raise UnknownVoiceError(name, self.name, visible_voices(self.voice_names(), voice_namespace(name)))
        return name

    async def synthesize(
        self, text: str, *, voice: str | None = None, style: SpeechStyle | None = None
    ) -> AsyncGenerator[AudioFrame, None]:
        preset = self.presets.get(voice or self.default_voice or "")
        style = layered(preset.style if preset else None, style)  # the request's values over the preset's
        options = style.model_dump(exclude_none=True) if style else {}
        name = self.engine_voice(voice)

        def chunks():
            return self.engine.synthesize_stream(text, voice=name, **options)

        async with aclosing(iterate_in_thread(chunks, self.executor)) as pieces:
            async for samples in pieces:
                yield AudioFrame.from_float32(samples, SR)

    async def clone_voice(self, name: str, wav_bytes: bytes, *, namespace: str | None = None) -> str:
        voice = namespaced_voice(namespace, name) if namespace else name
        return await asyncio.get_running_loop().run_in_executor(self.executor, self.engine.clone_voice, voice, wav_bytes)

    async def aclose(self) -> None:
        self.executor.shutdown(wait=False, cancel_futures=True)
