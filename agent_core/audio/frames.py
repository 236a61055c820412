"""The one audio type that crosses module boundaries.

PCM is always signed 16-bit little-endian mono; the sample rate travels with
the bytes so no code ever has to guess it.
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np

SAMPLE_WIDTH = 2  # bytes per sample, s16le
AUDIBLE_RMS = 0.01  # -40 dBFS


@dataclass(frozen=True, slots=True)
class AudioFrame:
    pcm: bytes
    sample_rate: int

    def __post_init__(self) -> None:
        if self.sample_rate <= 0:
            raise ValueError(f"sample_rate must be positive, got {self.sample_rate}")
        if len(self.pcm) % SAMPLE_WIDTH:
            raise ValueError(f"PCM length {len(self.pcm)} is not a whole number of 16-bit samples")

    @property
    def samples(self) -> int:
        return len(self.pcm) // SAMPLE_WIDTH

    @property
    def duration_s(self) -> float:
        return self.samples / self.sample_rate

    @property
    def audible(self) -> bool:
        """Louder than -40 dBFS RMS: anything quieter counts as silence when looking for speech ends."""
        samples = self.to_float32()
        return bool(len(samples)) and float(np.sqrt(np.mean(samples**2))) > AUDIBLE_RMS

    def to_float32(self) -> np.ndarray:
        samples = np.frombuffer(self.pcm, dtype="<i2").astype(np.float32)
        samples *= 1.0 / 32768.0  # in place: half the time of a division into a new array, same values
        return samples

    @classmethod
    def from_float32(cls, samples: np.ndarray, sample_rate: int) -> AudioFrame:
        clipped = np.clip(samples, -1.0, 1.0 - 1.0 / 32768.0)
        return cls((clipped * 32768.0).astype("<i2").tobytes(), sample_rate)

    @classmethod
    def silence(cls, duration_s: float, sample_rate: int) -> AudioFrame:
        return cls(bytes(int(duration_s * sample_rate) * SAMPLE_WIDTH), sample_rate)

    def __add__(self, other: AudioFrame) -> AudioFrame:
        if other.sample_rate != self.sample_rate:
            raise ValueError(f"cannot join {self.sample_rate} Hz and {other.sample_rate} Hz audio")
        return AudioFrame(self.pcm + other.pcm, self.sample_rate)

    def split(self, duration_s: float) -> list[AudioFrame]:
        """Cut into pieces of `duration_s` (the last may be shorter)."""
        step = max(1, int(duration_s * self.sample_rate)) * SAMPLE_WIDTH
        return [AudioFrame(self.pcm[i : i + step], self.sample_rate) for i in range(0, len(self.pcm), step)]
