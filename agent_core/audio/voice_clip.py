"""Reference clips for voice cloning: decode an upload, check it is 3-30 s of audible speech.

Blocking (ffmpeg): callers on the event loop run it through `asyncio.to_thread`.
"""

from __future__ import annotations

import io
import re
import wave

from agent_core.audio import SAMPLE_WIDTH, AudioFrame
from agent_core.audio.resample import resample
from agent_core.audio.uploads import AudioDecodeError, decode_segment

CLIP_SAMPLE_RATE = 24_000
MIN_SECONDS = 3.0
MAX_SECONDS = 30.0
# RMS loudness below this is room noise or a muted mic, not a voice.
SILENCE_DBFS = -45.0
MAX_UPLOAD_BYTES = 20 * 1024 * 1024

CLIP_NAME = re.compile(r"[A-Za-z0-9_-]{1,32}")


class VoiceClipError(ValueError):
    """The clip cannot be used; the message is shown to the user."""


def validate_clip_name(name: str) -> str:
    if not CLIP_NAME.fullmatch(name):
        raise VoiceClipError("Voice names use 1-32 letters, digits, '-' or '_' (no spaces).")
    return name


def prepare_voice_clip(data: bytes, filename: str) -> bytes:
    """Decode an uploaded clip to 16-bit PCM mono 24 kHz WAV bytes; raise VoiceClipError if unusable."""
    if len(data) > MAX_UPLOAD_BYTES:
        raise VoiceClipError(f"{filename} is larger than {MAX_UPLOAD_BYTES // (1024 * 1024)} MB.")
    try:
        segment = decode_segment(data, filename, max_seconds=MAX_SECONDS)
    except AudioDecodeError as exc:
        raise VoiceClipError(str(exc)) from exc

    seconds = len(segment) / 1000
    if seconds < MIN_SECONDS:
        raise VoiceClipError(f"{filename} is {seconds:.1f} s long; a voice clip needs at least {MIN_SECONDS:.0f} s.")
    if seconds > MAX_SECONDS:
        raise VoiceClipError(f"{filename} is longer than {MAX_SECONDS:.0f} s; trim it to 3-30 s of clear speech.")

    if segment.dBFS < SILENCE_DBFS:
        raise VoiceClipError(f"{filename} is nearly silent ({segment.dBFS:.0f} dBFS); record closer to the microphone.")

    frame = resample(AudioFrame(segment.raw_data, segment.frame_rate), CLIP_SAMPLE_RATE)
    out = io.BytesIO()
    with wave.open(out, "wb") as wav:
        wav.setnchannels(1)
        wav.setsampwidth(SAMPLE_WIDTH)
        wav.setframerate(CLIP_SAMPLE_RATE)
        wav.writeframes(frame.pcm)
    return out.getvalue()
