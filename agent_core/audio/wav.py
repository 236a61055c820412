"""WAV files in and out (16-bit PCM), through the standard library."""

from __future__ import annotations

import wave
from pathlib import Path

import numpy as np

from agent_core.audio.frames import SAMPLE_WIDTH, AudioFrame


class WavFormatError(ValueError):
    """The file is not a WAV Parley can read (16-bit PCM, mono or stereo)."""


def read_wav(path: str | Path) -> AudioFrame:
    """Read a 16-bit PCM WAV; stereo is mixed down to mono."""
    try:
        with wave.open(str(path), "rb") as wav:
            channels, width, rate = wav.getnchannels(), wav.getsampwidth(), wav.getframerate()
            data = wav.readframes(wav.getnframes())
    except (wave.Error, EOFError) as exc:
        raise WavFormatError(f"{path}: not a readable WAV file ({exc})") from exc
    if width != SAMPLE_WIDTH:
        raise WavFormatError(f"{path}: {8 * width}-bit samples; Parley reads 16-bit PCM WAV")
    if channels == 1:
        return AudioFrame(data, rate)
    samples = np.frombuffer(data, dtype="<i2").reshape(-1, channels).astype(np.int32)
    return AudioFrame(samples.mean(axis=1).astype("<i2").tobytes(), rate)


def write_wav(path: str | Path, frame: AudioFrame) -> None:
    with wave.open(str(path), "wb") as wav:
        wav.setnchannels(1)
        wav.setsampwidth(SAMPLE_WIDTH)
        wav.setframerate(frame.sample_rate)
        wav.writeframes(frame.pcm)
