"""An engine's audio as the service sends it: at the rate the client asked for, no empty chunks."""

from __future__ import annotations

from collections.abc import AsyncGenerator
from contextlib import aclosing

from agent_core.audio.frames import AudioFrame
from agent_core.audio.resample import StreamResampler


async def pcm_stream(frames: AsyncGenerator[AudioFrame, None], rate: int | None) -> AsyncGenerator[AudioFrame, None]:
    """The engine's frames at `rate` (None: the engine's own), skipping empty ones."""
    resampler: StreamResampler | None = None
    async with aclosing(frames):
        async for frame in frames:
            if rate and frame.sample_rate != rate:
                resampler = resampler or StreamResampler(frame.sample_rate, rate)
                frame = resampler.process(frame)
            if frame.samples:
                yield frame
    if resampler is not None:
        tail = resampler.flush()
        if tail.samples:
            yield tail
