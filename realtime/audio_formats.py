"""The Realtime API's audio formats: `audio/pcm` (24 kHz), `audio/pcmu` and `audio/pcma` (G.711, 8 kHz).

Input bytes become AudioFrames; reply audio (at whatever rate the TTS speaks) becomes the
session's output format through one stateful resampler per response. G.711 goes through
audioop, as the telephony adapter's mu-law does.
"""

from __future__ import annotations

import warnings
from dataclasses import dataclass
from typing import Any

from agent_core.audio.frames import AudioFrame
from agent_core.audio.resample import StreamResampler
from realtime.protocol import ProtocolError

with warnings.catch_warnings():
    warnings.simplefilter("ignore", DeprecationWarning)
    import audioop


@dataclass(frozen=True)
class AudioFormat:
    type: str  # the GA name, e.g. "audio/pcmu"
    sample_rate: int
    bytes_per_sample: int

    def to_wire(self) -> dict[str, Any]:
        return {"type": self.type, "rate": self.sample_rate} if self.type == "audio/pcm" else {"type": self.type}

    def decode(self, payload: bytes) -> AudioFrame:
        """Client bytes in this format -> PCM16 at this format's rate."""
        if self.type == "audio/pcmu":
            return AudioFrame(audioop.ulaw2lin(payload, 2), self.sample_rate)
        if self.type == "audio/pcma":
            return AudioFrame(audioop.alaw2lin(payload, 2), self.sample_rate)
        if len(payload) % 2:
            raise ProtocolError("invalid_audio", "audio/pcm audio must be whole 16-bit samples")
        return AudioFrame(payload, self.sample_rate)

    def encode(self, frame: AudioFrame) -> bytes:
        """PCM16 at this format's rate -> bytes for the client."""
        if self.type == "audio/pcmu":
            return audioop.lin2ulaw(frame.pcm, 2)
        if self.type == "audio/pcma":
            return audioop.lin2alaw(frame.pcm, 2)
        return frame.pcm

    def duration_ms(self, byte_count: int) -> int:
        return byte_count // self.bytes_per_sample * 1000 // self.sample_rate


PCM = AudioFormat("audio/pcm", 24000, 2)
PCMU = AudioFormat("audio/pcmu", 8000, 1)
PCMA = AudioFormat("audio/pcma", 8000, 1)
_BY_NAME = {"audio/pcm": PCM, "audio/pcmu": PCMU, "audio/pcma": PCMA,
            # The beta protocol's names for the same formats.
            "pcm16": PCM, "g711_ulaw": PCMU, "g711_alaw": PCMA}


def parse_format(value: Any, param: str) -> AudioFormat:
    """A GA format object ({"type": "audio/pcm", "rate": 24000}) or a beta name ("pcm16")."""
    name = value.get("type") if isinstance(value, dict) else value
    found = _BY_NAME.get(name) if isinstance(name, str) else None
    if found is None:
        raise ProtocolError("invalid_value", f"unsupported audio format {value!r}: use audio/pcm (24000 Hz), "
                            "audio/pcmu or audio/pcma", param=param)
    rate = value.get("rate") if isinstance(value, dict) else None
    if rate is not None and rate != found.sample_rate:
        raise ProtocolError("invalid_value", f"{found.type} is {found.sample_rate} Hz, not {rate}", param=param)
    return found


class OutputEncoder:
    """Reply audio at any TTS rate -> the client's format, resampled without seams between frames."""

    def __init__(self, audio_format: AudioFormat) -> None:
        self.format = audio_format
        self._resampler: StreamResampler | None = None

    def encode(self, frame: AudioFrame) -> bytes:
        if self._resampler is None or self._resampler.in_rate != frame.sample_rate:
            self._resampler = StreamResampler(frame.sample_rate, self.format.sample_rate)
        return self.format.encode(self._resampler.process(frame))
