"""The contract between a channel adapter (Twilio, Discord, the in-process demo) and the core.

An adapter provides a `Channel`: the rate it plays at, and `flush` to drop what it has buffered
when someone talks over the agent. It opens its conversation with `Conversations.open` (which
builds the Session) and closes it with `Conversations.close` when the line, the voice connection
or the socket is gone. In between it

- feeds what it hears: `session.push_audio(speaker, frame)` (and `push_text` for keypresses);
- plays `async for chunk in session.audio_out()`: every chunk in order, never one of a reply that
  is finished or was interrupted;
- reports `session.audio_played(chunk)` once the listener has heard a chunk (Twilio's mark echo,
  Discord's player), which is how the record knows what was heard and where a reply was cut.

The Realtime API is the exception that proves the rule: its client decides when a turn ends and
a response starts, so it opens with `Conversations.open_client_driven` and reports its own events.
"""

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
