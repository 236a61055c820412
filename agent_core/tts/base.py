"""The text-to-speech seam: text in, PCM chunks out as soon as each is ready."""

from __future__ import annotations

from abc import ABC, abstractmethod
from collections.abc import AsyncIterator

from agent_core.audio.frames import AudioFrame


class TextToSpeech(ABC):
    name: str = "tts"
    # Whether the backend can speak in a voice cloned from a reference clip.
    can_clone: bool = False

    def voice_names(self) -> list[str]:
        """The voices this backend can speak in."""
        return []

    async def load(self) -> None:
        """Load models or open connections; called once, before the first synthesis."""

    @abstractmethod
    def synthesize(self, text: str, *, voice: str | None = None) -> AsyncIterator[AudioFrame]:
        """Speak `text`; frames may come at any sample rate (each carries its own)."""

    async def aclose(self) -> None:
        pass
