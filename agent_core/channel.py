"""What the Session needs from a channel adapter (Twilio, Discord, browser)."""

from __future__ import annotations

from typing import Protocol

from agent_core.audio.frames import AudioFrame
from agent_core.playback import PlaybackChunk


class Channel(Protocol):
    # The rate the channel plays at; the Session resamples replies to it.
    output_sample_rate: int

    async def flush(self) -> None:
        """Barge-in: drop audio already sent downstream (Twilio `clear`, Discord player buffer)."""


class AudioTap(Protocol):
    """Sees a conversation's audio as it happens (e.g. a recording); each call must return at once."""

    def speaker_audio(self, speaker: str, frame: AudioFrame) -> None:
        """A frame heard from a speaker, at the channel's rate, in arrival order."""

    def agent_audio_played(self, chunk: PlaybackChunk) -> None:
        """A chunk of the agent's voice the listener has heard (the channel confirmed it played)."""
