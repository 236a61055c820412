"""The text-to-speech seam: text in, PCM chunks out as soon as each is ready."""

from __future__ import annotations

from abc import ABC, abstractmethod
from collections.abc import AsyncGenerator

from pydantic import BaseModel

from agent_core.audio.frames import AudioFrame
from agent_core.tts.styles import (
    SpeechStyle as SpeechStyle,  # part of the seam; defined where the settings can import it light
)


class VoiceInfo(BaseModel):
    """One voice as the speech services list it (GET /v1/voices)."""

    name: str
    backend: str
    language: str | None = None  # BCP 47, "en-US"; None where the backend does not say
    clone: bool = False  # cloned from a user's clip, rather than one of the backend's own
    style: SpeechStyle = SpeechStyle()  # the values a request that sets none is spoken with
    # The style fields this backend acts on; it ignores the others.
    knobs: list[str] = []


class UnknownVoiceError(ValueError):
    """A voice name the backend does not have: refused by name, never replaced by another voice."""

    def __init__(self, voice: str, backend: str, known: list[str]) -> None:
        super().__init__(f"unknown voice {voice!r} for {backend}; known voices: {', '.join(known) or 'none'}")
        self.voice, self.backend, self.known = voice, backend, known


class UnsupportedStyleError(ValueError):
    """A style value outside what the backend can do (hibari's speed range, say): the caller's mistake."""


# A cloned voice belongs to one namespace (a Discord guild, say): "<namespace>/<name>". Voices
# without a namespace are the backend's own, shared by everyone.
NAMESPACE_SEPARATOR = "/"


def namespaced_voice(namespace: str, name: str) -> str:
    return f"{namespace}{NAMESPACE_SEPARATOR}{name}"


def voice_namespace(voice: str) -> str | None:
    namespace, separator, _ = voice.partition(NAMESPACE_SEPARATOR)
    return namespace if separator else None


def visible_voices(voices: list[str], namespace: str | None) -> list[str]:
    """The shared voices plus `namespace`'s own: what one namespace may see and use."""
    return [v for v in voices if voice_namespace(v) in (None, namespace)]


class TextToSpeech(ABC):
    name: str = "tts"
    # Whether the backend can speak in a voice cloned from a reference clip.
    can_clone: bool = False
    # The SpeechStyle fields the backend acts on.
    style_knobs: tuple[str, ...] = ()

    def voice_names(self) -> list[str]:
        """The voices this backend can speak in."""
        return []

    def describe_voice(self, name: str) -> VoiceInfo:
        """What the voice registry says about `name`; backends that know more override it."""
        return VoiceInfo(name=name, backend=self.name, clone=voice_namespace(name) is not None,
                         knobs=list(self.style_knobs))

    async def load(self) -> None:
        """Load models or open connections; called once, before the first synthesis."""

    async def refresh_voices(self) -> None:
        """Read the voice library again (a remote one may have been unreachable at `load`)."""

    @abstractmethod
    def synthesize(
        self, text: str, *, voice: str | None = None, style: SpeechStyle | None = None
    ) -> AsyncGenerator[AudioFrame, None]:
        """Speak `text`; frames may come at any sample rate (each carries its own)."""

    async def clone_voice(self, name: str, wav_bytes: bytes, *, namespace: str | None = None) -> str:
        """Store a voice cloned from a reference clip (16-bit WAV); only when `can_clone`.

        Returns the voice to synthesize with (`namespace/name` when namespaced).
        """
        raise NotImplementedError(f"{self.name} cannot clone voices")

    async def aclose(self) -> None:
        pass
