"""A conversation's recording: the caller, and the agent as the caller heard it, on one clock.

A stereo 16-bit WAV at the channel's rate: left the caller, right the agent. The caller's audio
arrives in real time (a phone line's 20 ms frames, gaps already filled with silence by the
adapter), so the samples heard so far are the call's clock. A chunk of the agent's voice is
reported once it has played (Twilio echoes its mark then), so it is placed to end where that
clock stands, never overlapping the chunk before it. What the caller never heard (cut off by a
barge-in) never reaches the recording.
"""

from __future__ import annotations

import io
import wave
from typing import Protocol

import numpy as np

from agent_core.audio.frames import AudioFrame
from agent_core.audio.resample import resample
from agent_core.playback import PlaybackChunk

# Past this a recording stops growing (about 230 MB of memory at 8 kHz): a stuck call must
# not take the process's memory with it.
MAX_RECORDING_S = 4 * 3600


class Recording(Protocol):
    """What is kept of a conversation's audio once it is over."""

    truncated: bool  # it reached MAX_RECORDING_S and stopped growing

    @property
    def duration_s(self) -> float: ...

    def to_wav(self) -> bytes:
        """A stereo 16-bit WAV: left the user, right the agent as the user heard it."""
        ...


def stereo_wav(sample_rate: int, user: bytes, agent: list[tuple[int, bytes]]) -> bytes:
    """The user's PCM on the left, the agent's pieces (start sample, PCM) on the right."""
    user_samples = len(user) // 2
    length = max([user_samples, *(start + len(pcm) // 2 for start, pcm in agent)])
    stereo = np.zeros((length, 2), dtype="<i2")
    stereo[:user_samples, 0] = np.frombuffer(user, dtype="<i2")
    for start, pcm in agent:
        samples = np.frombuffer(pcm, dtype="<i2")
        stereo[start : start + len(samples), 1] = samples
    out = io.BytesIO()
    with wave.open(out, "wb") as wav:
        wav.setnchannels(2)
        wav.setsampwidth(2)
        wav.setframerate(sample_rate)
        wav.writeframes(stereo.tobytes())
    return out.getvalue()


class ConversationRecording:
    """An `AudioTap` (agent_core.channel): add it to a Session, then `to_wav()` once it has closed."""

    def __init__(self, sample_rate: int, *, max_seconds: float = MAX_RECORDING_S) -> None:
        self.sample_rate = sample_rate
        self._max_samples = int(max_seconds * sample_rate)
        self._caller = bytearray()
        self._agent: list[tuple[int, bytes]] = []  # (start sample, pcm)
        self._agent_end = 0
        self.truncated = False

    @property
    def caller_samples(self) -> int:
        return len(self._caller) // 2

    def speaker_audio(self, speaker: str, frame: AudioFrame) -> None:
        if frame.sample_rate != self.sample_rate:
            frame = resample(frame, self.sample_rate)
        room = (self._max_samples - self.caller_samples) * 2
        if room < len(frame.pcm):
            self.truncated = True
        self._caller += frame.pcm[: max(0, room)]

    def agent_audio_played(self, chunk: PlaybackChunk) -> None:
        frame = chunk.frame if chunk.frame.sample_rate == self.sample_rate else resample(chunk.frame, self.sample_rate)
        start = max(self._agent_end, self.caller_samples - frame.samples)
        if start + frame.samples > self._max_samples:
            self.truncated = True
            return
        self._agent.append((start, frame.pcm))
        self._agent_end = start + frame.samples

    @property
    def duration_s(self) -> float:
        return max(self.caller_samples, self._agent_end) / self.sample_rate

    def to_wav(self) -> bytes:
        return stereo_wav(self.sample_rate, bytes(self._caller), self._agent)
