"""Reference clips for voice cloning: a folder of WAV files, one per voice name.

Shared voices lie at the top (`<name>.wav`); a namespace's own in its folder
(`<namespace>/<name>.wav`, the voice `namespace/name`). Kept apart from the TTS engine: storing and checking clips needs no model and no GPU.
"""

from __future__ import annotations

import io
import re
import wave
from pathlib import Path

from agent_core.tts.base import NAMESPACE_SEPARATOR

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
        """Every voice: shared ones, then `namespace/name` for each namespace's."""
        if not self.directory:
            return []
        shared = sorted(p.stem for p in self.directory.glob("*.wav"))
        owned = sorted(f"{p.parent.name}{NAMESPACE_SEPARATOR}{p.stem}" for p in self.directory.glob("*/*.wav")
                       if VOICE_NAME.match(p.parent.name))
        return shared + owned

    def _file(self, name: str) -> Path | None:
        """Where voice `name` lives; None for a name that could leave the directory."""
        directory = self.directory
        parts = name.split(NAMESPACE_SEPARATOR) if directory and name else []
        if directory is None or not 1 <= len(parts) <= 2 or not all(VOICE_NAME.match(part) for part in parts):
            return None
        return directory.joinpath(*parts[:-1], f"{parts[-1]}.wav")

    def path(self, name: str) -> Path:
        path = self._file(name)
        if path is None or not path.exists():
            raise KeyError(f"unknown voice {name!r}")
        return path

    def store(self, name: str, wav_bytes: bytes) -> Path:
        """Keep a 3-30 s reference clip as <directory>/<name>.wav (or <directory>/<namespace>/<name>.wav)."""
        path = self._file(name)
        if path is None:
            raise ValueError("need voices_dir and a name of letters, digits, '_' or '-' (with one namespace/ before it)")
        seconds = clip_seconds(wav_bytes)
        if not MIN_CLIP_S <= seconds <= MAX_CLIP_S:
            raise ValueError(f"reference clip must be 3-30 s, got {seconds:.1f} s")
        path.parent.mkdir(parents=True, exist_ok=True)
        partial = path.with_suffix(".wav.tmp")
        partial.write_bytes(wav_bytes)
        partial.replace(path)  # atomic: a half-written clip is never loaded
        return path
