"""The bot's voice: a queue-backed discord.py AudioSource fed from asyncio.

discord.py's player thread calls `read()` every 20 ms and must never wait, so
`read()` only pops from a deque (atomic in CPython) and returns silence while
the next sentence is on its way. A chunk counts as heard once its last frame
was handed to the player; that is reported back to the event loop.
"""

from __future__ import annotations

import asyncio
from collections import deque
from collections.abc import Callable

import discord
import numpy as np

from agent_core.playback import PlaybackChunk

FRAME_BYTES = 3840  # 20 ms of 48 kHz stereo s16le, what read() must return
SILENCE = bytes(FRAME_BYTES)
LEAD_IN_FRAMES = 10  # 200 ms of silence before a reply: Discord clips the first words otherwise
IDLE_END_FRAMES = 50  # after 1 s with nothing to say, end the stream (the player stops, "speaking" goes off)


class QueuedAudioSource(discord.AudioSource):
    def __init__(self, loop: asyncio.AbstractEventLoop, on_played: Callable[[PlaybackChunk], None]) -> None:
        self._loop = loop
        self._on_played = on_played
        self._frames: deque[tuple[bytes, PlaybackChunk | None]] = deque()
        self._idle_frames = 0
        self.frames_played = 0

    def put(self, chunk: PlaybackChunk) -> None:
        """Queue one playback chunk (mono 48 kHz); called on the event loop."""
        if chunk.frame.sample_rate != 48000:
            raise ValueError(f"Discord plays 48 kHz, got {chunk.frame.sample_rate} Hz")
        stereo = np.repeat(np.frombuffer(chunk.frame.pcm, dtype="<i2"), 2).tobytes()
        stereo += bytes(-len(stereo) % FRAME_BYTES)
        pieces = [stereo[i : i + FRAME_BYTES] for i in range(0, len(stereo), FRAME_BYTES)]
        for index, piece in enumerate(pieces):
            self._frames.append((piece, chunk if index == len(pieces) - 1 else None))

    def start(self) -> None:
        """Call just before the player starts: playback opens with the lead-in silence."""
        self._idle_frames = 0
        self._frames.extendleft((SILENCE, None) for _ in range(LEAD_IN_FRAMES))

    def read(self) -> bytes:
        try:
            frame, finished_chunk = self._frames.popleft()
        except IndexError:
            self._idle_frames += 1
            return b"" if self._idle_frames > IDLE_END_FRAMES else SILENCE
        self._idle_frames = 0
        self.frames_played += 1
        if finished_chunk is not None:
            try:
                self._loop.call_soon_threadsafe(self._on_played, finished_chunk)
            except RuntimeError:  # the event loop has closed (shutdown): nobody is listening, stop playing
                self._frames.clear()
                return b""
        return frame

    def clear(self) -> int:
        """Barge-in: drop what has not been played."""
        dropped = len(self._frames)
        self._frames.clear()
        return dropped

    @property
    def queued(self) -> int:
        return len(self._frames)

    def is_opus(self) -> bool:
        return False
