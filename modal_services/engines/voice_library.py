"""Reference clips for voice cloning: a folder of WAV files, one per voice name.

Kept apart from the TTS engine: storing and checking clips needs no model and no GPU.
"""

from __future__ import annotations

import io
import re
import wave
from pathlib import Path

VOICE_NAME = re.compile(r"^[A-Za-z0-9_-]{1,64}$")
MIN_CLIP_S, MAX_CLIP_S = 3.0, 30.0  # shorter clips clone poorly; longer ones only cost time


def clip_seconds(wav_bytes: bytes) -> float:
    """Duration of a WAV clip; ValueError when it cannot be decoded."""
    try:
        try:
            import soundfile as sf

            return float(sf.info(io.BytesIO(wav_bytes)).duration)
        except ImportError:  # without soundfile: the standard library reads PCM WAV
            with wave.open(io.BytesIO(wav_bytes)) as w:
                return w.getnframes() / w.getframerate()
    except Exception as e:
        raise ValueError(f"not a decodable WAV: {e}") from e


class VoiceLibrary:
    def __init__(self, directory: str | Path | None) -> None:
        self.directory = Path(directory) if directory else None

    def names(self) -> list[str]:
        return sorted(p.stem for p in self.directory.glob("*.wav")) if self.directory else []

    def path(self, name: str) -> Path:
        path = self.directory / f"{name}.wav" if self.directory and name and VOICE_NAME.match(name) else None
        if path is None or not path.exists():
            raise KeyError(f"unknown voice {name!r}")
        return path

    def store(self, name: str, wav_bytes: bytes) -> Path:
        """Keep a 3-30 s reference clip as <directory>/<name>.wav."""
        if not self.directory or not VOICE_NAME.match(name):
            raise ValueError("need voices_dir and a name of letters, digits, '_' or '-'")
        seconds = clip_seconds(wav_bytes)
        if not MIN_CLIP_S <= seconds <= MAX_CLIP_S:
            raise ValueError(f"reference clip must be 3-30 s, got {seconds:.1f} s")
        self.directory.mkdir(parents=True, exist_ok=True)
        path = self.directory / f"{name}.wav"
        partial = path.with_suffix(".wav.tmp")
        partial.write_bytes(wav_bytes)
        partial.replace(path)  # atomic: a half-written clip is never loaded
        return path
