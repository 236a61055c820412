"""The speech-to-text seam: push PCM, get partial and final text."""

from __future__ import annotations

from abc import ABC, abstractmethod
from collections.abc import Callable

from agent_core.audio.frames import AudioFrame
from agent_core.stt.transcript import Segment, Transcript

STT_SAMPLE_RATE = 16000  # what the Session pushes; backends resample if they need another rate


class SttStream(ABC):
    """One utterance of one speaker, from speech onset to end of turn."""

    def __init__(self) -> None:
        # Set by the Session. A backend calls them from the event loop thread.
        self.on_partial: Callable[[str], None] | None = None
        self.on_pause_probability: Callable[[float], None] | None = None

    @abstractmethod
    def push(self, frame: AudioFrame) -> None:
        """Add 16 kHz audio. Called on the audio path: must return at once."""

    def speaker_paused(self) -> None:
        """The speaker has been silent for a moment; the turn may be ending.

        A backend that transcribes in one go may start now and use that result
        if no more speech arrives. Streaming backends ignore this.
        """

    @abstractmethod
    async def finish(self) -> str:
        """No more audio: return the final transcript of everything pushed."""

    async def aclose(self) -> None:
        """Abandon the utterance (the Session no longer needs its text)."""


class UnsupportedLanguageError(ValueError):
    """A language the backend cannot transcribe: the caller's mistake, refused with the ones it can."""

    def __init__(self, language: str, backend: str, known: tuple[str, ...]) -> None:
        super().__init__(f"{backend} cannot transcribe language {language!r}; it knows: {', '.join(known)}")
        self.language, self.backend, self.known = language, backend, known


class SpeechToText(ABC):
    name: str = "stt"
    # The ISO 639-1 codes the backend transcribes; None where it has not said (any code is passed on).
    languages: tuple[str, ...] | None = None
    # Whether `transcribe_recording` can time each word.
    times_words: bool = False

    def check_language(self, language: str | None) -> None:
        if language is not None and self.languages is not None and language not in self.languages:
            raise UnsupportedLanguageError(language, self.name, self.languages)

    async def load(self) -> None:
        """Load models or open connections; called once, before the first stream."""

    @abstractmethod
    def open_stream(self, *, language: str | None = None) -> SttStream: ...

    async def transcribe_recording(
        self, audio: AudioFrame, *, language: str | None = None, words: bool = False
    ) -> Transcript:
        """A whole 16 kHz recording. This default goes through a stream and has no timing, so
        the transcript is one segment spanning the recording; engines that time text override it."""
        self.check_language(language)
        stream = self.open_stream(language=language)
        try:
            for piece in audio.split(0.1):
                stream.push(piece)
            text = await stream.finish()
        finally:
            await stream.aclose()
        segments = [Segment(text, 0.0, audio.duration_s)] if text else []
        return Transcript(text, language or "", audio.duration_s, segments)

    async def aclose(self) -> None:
        pass
