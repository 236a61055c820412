"""One speaker's ear: resample to 16 kHz, VAD, turn detection, STT feed.

The Session keeps one Listener per speaker, so each speaker has their own VAD
state, silence counting and transcript, even when several talk at once.
"""

from __future__ import annotations

from collections import deque
from dataclasses import dataclass

from agent_core.audio.frames import AudioFrame
from agent_core.audio.resample import StreamResampler
from agent_core.stt.base import STT_SAMPLE_RATE, SttStream
from agent_core.turns import TurnDetector, TurnSettings, TurnSignal
from agent_core.vad import VAD_SAMPLE_RATE, WINDOW_MS, SileroVad

assert VAD_SAMPLE_RATE == STT_SAMPLE_RATE  # one resampled stream feeds both


@dataclass(frozen=True)
class Heard:
    """A turn signal with when it happened in the audio (seconds before `now`)."""

    signal: TurnSignal
    seconds_ago: float


class Listener:
    def __init__(self, speaker: str, vad: SileroVad, turn_settings: TurnSettings, preroll_ms: int) -> None:
        self.speaker = speaker
        self._vad = vad.stream()
        self.detector = TurnDetector(turn_settings, WINDOW_MS)
        self._resampler: StreamResampler | None = None
        # Audio from before VAD confirmed speech: the first syllable lives here.
        self._preroll: deque[AudioFrame] = deque()
        self._preroll_ms = preroll_ms
        self._preroll_samples = 0
        self.stt: SttStream | None = None
        self._told_paused = False

    def hear(self, frame: AudioFrame) -> list[Heard]:
        """Feed channel audio; returns turn signals, oldest first."""
        if self._resampler is None or self._resampler.in_rate != frame.sample_rate:
            self._resampler = StreamResampler(frame.sample_rate, STT_SAMPLE_RATE)
        audio = self._resampler.process(frame)
        if self.stt is not None:
            self.stt.push(audio)
        else:
            self._remember(audio)
        probabilities = self._vad.process(audio)
        heard = []
        for index, probability in enumerate(probabilities):
            signal = self.detector.process(probability)
            if signal is None:
                continue
            # Windows after this one in the same frame are later audio.
            later_ms = (len(probabilities) - 1 - index) * WINDOW_MS
            if signal is TurnSignal.SPEECH_STARTED:
                ago_ms = self.detector.settings.min_speech_ms + later_ms
            else:
                ago_ms = self.detector.ended_after_silence_ms + later_ms
            heard.append(Heard(signal, ago_ms / 1000.0))
        self._tell_pause()
        return heard

    def _tell_pause(self) -> None:
        after_ms = self.detector.settings.early_transcript_silence_ms
        silence_ms = self.detector.silence_ms
        if self.stt is None or not after_ms or not self.detector.in_speech:
            return
        if silence_ms >= after_ms and not self._told_paused:
            self._told_paused = True
            self.stt.speaker_paused()
        elif silence_ms < after_ms:
            self._told_paused = False

    def start_utterance(self, stream: SttStream) -> None:
        """Speech confirmed: open the transcript with the pre-roll audio."""
        stream.on_pause_probability = self.detector.set_pause_probability
        self._told_paused = False
        for frame in self._preroll:
            stream.push(frame)
        self._preroll.clear()
        self._preroll_samples = 0
        self.stt = stream

    def end_utterance(self) -> SttStream | None:
        stream, self.stt = self.stt, None
        return stream

    def _remember(self, audio: AudioFrame) -> None:
        self._preroll.append(audio)
        self._preroll_samples += audio.samples
        limit = self._preroll_ms * STT_SAMPLE_RATE // 1000
        while self._preroll and self._preroll_samples - self._preroll[0].samples >= limit:
            self._preroll_samples -= self._preroll.popleft().samples
