"""The playback queue between the Session and a channel, with "heard" accounting.

The Session puts reply audio here at the channel's rate; the adapter takes it,
plays it, and reports back which chunks were actually played (a Twilio mark
echo, a Discord frame handed to the player). Only what was played counts as
heard, and only heard text goes into the conversation history.
"""

from __future__ import annotations

import asyncio
import itertools
from collections import deque
from dataclasses import dataclass, field

from agent_core.audio.frames import AudioFrame

# Used to guess how long a sentence will be while the TTS is still speaking it.
SPOKEN_CHARS_PER_SECOND = 14.0


@dataclass(eq=False)
class Segment:
    """One sentence of a reply and how much of its audio was played."""

    text: str
    sample_rate: int
    produced_samples: int = 0
    played_samples: int = 0
    complete: bool = False  # the TTS has finished this sentence

    @property
    def fully_played(self) -> bool:
        return self.complete and 0 < self.produced_samples <= self.played_samples

    def heard_words(self) -> str:
        if self.fully_played:
            return self.text
        expected = self.produced_samples
        if not self.complete:
            expected = max(expected, int(len(self.text) / SPOKEN_CHARS_PER_SECOND * self.sample_rate))
        if expected <= 0 or self.played_samples <= 0:
            return ""
        words = self.text.split()
        count = int(len(words) * min(1.0, self.played_samples / expected))
        return " ".join(words[:count])


@dataclass(eq=False)
class SpokenReply:
    """Everything the agent said (or meant to say) in one turn."""

    turn: int
    text: str = ""  # all text the model produced, spoken or not
    segments: list[Segment] = field(default_factory=list)
    generation_done: bool = False
    finished: bool = False
    handed_out: bool = False  # the first chunk reached the channel
    remember: bool = True  # goes into the LLM's history once heard

    def heard_text(self) -> str:
        heard: list[str] = []
        for segment in self.segments:
            if segment.complete and segment.produced_samples == 0:
                continue  # the TTS failed on it: nothing was there to hear
            words = segment.heard_words()
            if words:
                heard.append(words)
            if not segment.fully_played:
                break
        return " ".join(heard)

    @property
    def all_played(self) -> bool:
        return self.generation_done and all(s.fully_played or s.produced_samples == 0 for s in self.segments)


@dataclass(frozen=True, eq=False)
class PlaybackChunk:
    id: int
    frame: AudioFrame
    reply: SpokenReply
    segment: Segment


class PlaybackQueue:
    def __init__(self) -> None:
        self._chunks: deque[PlaybackChunk] = deque()
        self._ready = asyncio.Event()
        self._ids = itertools.count(1)
        self._held = False  # a barge-in is being judged: hand nothing out meanwhile

    def put(self, frame: AudioFrame, reply: SpokenReply, segment: Segment) -> PlaybackChunk:
        chunk = PlaybackChunk(next(self._ids), frame, reply, segment)
        segment.produced_samples += frame.samples
        self._chunks.append(chunk)
        self._ready.set()
        return chunk

    async def get(self) -> PlaybackChunk:
        while self._held or not self._chunks:
            self._ready.clear()
            await self._ready.wait()
        return self._chunks.popleft()

    def get_nowait(self) -> PlaybackChunk | None:
        return self._chunks.popleft() if self._chunks and not self._held else None

    def hold(self) -> None:
        self._held = True

    def take_all(self) -> list[PlaybackChunk]:
        taken = list(self._chunks)
        self._chunks.clear()
        return taken

    def release(self, front: list[PlaybackChunk]) -> None:
        """End a hold, playing `front` (chunks taken back earlier) before what came since."""
        self._chunks.extendleft(reversed(front))
        self._held = False
        if self._chunks:
            self._ready.set()

    def clear(self) -> int:
        """Drop everything not yet taken by the channel; returns how many chunks."""
        dropped = len(self._chunks)
        self._chunks.clear()
        return dropped

    def __len__(self) -> int:
        return len(self._chunks)
