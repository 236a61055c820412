"""Decode audio files that users upload with ffmpeg via pydub: what browsers record (webm/opus,
ogg/opus, mp4), what phones record (m4a, 3gp, caf, amr, aac) and mp3, wav, flac.

Blocking (ffmpeg runs as a subprocess): callers on the event loop use `asyncio.to_thread`.
"""

from __future__ import annotations

import io

from pydub import AudioSegment
from pydub.exceptions import CouldntDecodeError

from agent_core.audio.frames import SAMPLE_WIDTH, AudioFrame

SUPPORTED = "mp3, ogg/opus, webm, m4a/mp4/3gp, aac, caf, amr, wav or flac"


class AudioDecodeError(ValueError):
    """The upload is not usable audio; the message is meant for the user."""


def sniff_format(data: bytes) -> str | None:
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
    if data[4:8] == b"ftyp":  # MP4 family: m4a, mp4 audio, 3gp
        return "mp4"
    if data[:4] == b"\x1a\x45\xdf\xa3":  # EBML: WebM/Matroska, what MediaRecorder writes in Chrome and Firefox
        return "matroska"
    if data[:4] == b"caff":  # iOS voice memos and recordings
        return "caf"
    if data[:5] == b"#!AMR":  # older phones' voice notes
        return "amr"
    if len(data) > 1 and data[0] == 0xFF and data[1] & 0xF6 == 0xF0:  # ADTS AAC (layer bits 00, unlike mp3)
        return "aac"
    if data[:3] == b"ID3" or (len(data) > 1 and data[0] == 0xFF and data[1] & 0xE0 == 0xE0):
        return "mp3"
    return None


def decode_segment(data: bytes, filename: str, *, max_seconds: float | None = None) -> AudioSegment:
    """Mono 16-bit audio at the file's own rate; decoding stops just past `max_seconds`."""
    if not data:
        raise AudioDecodeError(f"{filename} is empty.")
    fmt = sniff_format(data)
    if fmt is None:
        raise AudioDecodeError(f"{filename} is not a supported audio file ({SUPPORTED}).")
    limit = {"duration": int(max_seconds) + 1} if max_seconds else {}
    try:
        segment = AudioSegment.from_file(io.BytesIO(data), format=fmt, **limit)
    except FileNotFoundError as exc:  # ffmpeg/ffprobe missing on the host
        raise AudioDecodeError("Cannot decode audio: ffmpeg is not installed on this host.") from exc
    except (CouldntDecodeError, IndexError, KeyError, ValueError, OSError) as exc:
        # IndexError/KeyError: ffprobe found no audio stream.
        raise AudioDecodeError(f"Could not decode {filename} as audio ({SUPPORTED} expected).") from exc
    return segment.set_channels(1).set_sample_width(SAMPLE_WIDTH)


def segment_frame(segment: AudioSegment) -> AudioFrame:
    return AudioFrame(segment.raw_data, segment.frame_rate)
