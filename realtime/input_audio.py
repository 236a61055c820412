"""The input audio buffer: appended audio, turn detection, and the utterance each commit hands over.

With `server_vad`/`semantic_vad` the buffer is Parley's Listener (Silero VAD, Parley's turn
policy, the STT fed from speech onset with its pre-roll): a turn end commits it. With turn
detection off (`null`), audio accumulates in one STT stream until the client commits or clears.
Time is counted in milliseconds of appended audio, as the API's `audio_start_ms` are.
"""

from __future__ import annotations

import logging
from dataclasses import dataclass

from agent_core.audio.frames import AudioFrame
from agent_core.audio.resample import StreamResampler
from agent_core.listener import Listener
from agent_core.stt.base import STT_SAMPLE_RATE, SpeechToText, SttStream
from agent_core.turns import TurnSettings, TurnSignal
from agent_core.vad import SileroVad
from realtime.protocol import ProtocolError
from realtime.session_config import TurnDetection

log = logging.getLogger(__name__)
MIN_COMMIT_MS = 100  # OpenAI refuses to commit less than 100 ms of audio; so does Parley


@dataclass(frozen=True)
class SpeechStarted:
    audio_start_ms: int


@dataclass(frozen=True)
class SpeechStopped:
    audio_end_ms: int
    seconds_ago: float  # how long before the append that revealed it the speech ended
    utterance: SttStream | None  # None: the STT stream failed to open at speech onset


InputSignal = SpeechStarted | SpeechStopped


class InputBuffer:
    def __init__(self, stt: SpeechToText, vad: SileroVad, base_turn: TurnSettings, language: str | None) -> None:
        self._stt, self._vad, self._base_turn = stt, vad, base_turn
        self.language = language  # what the STT listens for (the session's transcription.language)
        self._detection: TurnDetection | None = None
        self._listener: Listener | None = None
        self._manual: SttStream | None = None
        self._manual_ms = 0
        self._resampler: StreamResampler | None = None
        self.audio_ms = 0  # all audio appended so far
        self.speech_start_ms = 0  # where the speech being heard began

    def configure(self, detection: TurnDetection | None) -> list[SttStream]:
        """Apply a session's turn detection; returns the STT streams of dropped audio, to close.

        Uncommitted audio is kept unless the detection settings change."""
        if detection == self._detection:
            return []
        self._detection = detection
        return self.clear()

    def _new_listener(self) -> Listener | None:
        detection = self._detection
        if detection is None:
            return None
        turn = self._base_turn.model_copy(update={"end_of_turn_silence_ms": detection.silence_duration_ms})
        return Listener("user", self._vad, turn, detection.prefix_padding_ms)

    def append(self, frame: AudioFrame) -> list[InputSignal]:
        """Audio in the session's input format, decoded; returns what turn detection saw, oldest first."""
        self.audio_ms += round(frame.duration_s * 1000)
        if self._listener is None:
            self._append_manual(frame)
            return []
        signals: list[InputSignal] = []
        for heard in self._listener.hear(frame):
            at_ms = self.audio_ms - round(heard.seconds_ago * 1000)
            if heard.signal is TurnSignal.SPEECH_STARTED:
                try:
                    self._listener.start_utterance(self._stt.open_stream(language=self.language))
                except Exception:  # reported as a failed transcription when the turn ends
                    log.exception("the STT stream could not open")
                self.speech_start_ms = at_ms
                signals.append(SpeechStarted(at_ms))
            else:
                signals.append(SpeechStopped(at_ms, heard.seconds_ago, self._listener.end_utterance()))
        return signals

    def _append_manual(self, frame: AudioFrame) -> None:
        if self._resampler is None or self._resampler.in_rate != frame.sample_rate:
            self._resampler = StreamResampler(frame.sample_rate, STT_SAMPLE_RATE)
        if self._manual is None:
            self._manual = self._stt.open_stream(language=self.language)
            self._manual_ms = 0
        self._manual.push(self._resampler.process(frame))
        self._manual_ms += round(frame.duration_s * 1000)

    def commit(self) -> tuple[SttStream, int]:
        """The client's `input_audio_buffer.commit`: everything uncommitted becomes one utterance.

        Returns it with its length in ms."""
        if self._listener is not None:
            utterance = self._listener.end_utterance()
            if utterance is None:
                raise ProtocolError("input_audio_buffer_commit_empty", "no speech in the buffer to commit")
            self._listener = self._new_listener()  # the next turn starts from silence
            return utterance, self.audio_ms - self.speech_start_ms
        if self._manual is None or self._manual_ms < MIN_COMMIT_MS:
            raise ProtocolError("input_audio_buffer_commit_empty",
                                f"buffer too small: expected at least {MIN_COMMIT_MS} ms of audio, "
                                f"have {self._manual_ms if self._manual else 0} ms")
        utterance, self._manual = self._manual, None
        self._resampler = None
        return utterance, self._manual_ms

    def clear(self) -> list[SttStream]:
        """Drop uncommitted audio; returns the STT streams to close."""
        dropped = [s for s in (self._manual, self._listener.end_utterance() if self._listener else None) if s]
        self._manual, self._manual_ms, self._resampler = None, 0, None
        self._listener = self._new_listener()
        return dropped
