"""Voice clips uploaded in Discord: stored per guild for voice cloning.

Everything here blocks (disk); callers on the event loop run it through `asyncio.to_thread`.
"""

from __future__ import annotations

import os
import tempfile
from pathlib import Path

from agent_core.audio.voice_clip import (
    CLIP_NAME,
    CLIP_SAMPLE_RATE,
    MAX_SECONDS,
    MAX_UPLOAD_BYTES,
    MIN_SECONDS,
    VoiceClipError,
    prepare_voice_clip,
    validate_clip_name,
)

__all__ = [
    "CLIP_SAMPLE_RATE",
    "MAX_SECONDS",
    "MAX_UPLOAD_BYTES",
    "MIN_SECONDS",
    "VoiceClipError",
    "clip_path",
    "list_voice_clips",
    "prepare_voice_clip",
    "store_voice_clip",
    "validate_clip_name",
]


def clip_path(clips_dir: Path, guild_id: int, name: str) -> Path:
    return Path(clips_dir) / str(guild_id) / f"{validate_clip_name(name)}.wav"


def store_voice_clip(clips_dir: Path, guild_id: int, name: str, wav_bytes: bytes) -> Path:
    """Write clips_dir/<guild_id>/<name>.wav atomically (a reader never sees half a file); replaces an existing clip."""
    path = clip_path(clips_dir, guild_id, name)
    path.parent.mkdir(parents=True, exist_ok=True)
    fd, tmp = tempfile.mkstemp(dir=path.parent, prefix=f".{name}.", suffix=".tmp")
    try:
        with os.fdopen(fd, "wb") as f:
            f.write(wav_bytes)
            f.flush()
            os.fsync(f.fileno())
        os.replace(tmp, path)
    except BaseException:
        Path(tmp).unlink(missing_ok=True)
        raise
    return path


def list_voice_clips(clips_dir: Path, guild_id: int) -> list[str]:
    """Names of the clips stored for this guild, sorted."""
    folder = Path(clips_dir) / str(guild_id)
    if not folder.is_dir():
        return []
    return sorted(p.stem for p in folder.glob("*.wav") if CLIP_NAME.fullmatch(p.stem))
