"""A larger Whisper for post-call transcripts: faster-whisper on a GPU, from the weights Volume.

The live call used a fast streaming STT; after it, there is time for a bigger model over the
whole recording. Runs in a worker thread; satisfies agent_core.postcall.Transcriber.
"""

from __future__ import annotations

import asyncio
from pathlib import Path
from typing import Any

from agent_core.audio.frames import AudioFrame


class WhisperTranscriber:
    def __init__(self, model_dir: Path | str, *, device: str = "cuda", compute_type: str = "float16") -> None:
        self.model_dir = str(model_dir)
        self.device, self.compute_type = device, compute_type
        self.name = f"whisper:{Path(self.model_dir).name}"
        self._model: Any = None

    def load(self) -> None:
        from faster_whisper import WhisperModel

        self._model = WhisperModel(self.model_dir, device=self.device, compute_type=self.compute_type)

    def _transcribe(self, frame: AudioFrame, language: str | None) -> str:
        if self._model is None:
            self.load()
        segments, _ = self._model.transcribe(frame.to_float32(), language=language, beam_size=5, vad_filter=True)
        return " ".join(segment.text.strip() for segment in segments).strip()

    async def transcribe(self, frame: AudioFrame, language: str | None = None) -> str:
        if frame.sample_rate != 16000:
            raise ValueError(f"Whisper needs 16 kHz audio, got {frame.sample_rate} Hz")
        return await asyncio.to_thread(self._transcribe, frame, language)
