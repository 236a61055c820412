"""Stateful per-stream resampling.

One resampler per direction per stream: resampling chunk by chunk without
state produces clicks at every chunk edge. soxr's "QQ" (quick) preset emits
output for every input chunk; the high-quality presets hold back several
20 ms chunks and then burst, which adds latency on a live call.
"""

from __future__ import annotations

import numpy as np
import soxr

from agent_core.audio.frames import AudioFrame


class StreamResampler:
    def __init__(self, in_rate: int, out_rate: int, quality: str = "QQ") -> None:
        self.in_rate = in_rate
        self.out_rate = out_rate
        self._stream = (
            None if in_rate == out_rate else soxr.ResampleStream(in_rate, out_rate, 1, dtype="int16", quality=quality)
        )

    def process(self, frame: AudioFrame) -> AudioFrame:
        if frame.sample_rate != self.in_rate:
            raise ValueError(f"resampler expects {self.in_rate} Hz, got {frame.sample_rate} Hz")
        if self._stream is None:
            return frame
        out = self._stream.resample_chunk(np.frombuffer(frame.pcm, dtype="<i2"))
        return AudioFrame(out.tobytes(), self.out_rate)

    def flush(self) -> AudioFrame:
        """Emit what the filter still holds; call once at the end of the stream."""
        if self._stream is None:
            return AudioFrame(b"", self.out_rate)
        out = self._stream.resample_chunk(np.zeros(0, dtype="<i2"), last=True)
        return AudioFrame(out.tobytes(), self.out_rate)


def resample(frame: AudioFrame, out_rate: int) -> AudioFrame:
    """Resample a whole clip in one go (not for live streams)."""
    if frame.sample_rate == out_rate:
        return frame
    out = soxr.resample(np.frombuffer(frame.pcm, dtype="<i2"), frame.sample_rate, out_rate, quality="HQ")
    return AudioFrame(out.astype("<i2").tobytes(), out_rate)
