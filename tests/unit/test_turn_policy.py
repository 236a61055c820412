"""The fused end-of-turn policy: verdicts on pauses, in audio milliseconds, and the text cues."""

import pytest

from agent_core.turn_text import DANGLING_COMPLETE_PROBABILITY, syntactic_complete_probability, text_for_scoring
from agent_core.turns import TurnDetector, TurnSettings, TurnSignal, Verdict, fuse

SETTINGS = TurnSettings(min_speech_ms=64, check_silence_ms=192, end_of_turn_silence_ms=800,
                        incomplete_max_silence_ms=2496)


def run(detector: TurnDetector, probs: list[float]) -> list[tuple[int, TurnSignal]]:
    return [(i, s) for i, p in enumerate(probs) if (s := detector.process(p)) is not None]


def paused_detector(settings: TurnSettings = SETTINGS) -> TurnDetector:
    detector = TurnDetector(settings, 32)
    assert run(detector, [0.9] * 5) == [(1, TurnSignal.SPEECH_STARTED)]
    assert run(detector, [0.0] * 6) == [(5, TurnSignal.PAUSED)]  # 192 ms of silence: ask
    return detector


@pytest.mark.parametrize(
    ("audio", "text", "verdict"),
    [
        (0.9, 0.9, Verdict.COMPLETE),
        (0.9, 0.0, Verdict.INCOMPLETE),  # "...can do for" sounds final but reads unfinished
        (0.02, 0.9, Verdict.INCOMPLETE),  # a rising "ask not" reads fine but sounds unfinished
        (0.3, 0.9, Verdict.UNSURE),
        (0.9, 0.005, Verdict.UNSURE),
        (0.9, None, Verdict.COMPLETE),  # no transcript (a cough): the audio decides
        (None, None, Verdict.UNSURE),
    ],
)
def test_fuse_needs_both_for_complete_and_either_for_incomplete(audio, text, verdict):
    assert fuse(SETTINGS, audio, text) is verdict


def test_fuse_listens_only_to_the_chosen_signals():
    assert fuse(SETTINGS.model_copy(update={"end_of_turn_signals": "audio"}), 0.9, 0.0) is Verdict.COMPLETE
    assert fuse(SETTINGS.model_copy(update={"end_of_turn_signals": "text"}), 0.02, 0.9) is Verdict.COMPLETE


def test_complete_verdict_ends_the_turn_at_once():
    detector = paused_detector()
    assert detector.set_verdict(detector.pause_id, Verdict.COMPLETE) is TurnSignal.TURN_ENDED
    assert detector.ended_after_silence_ms == 192 and not detector.in_speech


def test_incomplete_verdict_waits_for_the_long_limit():
    detector = paused_detector()
    assert detector.set_verdict(detector.pause_id, Verdict.INCOMPLETE) is None
    signals = run(detector, [0.0] * 80)
    assert signals == [(71, TurnSignal.TURN_ENDED)]  # 192 + 72 * 32 = 2496 ms
    assert detector.ended_after_silence_ms == 2496


def test_unsure_verdict_waits_the_plain_silence():
    detector = paused_detector()
    detector.set_verdict(detector.pause_id, Verdict.UNSURE)
    assert run(detector, [0.0] * 30) == [(18, TurnSignal.TURN_ENDED)]  # 800 ms
    assert detector.ended_after_silence_ms == 800


def test_a_late_complete_verdict_ends_a_long_pause_when_it_lands():
    detector = paused_detector()
    run(detector, [0.0] * 10)  # the models are still thinking: the turn stays open
    assert detector.in_speech
    assert detector.set_verdict(detector.pause_id, Verdict.COMPLETE) is TurnSignal.TURN_ENDED
    assert detector.ended_after_silence_ms == 192 + 320


def test_speech_that_resumes_continues_the_turn_and_voids_the_old_verdict():
    detector = paused_detector()
    stale = detector.pause_id
    assert run(detector, [0.9] * 5) == []  # no new SPEECH_STARTED: the same turn goes on
    assert detector.in_speech
    assert detector.set_verdict(stale, Verdict.COMPLETE) is None  # about a pause that is over
    assert run(detector, [0.0] * 6) == [(5, TurnSignal.PAUSED)]
    assert detector.pause_id != stale


def test_silence_only_never_asks():
    detector = TurnDetector(SETTINGS.model_copy(update={"end_of_turn_signals": "silence"}), 32)
    signals = run(detector, [0.9] * 5 + [0.0] * 30)
    assert [s for _, s in signals] == [TurnSignal.SPEECH_STARTED, TurnSignal.TURN_ENDED]


@pytest.mark.parametrize(
    "text",
    [
        "I would like to",
        "Can you book a",
        "Ask not what your country can do for",
        "I need the",
        "My sister and",
        "It's the birthday of my",
        "I was thinking, um",
        "So what I want is...",
    ],
)
def test_unfinished_transcripts_read_as_incomplete(text):
    assert syntactic_complete_probability(text) < SETTINGS.text_incomplete


@pytest.mark.parametrize(
    "text", ["And so, my fellow Americans, ask not.", "What is the capital of France?", "Book a table for two."]
)
def test_finished_transcripts_leave_the_decision_to_others(text):
    assert syntactic_complete_probability(text) is None


def test_cues_follow_the_language():
    assert syntactic_complete_probability("Je voudrais réserver une", "fr") == DANGLING_COMPLETE_PROBABILITY
    assert syntactic_complete_probability("Ich möchte einen Tisch für", "de") == DANGLING_COMPLETE_PROBABILITY
    assert syntactic_complete_probability("Where is it from?") is None  # a question may end on a preposition


def test_scoring_text_drops_whisper_punctuation():
    assert text_for_scoring(" Ask not what your country can do for you. ") == "Ask not what your country can do for you"


def test_the_transcript_can_hold_back_a_backend_pause_prediction():
    """Kyutai STT's pause probability is the audio signal on its path; a dangling word still wins."""
    detector = paused_detector()
    detector.set_verdict(detector.pause_id, Verdict.INCOMPLETE)
    detector.set_pause_probability(0.9)
    assert run(detector, [0.0] * 10) == []
    assert detector.in_speech
    detector.set_verdict(detector.pause_id, Verdict.UNSURE)
    assert run(detector, [0.0]) == [(0, TurnSignal.TURN_ENDED)]  # now the pause probability ends it
