"""End-of-turn decisions for one speaker: VAD probabilities in, turn signals out.

This is the only place that decides when a speaker started talking and when
their turn is over. Time is counted in audio milliseconds, not wall clock, so
the decision is the same whether audio arrives in real time or in a burst.

The policy: after a short silence (`check_silence_ms`) the detector says
PAUSED, and the Listener asks the end-of-turn signals (Smart Turn on the audio,
the transcript so far); their fused verdict sets how much silence ends the turn:
complete -> now; unsure -> `end_of_turn_silence_ms`; clearly incomplete ->
`incomplete_max_silence_ms`. Speech that resumes continues the same turn.
"""

from __future__ import annotations

import enum
from typing import Literal

from pydantic import BaseModel, ConfigDict

EndOfTurnSignals = Literal["silence", "audio", "text", "audio+text"]


class TurnSettings(BaseModel):
    # Unknown keys are refused: a misspelt setting in parley.toml or a persona must not pass silently.
    model_config = ConfigDict(frozen=True, extra="forbid")

    # Probability above which a window counts as speech. Silero's own default.
    speech_threshold: float = 0.5
    # Below this a window counts as silence; the gap between the two thresholds
    # keeps a soft syllable from flapping the state.
    silence_threshold: float = 0.35
    # Speech shorter than this is a cough or a click, not a turn (and not a barge-in).
    min_speech_ms: int = 200
    # What decides that a pause ends the turn: silence alone, Smart Turn on the audio, the
    # transcript so far, or both (fused: both must say complete; either can say wait).
    end_of_turn_signals: EndOfTurnSignals = "audio+text"
    # Silence after which the signals are asked. Shorter pauses are inside words and
    # phrases; Smart Turn was trained on segments ending ~200 ms into the silence. The text
    # signal reads the transcript Whisper starts at `early_transcript_silence_ms`: keep them equal.
    check_silence_ms: int = 200
    # Silence that ends a turn when the signals are unsure or disagree (and the only rule
    # with "silence"). 1200, not 800: JFK's 1.06 s pause after "my fellow Americans," sounds
    # final (Smart Turn 0.97) and reads unsure (SmolLM2 0.04); with fast signals 800 cut him
    # there and 9% of the benchmark's mid-sentence pauses, 1200 none (bench/turn_taking.py --sweep).
    end_of_turn_silence_ms: int = 1200
    # When a signal says the speaker is clearly mid-sentence, wait this long for more speech.
    # Natural hesitations run to ~2 s; beyond that the speaker wants an answer after all.
    incomplete_max_silence_ms: int = 2500
    # Smart Turn's P(complete): at or above `audio_complete` the audio says done; below
    # `audio_incomplete` it clearly says mid-phrase (tuned on bench/turn_taking.py).
    audio_complete: float = 0.5
    audio_incomplete: float = 0.1
    # The text signal's P(complete), the same way: SmolLM2's P(end of message) is small even
    # where a message ends (0.01-0.9) and ~0.0001 mid-clause; a dangling "the" scores 0.
    text_complete: float = 0.1
    text_incomplete: float = 0.002
    # A backend that predicts the end of a turn (Kyutai STT's pause probability) is the
    # audio signal on its path: it ends the turn after this much silence once past the threshold.
    semantic_end_of_turn_threshold: float = 0.6
    semantic_min_silence_ms: int = 160
    # Tell the STT that the speaker paused this far into a silence, so a batch
    # backend (Whisper) can start transcribing before the turn is over; if the
    # turn then ends, the transcript is (nearly) ready. 0 = never.
    early_transcript_silence_ms: int = 200

    @property
    def uses_audio(self) -> bool:
        return self.end_of_turn_signals in ("audio", "audio+text")

    @property
    def uses_text(self) -> bool:
        return self.end_of_turn_signals in ("text", "audio+text")


class TurnSignal(enum.Enum):
    SPEECH_STARTED = "speech_started"  # confirmed speech (min_speech_ms reached)
    PAUSED = "paused"  # check_silence_ms of silence in an open turn: ask the end-of-turn signals
    TURN_ENDED = "turn_ended"  # the policy's silence limit reached after confirmed speech


class Verdict(enum.Enum):
    COMPLETE = "complete"
    UNSURE = "unsure"
    INCOMPLETE = "incomplete"


def fuse(settings: TurnSettings, audio: float | None, text: float | None) -> Verdict:
    """One verdict from the signals that spoke (None = that signal has nothing to say)."""
    s = settings
    signals = []
    if s.uses_audio and audio is not None:
        signals.append((audio, s.audio_complete, s.audio_incomplete))
    if s.uses_text and text is not None:
        signals.append((text, s.text_complete, s.text_incomplete))
    if not signals:
        return Verdict.UNSURE
    if any(p < incomplete for p, _, incomplete in signals):
        return Verdict.INCOMPLETE
    if all(p >= complete for p, complete, _ in signals):
        return Verdict.COMPLETE
    return Verdict.UNSURE


class TurnDetector:
    def __init__(self, settings: TurnSettings, window_ms: int) -> None:
        self.settings = settings
        self.window_ms = window_ms
        self.in_speech = False  # confirmed speech in progress (a turn is open)
        self._speech_run_ms = 0  # consecutive speech before confirmation
        self._silence_ms = 0  # trailing silence inside an open turn
        self.speech_ms = 0  # speech heard in the open turn (pauses excluded)
        self._pause_probability = 0.0
        self._asked = False  # PAUSED was signalled for the current silence
        self.pause_id = 0  # which pause a verdict answers; a stale one is ignored
        self.verdict: Verdict | None = None
        # Silence that closed the last turn: the speaker stopped this long before TURN_ENDED.
        self.ended_after_silence_ms = 0

    @property
    def silence_ms(self) -> int:
        """Trailing silence so far in the open turn; the speech ended this long ago."""
        return self._silence_ms

    @property
    def semantic(self) -> bool:
        return self.settings.end_of_turn_signals != "silence" and self.settings.check_silence_ms > 0

    def set_pause_probability(self, probability: float) -> None:
        """Hint from a backend that predicts the end of a turn; 0..1."""
        self._pause_probability = probability

    def set_verdict(self, pause_id: int, verdict: Verdict) -> TurnSignal | None:
        """The signals' verdict on pause `pause_id`; may end the turn at once."""
        if pause_id != self.pause_id or not self.in_speech or self._silence_ms == 0:
            return None  # the speaker talked again since: that pause is over
        self.verdict = verdict
        return self._end_if_due()

    def silence_limit_ms(self) -> int:
        s = self.settings
        if not self.semantic:
            return s.end_of_turn_silence_ms
        if self.verdict is Verdict.COMPLETE:
            return s.check_silence_ms
        if self.verdict is Verdict.UNSURE:
            return s.end_of_turn_silence_ms
        # Clearly incomplete, or still being judged (a verdict always comes; this bounds it).
        return s.incomplete_max_silence_ms

    def process(self, probability: float) -> TurnSignal | None:
        s = self.settings
        if not self.in_speech:
            if probability >= s.speech_threshold:
                self._speech_run_ms += self.window_ms
                if self._speech_run_ms >= s.min_speech_ms:
                    self.in_speech = True
                    self.speech_ms = self._speech_run_ms
                    self._silence_ms = 0
                    self._pause_probability = 0.0
                    self._new_pause()
                    return TurnSignal.SPEECH_STARTED
            elif probability < s.silence_threshold:
                self._speech_run_ms = 0
            return None

        if probability >= s.speech_threshold:
            if self._silence_ms:
                self._new_pause()  # speech resumed: the same turn goes on, the old verdict is void
            self._silence_ms = 0
            self.speech_ms += self.window_ms
        elif probability < s.silence_threshold:
            self._silence_ms += self.window_ms
        # Between the thresholds: neither resets nor extends the silence.
        if self.semantic and not self._asked and self._silence_ms >= s.check_silence_ms:
            self._asked = True
            return TurnSignal.PAUSED
        if (
            self._silence_ms >= s.semantic_min_silence_ms
            and self._pause_probability >= s.semantic_end_of_turn_threshold
            and self.verdict is not Verdict.INCOMPLETE  # the transcript can still say "mid-sentence"
        ):
            return self._end()
        return self._end_if_due()

    def _end_if_due(self) -> TurnSignal | None:
        if self._silence_ms and self._silence_ms >= self.silence_limit_ms():
            return self._end()
        return None

    def _new_pause(self) -> None:
        self._asked = False
        self.verdict = None
        self.pause_id += 1

    def reset(self) -> None:
        """Forget the open turn (it was a cough or an "uh-huh" over the reply)."""
        self.in_speech = False
        self._speech_run_ms = 0
        self._silence_ms = 0
        self.speech_ms = 0
        self._new_pause()

    def _end(self) -> TurnSignal:
        self.ended_after_silence_ms = self._silence_ms
        self.in_speech = False
        self._speech_run_ms = 0
        self._silence_ms = 0
        self._new_pause()
        return TurnSignal.TURN_ENDED
