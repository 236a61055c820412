"""Voice clips uploaded in Discord for voice cloning: checked and converted here, stored by the TTS backend.

Everything here blocks (decoding); callers on the event loop run it through `asyncio.to_thread`.
"""

from __future__ import annotations

from agent_core.audio.voice_clip import (
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
    "prepare_voice_clip",
    "validate_clip_name",
]
