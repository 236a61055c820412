"""Encode 16-bit mono PCM into the formats OpenAI's speech API answers in, chunk by chunk.

The compressed formats go through PyAV (FFmpeg's codecs in-process, no subprocess per
request). Encoding is CPU work: callers on the event loop run `encode`/`finish` in a thread.

Containers follow OpenAI's: mp3, opus in Ogg, AAC in ADTS, FLAC, WAV, raw pcm (s16le).
"""

from __future__ import annotations

import io
import struct
from typing import TYPE_CHECKING, Literal, cast

import av
import numpy as np

from agent_core.audio.frames import SAMPLE_WIDTH

if TYPE_CHECKING:
    from _typeshed import ReadableBuffer
    from av.audio.stream import AudioStream

SpeechFormat = Literal["mp3", "opus", "aac", "flac", "wav", "pcm"]
SPEECH_FORMATS: tuple[str, ...] = ("mp3", "opus", "aac", "flac", "wav", "pcm")

MEDIA_TYPES: dict[str, str] = {
    "mp3": "audio/mpeg",
    "opus": "audio/ogg; codecs=opus",
    "aac": "audio/aac",
    "flac": "audio/flac",
    "wav": "audio/wav",
    "pcm": "audio/pcm",
}

# format -> (FFmpeg muxer, FFmpeg encoder)
_CODECS: dict[str, tuple[str, str]] = {
    "mp3": ("mp3", "libmp3lame"),
    "opus": ("ogg", "libopus"),
    "aac": ("adts", "aac"),
    "flac": ("flac", "flac"),
}


def wav_header(sample_rate: int, data_bytes: int | None) -> bytes:
    """A 16-bit mono WAV header; `data_bytes` None writes the sizes at their maximum, as ffmpeg does
    for a stream whose length is not known yet."""
    unknown = 0xFFFFFFFF
    riff_size = unknown if data_bytes is None else 36 + data_bytes
    data_size = unknown if data_bytes is None else data_bytes
    fmt = struct.pack("<HHIIHH", 1, 1, sample_rate, sample_rate * SAMPLE_WIDTH, SAMPLE_WIDTH, 16)
    return (b"RIFF" + struct.pack("<I", riff_size) + b"WAVEfmt " + struct.pack("<I", 16) + fmt
            + b"data" + struct.pack("<I", data_size))


class _Sink(io.RawIOBase):
    """Where the muxer writes; drained after every chunk. Not seekable, so muxers never rewrite."""

    def __init__(self) -> None:
        self.buffer = bytearray()

    def writable(self) -> bool:
        return True

    def write(self, data: ReadableBuffer, /) -> int:
        view = memoryview(data)
        self.buffer += view
        return view.nbytes

    def take(self) -> bytes:
        out = bytes(self.buffer)
        self.buffer.clear()
        return out


class AudioEncoder:
    """PCM in, one container's bytes out as soon as the codec has them.

    wav here is the streamed kind (header sizes unknown); a caller that holds the whole
    audio writes an exact header with `wav_header(rate, len(pcm))` instead.
    """

    def __init__(self, fmt: str, sample_rate: int) -> None:
        if fmt not in SPEECH_FORMATS:
            raise ValueError(f"unknown audio format {fmt!r}; use one of {', '.join(SPEECH_FORMATS)}")
        self.format, self.sample_rate = fmt, sample_rate
        self._header_due = fmt == "wav"
        self._sink: _Sink | None = None
        if fmt in _CODECS:
            muxer, codec = _CODECS[fmt]
            self._sink = _Sink()
            self._container = av.open(self._sink, mode="w", format=muxer)
            # An audio encoder, so an audio stream (PyAV types a codec named at run time as any stream).
            self._stream = cast("AudioStream", self._container.add_stream(codec, rate=sample_rate, layout="mono"))
            self._pts = 0

    def encode(self, pcm: bytes) -> bytes:
        if self.format in _CODECS and self._sink is None:
            raise RuntimeError("the encoder is finished or closed")
        if self._sink is None:
            if self._header_due:
                self._header_due = False
                return wav_header(self.sample_rate, None) + pcm
            return pcm
        samples = np.frombuffer(pcm, dtype="<i2").reshape(1, -1)
        frame = av.AudioFrame.from_ndarray(samples, format="s16", layout="mono")
        frame.sample_rate, frame.pts = self.sample_rate, self._pts
        self._pts += samples.shape[1]
        for packet in self._stream.encode(frame):
            self._container.mux(packet)
        return self._sink.take()

    def finish(self) -> bytes:
        """The codec's tail and the container's trailer; the encoder is spent afterwards."""
        if self.format not in _CODECS:
            return self.encode(b"") if self._header_due else b""
        if self._sink is None:
            raise RuntimeError("the encoder is finished or closed")
        for packet in self._stream.encode(None):
            self._container.mux(packet)
        self._container.close()
        tail, self._sink = self._sink.take(), None
        return tail

    def close(self) -> None:
        """Release the codec without finishing (idempotent; nothing to do once finished)."""
        if self._sink is not None:
            self._container.close()
            self._sink = None
