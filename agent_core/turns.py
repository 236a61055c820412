"""End-of-turn decisions for one speaker, from VAD probabilities.

This is the only place that decides when a speaker started talking and when
their turn is over. Time is counted in audio milliseconds, not wall clock, so
the decision is the same whether audio arrives in real time or in a burst.
"""

from __future__ import annotations

import enum

from pydantic import BaseModel, ConfigDict


class TurnSettings(BaseModel):
    model_config = ConfigDict(frozen=True)

    # Probability above which a window counts as speech. Silero's own default.
    speech_threshold: float = 0.5
    # Below this a window counts as silence; the gap between the two thresholds
    # keeps a soft syllable from flapping the state.
    silence_threshold: float = 0.35
    # Speech shorter than this is a cough or a click, not a turn (and not a barge-in).
    min_speech_ms: int = 200
    # Trailing silence that ends a turn. Shorter answers sooner but cuts people
    # off mid-thought; 500 ms is the usual compromise for phone conversations.
    end_of_turn_silence_ms: int = 500
    # A backend that predicts the end of a turn (Kyutai STT's pause probability)
    # may end it after this much silence once its probability passes the threshold.
    semantic_end_of_turn_threshold: float = 0.6
    semantic_min_silence_ms: int = 160
    # Tell the STT that the speaker paused this far into a silence, so a batch
    # backend (Whisper) can start transcribing before the turn is over; if the
    # turn then ends, the transcript is (nearly) ready. 0 = never.
    early_transcript_silence_ms: int = 200


class TurnSignal(enum.Enum):
    SPEECH_STARTED = "speech_started"  # confirmed speech (min_speech_ms reached)
    TURN_ENDED = "turn_ended"  # enough trailing silence after confirmed speech


class TurnDetector:
    def __init__(self, settings: TurnSettings, window_ms: int) -> None:
        self.settings = settings
        self.window_ms = window_ms
        self.in_speech = False  # confirmed speech in progress (a turn is open)
        self._speech_run_ms = 0  # consecutive speech before confirmation
        self._silence_ms = 0  # trailing silence inside an open turn
        self._pause_probability = 0.0
        # Silence that closed the last turn: the speaker stopped this long before TURN_ENDED.
        self.ended_after_silence_ms = 0

    @property
    def silence_ms(self) -> int:
        """Trailing silence so far in the open turn; the speech ended this long ago."""
        return self._silence_ms

    def set_pause_probability(self, probability: float) -> None:
        """Hint from a backend that predicts the end of a turn; 0..1."""
        self._pause_probability = probability

    def process(self, probability: float) -> TurnSignal | None:
        s = self.settings
        if not self.in_speech:
            if probability >= s.speech_threshold:
                self._speech_run_ms += self.window_ms
                if self._speech_run_ms >= s.min_speech_ms:
                    self.in_speech = True
                    self._silence_ms = 0
                    self._pause_probability = 0.0
                    return TurnSignal.SPEECH_STARTED
            elif probability < s.silence_threshold:
                self._speech_run_ms = 0
            return None

        if probability >= s.speech_threshold:
            self._silence_ms = 0
        elif probability < s.silence_threshold:
            self._silence_ms += self.window_ms
        # Between the thresholds: neither resets nor extends the silence.
        if self._silence_ms >= s.end_of_turn_silence_ms or (
            self._silence_ms >= s.semantic_min_silence_ms
            and self._pause_probability >= s.semantic_end_of_turn_threshold
        ):
            self.ended_after_silence_ms = self._silence_ms
            self.in_speech = False
            self._speech_run_ms = 0
            self._silence_ms = 0
            return TurnSignal.TURN_ENDED
        return None
