"""Embedded TTS: hibari (Apache-2.0, distilled from Kokoro-82M), 24 kHz, ONNX on the CPU.

The `hibari-tts` wheel carries the model, the lexicon and the phonemizer for its voice "heart";
its other voices are separate downloads. Parley never downloads at run time, so the voices on
offer are the ones whose files are already on disk, and any other name is refused by name.
"""

from __future__ import annotations

import asyncio
from collections.abc import AsyncGenerator, Iterator
from contextlib import aclosing
from typing import TYPE_CHECKING

import numpy as np

from agent_core.audio.frames import AudioFrame
from agent_core.blocking import iterate_in_thread, model_executor
from agent_core.model_files import ModelNotInstalledError
from agent_core.tts.base import SpeechStyle, TextToSpeech, UnknownVoiceError, UnsupportedStyleError, VoiceInfo

if TYPE_CHECKING:
    from hibari import Hibari

INSTALL_HINT = "pip install 'parley[local]' (hibari-tts)"
DEFAULT_VOICE = "heart"
# hibari's own limits for its speed input (0.5 slow .. 2.0 fast).
MIN_SPEED, MAX_SPEED = 0.5, 2.0


def installed_voices() -> list[str]:
    """The hibari voices whose model file is on this machine (no download)."""
    try:
        from hibari.voices import VOICES, voice_path
    except ImportError as exc:
        raise ModelNotInstalledError(f"the embedded TTS is not installed: {INSTALL_HINT}") from exc
    names = []
    for name in VOICES:
        try:
            voice_path(name, download_missing=False)
        except FileNotFoundError:
            continue
        names.append(name)
    return sorted(names)


def to_pcm16(audio: np.ndarray) -> bytes:
    pcm: bytes = (np.clip(audio, -1.0, 1.0) * 32767.0).astype("<i2").tobytes()
    return pcm


class HibariTts(TextToSpeech):
    name = "hibari"

    def __init__(self, *, default_voice: str | None = None, speed: float = 1.0, threads: int = 1) -> None:
        self.default_voice = default_voice or DEFAULT_VOICE
        self.speed = speed
        # One intra-op thread: the model runs ~100x real time on one core, and the STT and LLM
        # need the others.
        self.threads = threads
        self._voices: list[str] | None = None
        self._models: dict[str, Hibari] = {}
        self._executor = model_executor("tts")

    def voice_names(self) -> list[str]:
        if self._voices is None:
            self._voices = installed_voices()
        return self._voices

    style_knobs = ("speed", "seed")

    def describe_voice(self, name: str) -> VoiceInfo:
        from hibari.voices import VOICES

        return VoiceInfo(name=name, backend=self.name, language=VOICES.get(name, {}).get("language"),
                         style=SpeechStyle(speed=self.speed), knobs=list(self.style_knobs))

    def check_voice(self, voice: str | None) -> str:
        name = voice or self.default_voice
        if name not in self.voice_names():
            raise UnknownVoiceError(name, self.name, self.voice_names())
        return name

    async def load(self) -> None:
        self.check_voice(None)
        await asyncio.get_running_loop().run_in_executor(self._executor, self._warm_up)

    def _warm_up(self) -> None:
        self._model(self.default_voice)("Hello.", seed=0)

    def _model(self, name: str) -> Hibari:
        if name not in self._models:
            from hibari import Hibari

            self._models[name] = Hibari(voice=name, threads=self.threads)
        return self._models[name]

    async def synthesize(
        self, text: str, *, voice: str | None = None, style: SpeechStyle | None = None
    ) -> AsyncGenerator[AudioFrame, None]:
        name = self.check_voice(voice)
        speed = style.speed if style and style.speed else self.speed
        if not MIN_SPEED <= speed <= MAX_SPEED:
            raise UnsupportedStyleError(f"hibari speaks at speed {MIN_SPEED}-{MAX_SPEED}, not {speed}")
        seed = style.seed if style else None

        def generate() -> Iterator[np.ndarray]:
            chunks: Iterator[np.ndarray] = self._model(name).stream(text, speed=speed, seed=seed)  # hibari: untyped
            return chunks

        async with aclosing(iterate_in_thread(generate, self._executor)) as chunks:
            async for chunk in chunks:
                if len(chunk):
                    yield AudioFrame(to_pcm16(chunk), 24000)

    async def aclose(self) -> None:
        self._executor.shutdown(wait=False, cancel_futures=True)
