"""Voice clip decoding and naming, with real audio encoded by ffmpeg."""

from __future__ import annotations

import io
import shutil
import wave

import pytest
from pydub.generators import Sine

from bots.voice_clips import VoiceClipError, prepare_voice_clip, validate_clip_name

needs_ffmpeg = pytest.mark.skipif(shutil.which("ffmpeg") is None, reason="ffmpeg is not installed")


def tone(seconds: float, fmt: str = "wav", *, rate: int = 48000, channels: int = 2, volume_db: float = -12.0) -> bytes:
    """A 220 Hz tone encoded as `fmt` (ffmpeg does the encoding for everything but wav)."""
    segment = Sine(220, sample_rate=rate).to_audio_segment(duration=seconds * 1000, volume=volume_db)
    segment = segment.set_channels(channels)
    out = io.BytesIO()
    codec = {"ogg": "libopus", "m4a": "aac"}.get(fmt)
    segment.export(out, format="mp4" if fmt == "m4a" else fmt, codec=codec)
    return out.getvalue()


def wav_params(data: bytes) -> tuple[int, int, int, float]:
    with wave.open(io.BytesIO(data), "rb") as wav:
        return wav.getframerate(), wav.getnchannels(), wav.getsampwidth(), wav.getnframes() / wav.getframerate()


@needs_ffmpeg
@pytest.mark.parametrize("fmt", ["wav", "ogg", "mp3", "m4a"])
def test_prepare_converts_to_24k_mono_16bit(fmt: str) -> None:
    rate, channels, width, seconds = wav_params(prepare_voice_clip(tone(4, fmt), f"clip.{fmt}"))
    assert (rate, channels, width) == (24000, 1, 2)
    assert seconds == pytest.approx(4, abs=0.1)


def test_prepare_rejects_a_too_short_clip() -> None:
    with pytest.raises(VoiceClipError, match="at least 3 s"):
        prepare_voice_clip(tone(1.5), "short.wav")


@needs_ffmpeg
def test_prepare_rejects_a_too_long_clip() -> None:
    with pytest.raises(VoiceClipError, match="longer than 30 s"):
        prepare_voice_clip(tone(35, "ogg", rate=16000, channels=1), "long.ogg")


def test_prepare_rejects_a_nearly_silent_clip() -> None:
    with pytest.raises(VoiceClipError, match="nearly silent"):
        prepare_voice_clip(tone(4, volume_db=-60), "quiet.wav")


@pytest.mark.parametrize(
    "data",
    [
        b"this is not audio at all, just some text",
        b"#EXTM3U\n#EXTINF:10,\nfile:///etc/passwd\n",  # a playlist must never reach ffmpeg
        b"",
    ],
)
def test_prepare_rejects_what_is_not_audio(data: bytes) -> None:
    with pytest.raises(VoiceClipError, match="not a supported audio file|is empty"):
        prepare_voice_clip(data, "clip.mp3")


@needs_ffmpeg
def test_prepare_rejects_a_corrupt_file_with_an_audio_header() -> None:
    with pytest.raises(VoiceClipError, match="Could not decode"):
        prepare_voice_clip(b"OggS" + bytes(4000), "broken.ogg")


@pytest.mark.parametrize("name", ["", "has space", "../escape", "x" * 33, "dot.name", "guild-1/name"])
def test_bad_names_are_refused(name: str) -> None:
    with pytest.raises(VoiceClipError, match="1-32 letters"):
        validate_clip_name(name)
