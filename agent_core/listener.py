"""One speaker's ear: resample to 16 kHz, VAD, turn detection, STT feed.

The Session keeps one Listener per speaker, so each speaker has their own VAD
state, silence counting and transcript, even when several talk at once. At a
pause the Listener asks its TurnJudge (off the event loop) and hands the
verdict to the detector; a turn that ends on a verdict is reported through
`on_late_signal`, since no audio frame is being processed then. So is every signal
when the VAD is batched (agent_core.vad_batch): its probabilities arrive after the frame.
"""

from __future__ import annotations

import asyncio
import logging
from collections import deque
from collections.abc import Callable
from dataclasses import dataclass

import numpy as np

from agent_core.audio.frames import AudioFrame
from agent_core.audio.resample import StreamResampler
from agent_core.smart_turn import SMART_TURN_MAX_SAMPLES, SMART_TURN_SAMPLE_RATE
from agent_core.stt.base import STT_SAMPLE_RATE, SttStream
from agent_core.turn_judge import PauseEvidence, TurnJudge
from agent_core.turns import TurnDetector, TurnSettings, TurnSignal, Verdict
from agent_core.vad import VAD_SAMPLE_RATE, WINDOW_MS, WINDOW_SAMPLES, SileroVad
from agent_core.vad_batch import VadBatch

assert VAD_SAMPLE_RATE == STT_SAMPLE_RATE == SMART_TURN_SAMPLE_RATE  # one resampled stream feeds all

log = logging.getLogger(__name__)


@dataclass(frozen=True)
class Heard:
    """A turn signal with when it happened in the audio (seconds before `now`)."""

    signal: TurnSignal
    seconds_ago: float


class Listener:
    def __init__(
        self,
        speaker: str,
        vad: SileroVad | VadBatch,
        turn_settings: TurnSettings,
        preroll_ms: int,
        judge: TurnJudge | None = None,
        on_late_signal: Callable[[Listener, Heard], None] | None = None,
    ) -> None:
        self.speaker = speaker
        self._vad = vad.stream(self._late_probabilities)
        self.detector = TurnDetector(turn_settings, WINDOW_MS)
        self._resampler: StreamResampler | None = None
        # Audio from before VAD confirmed speech: the first syllable lives here.
        self._preroll: deque[AudioFrame] = deque()
        self._preroll_ms = preroll_ms
        self._preroll_samples = 0
        # Audio the VAD has not judged yet (a batched VAD answers a tick later): kept in the
        # pre-roll on top of preroll_ms, or a burst of frames would lose the onset of speech.
        self._unjudged_samples = 0
        self.stt: SttStream | None = None
        self._told_paused = False
        self._judge = judge
        self._on_late_signal = on_late_signal
        self._judging: asyncio.Task[PauseEvidence] | None = None
        # The open turn's last 8 s (at least), for Smart Turn; joined only when asked.
        self._recent: deque[np.ndarray] = deque()
        self._recent_samples = 0
        self.last_evidence: PauseEvidence | None = None

    def hear(self, frame: AudioFrame) -> list[Heard]:
        """Feed channel audio; returns turn signals, oldest first."""
        if self._resampler is None or self._resampler.in_rate != frame.sample_rate:
            self._resampler = StreamResampler(frame.sample_rate, STT_SAMPLE_RATE)
        audio = self._resampler.process(frame)
        samples = audio.to_float32()  # once, for the VAD and Smart Turn's recent audio
        self._unjudged_samples += len(samples)
        probabilities = self._vad.process_samples(samples)
        self._vad_answered(len(probabilities))  # before the pre-roll is trimmed by what is still unjudged
        if self.stt is not None:
            self.stt.push(audio)
            self._keep_recent(samples)
        else:
            self._remember(audio)
        return self._decide(probabilities, 0.0)

    def _vad_answered(self, windows: int) -> None:
        self._unjudged_samples = max(0, self._unjudged_samples - windows * WINDOW_SAMPLES)

    def _late_probabilities(self, probabilities: list[float], waited_s: float) -> None:
        self._vad_answered(len(probabilities))
        for heard in self._decide(probabilities, waited_s):
            if self._on_late_signal is not None:
                self._on_late_signal(self, heard)

    def _decide(self, probabilities: list[float], waited_s: float) -> list[Heard]:
        """Run the turn detector over VAD results; `waited_s`: how long after its audio the last one came."""
        heard = []
        paused = False
        for index, probability in enumerate(probabilities):
            pause_before = self.detector.pause_id
            signal = self.detector.process(probability)
            if self.detector.pause_id != pause_before:
                self._stop_judging()  # speech resumed (or the turn ended): that pause's verdict is moot
            if signal is None:
                continue
            if signal is TurnSignal.PAUSED:
                paused = True
                continue
            # Windows after this one in the same frame are later audio.
            later_ms = (len(probabilities) - 1 - index) * WINDOW_MS
            if signal is TurnSignal.SPEECH_STARTED:
                ago_ms = self.detector.settings.min_speech_ms + later_ms
            else:
                ago_ms = self.detector.ended_after_silence_ms + later_ms
            heard.append(Heard(signal, ago_ms / 1000.0 + waited_s))
        self._tell_pause()  # first: Whisper's early transcript is what the text signal reads
        if paused and self.detector.in_speech:
            self._start_judging()
        return heard

    def _start_judging(self) -> None:
        pause_id = self.detector.pause_id
        if self._judge is None:
            self._apply(pause_id, Verdict.UNSURE)
            return
        settings = self.detector.settings
        self._judging = asyncio.create_task(
            self._judge.judge(settings, self._recent_audio(), self.stt, lambda verdict: self._apply(pause_id, verdict)),
            name=f"turn-judge-{self.speaker}",
        )
        self._judging.add_done_callback(self._judged)

    def _judged(self, task: asyncio.Task[PauseEvidence]) -> None:
        if task.cancelled():
            return
        if task.exception() is not None:  # never leave the turn waiting for a verdict that won't come
            log.warning("end-of-turn check failed: %s", task.exception())
            self._apply(self.detector.pause_id, Verdict.UNSURE)
            return
        self.last_evidence = task.result()
        log.debug("pause verdict for %s: %s", self.speaker, self.last_evidence)

    def _apply(self, pause_id: int, verdict: Verdict) -> None:
        silence_ms = self.detector.silence_ms
        if self.detector.set_verdict(pause_id, verdict) is TurnSignal.TURN_ENDED and self._on_late_signal is not None:
            self._on_late_signal(self, Heard(TurnSignal.TURN_ENDED, silence_ms / 1000.0))

    def _stop_judging(self) -> None:
        # Not from inside the judge itself: its verdict is what ended the turn.
        if self._judging is not None and not self._judging.done() and self._judging is not asyncio.current_task():
            self._judging.cancel()
        self._judging = None

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
            self._keep_recent(frame.to_float32())
        self._preroll.clear()
        self._preroll_samples = 0
        self.stt = stream

    def end_utterance(self) -> SttStream | None:
        self._stop_judging()
        self._recent.clear()
        self._recent_samples = 0
        stream, self.stt = self.stt, None
        return stream

    def drop_utterance(self) -> SttStream | None:
        """The open utterance was not a turn (a cough, an "uh-huh"): forget it; returns its stream."""
        self.detector.reset()
        return self.end_utterance()

    def _keep_recent(self, samples: np.ndarray) -> None:
        self._recent.append(samples)
        self._recent_samples += len(samples)
        while self._recent_samples - len(self._recent[0]) >= SMART_TURN_MAX_SAMPLES:
            self._recent_samples -= len(self._recent.popleft())

    def _recent_audio(self) -> np.ndarray:
        if not self._recent:
            return np.zeros(0, dtype=np.float32)
        return np.concatenate(self._recent)[-SMART_TURN_MAX_SAMPLES:]

    def _remember(self, audio: AudioFrame) -> None:
        self._preroll.append(audio)
        self._preroll_samples += audio.samples
        # Whole windows still waiting for the VAD; the part of a window not yet formed is "now".
        waiting = self._unjudged_samples // WINDOW_SAMPLES * WINDOW_SAMPLES
        limit = self._preroll_ms * STT_SAMPLE_RATE // 1000 + waiting
        while self._preroll and self._preroll_samples - self._preroll[0].samples >= limit:
            self._preroll_samples -= self._preroll.popleft().samples
