"""The speech-to-text seam: push PCM, get partial and final text."""

from __future__ import annotations

import asyncio
from abc import ABC, abstractmethod
from collections.abc import Callable

from agent_core.audio.frames import AudioFrame
from agent_core.errors import ProviderError, provider_stage
from agent_core.stt.transcript import Segment, Transcript

STT_SAMPLE_RATE = 16000  # what the Session pushes; backends resample if they need another rate


class SttStream(ABC):
    """One utterance of one speaker, from speech onset to end of turn."""

    def __init__(self) -> None:
        # Set by the Session. A backend calls them from the event loop thread.
        self.on_partial: Callable[[str], None] | None = None
        self.on_pause_probability: Callable[[float], None] | None = None
        # True once the backend sends pause probabilities (Kyutai STT): they are the audio
        # end-of-turn signal on its path, so Smart Turn need not run.
        self.predicts_pauses = False
        # The latest partial transcript a streaming backend sent (None: none yet).
        self.partial_text: str | None = None

    def heard_partial(self, text: str) -> None:
        """A streaming backend's partial transcript: kept for the turn policy, then passed on."""
        self.partial_text = text
        if self.on_partial is not None:
            self.on_partial(text)

    @abstractmethod
    def push(self, frame: AudioFrame) -> None:
        """Add 16 kHz audio. Called on the audio path: must return at once."""

    def speaker_paused(self) -> None:
        """The speaker has been silent for a moment; the turn may be ending.

        A backend that transcribes in one go may start now and use that result
        if no more speech arrives. Streaming backends ignore this.
        """

    async def text_so_far(self) -> str | None:
        """The transcript up to the current pause, for the end-of-turn text signal.

        Streaming backends have it already (the latest partial); a batch backend
        returns the transcript it started at `speaker_paused`. None: not known.
        """
        return self.partial_text

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


async def final_transcript(stream: SttStream | None, timeout_s: float) -> str:
    """The utterance's transcript, with every failure (none in time included) as a ProviderError."""
    if stream is None:
        raise ProviderError("stt", "no transcript stream (the STT provider failed at speech onset)")
    with provider_stage("stt", f"no transcript after {timeout_s:g} s"):
        async with asyncio.timeout(timeout_s):
            return await stream.finish()
