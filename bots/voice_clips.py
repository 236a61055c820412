"""Uploaded voice clips: decode, validate and store the reference audio for voice cloning.

Everything here blocks (ffmpeg, disk); callers on the event loop run it through
`asyncio.to_thread`.
"""

from __future__ import annotations

import io
import os
import re
import tempfile
import wave
from pathlib import Path

from pydub import AudioSegment
from pydub.exceptions import CouldntDecodeError

from agent_core.audio import SAMPLE_WIDTH, AudioFrame
from agent_core.audio.resample import resample

CLIP_SAMPLE_RATE = 24_000
MIN_SECONDS = 3.0
MAX_SECONDS = 30.0
# RMS loudness below this is room noise or a muted mic, not a voice.
SILENCE_DBFS = -45.0
# Decoding stops a little past the limit, so a long upload is rejected without decoding all of it.
_DECODE_LIMIT_S = int(MAX_SECONDS) + 1
MAX_UPLOAD_BYTES = 20 * 1024 * 1024

_NAME = re.compile(r"[A-Za-z0-9_-]{1,32}")
SUPPORTED = "mp3, ogg/opus, m4a, wav or flac"


class VoiceClipError(ValueError):
    """The clip cannot be used; the message is shown to the user."""


def validate_clip_name(name: str) -> str:
    if not _NAME.fullmatch(name):
        raise VoiceClipError("Voice names use 1-32 letters, digits, '-' or '_' (no spaces).")
    return name


def _sniff_format(data: bytes) -> str | None:
    """The ffmpeg demuxer for `data`, from its magic bytes.

    ffmpeg is only ever handed a known audio container: left to probe, it would
    also accept playlists (HLS, concat) that make it open other files or URLs.
    """
    if data[:4] == b"RIFF" and data[8:12] == b"WAVE":
        return "wav"
    if data[:4] == b"OggS":
        return "ogg"
    if data[:4] == b"fLaC":
        return "flac"
    if data[4:8] == b"ftyp":  # MP4 family: m4a, mp4 audio
        return "mp4"
    if data[:3] == b"ID3" or (len(data) > 1 and data[0] == 0xFF and data[1] & 0xE0 == 0xE0):
        return "mp3"
    return None


def prepare_voice_clip(data: bytes, filename: str) -> bytes:
    """Decode an uploaded clip to 16-bit PCM mono 24 kHz WAV bytes; raise VoiceClipError if unusable."""
    if not data:
        raise VoiceClipError(f"{filename} is empty.")
    if len(data) > MAX_UPLOAD_BYTES:
        raise VoiceClipError(f"{filename} is larger than {MAX_UPLOAD_BYTES // (1024 * 1024)} MB.")
    fmt = _sniff_format(data)
    if fmt is None:
        raise VoiceClipError(f"{filename} is not a supported audio file ({SUPPORTED}).")
    try:
        segment = AudioSegment.from_file(io.BytesIO(data), format=fmt, duration=_DECODE_LIMIT_S)
    except FileNotFoundError as exc:  # ffmpeg/ffprobe missing on the host
        raise VoiceClipError("Cannot decode audio: ffmpeg is not installed on the bot's host.") from exc
    except (CouldntDecodeError, IndexError, KeyError, ValueError, OSError) as exc:
        # IndexError/KeyError: ffprobe found no audio stream.
        raise VoiceClipError(f"Could not decode {filename} as audio ({SUPPORTED} expected).") from exc

    seconds = len(segment) / 1000
    if seconds < MIN_SECONDS:
        raise VoiceClipError(f"{filename} is {seconds:.1f} s long; a voice clip needs at least {MIN_SECONDS:.0f} s.")
    if seconds > MAX_SECONDS:
        raise VoiceClipError(f"{filename} is longer than {MAX_SECONDS:.0f} s; trim it to 3-30 s of clear speech.")

    segment = segment.set_channels(1).set_sample_width(SAMPLE_WIDTH)
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
    return sorted(p.stem for p in folder.glob("*.wav") if _NAME.fullmatch(p.stem))
