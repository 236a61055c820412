import pytest

from agent_core.audio import AudioFrame
from agent_core.turns import TurnDetector, TurnSettings, TurnSignal
from agent_core.vad import WINDOW_MS, SileroVad


def probabilities(frame: AudioFrame, chunk_s: float = 0.02) -> list[float]:
    stream = SileroVad.shared().stream()
    out = []
    for piece in frame.split(chunk_s):
        out += stream.process(piece)
    return out


def test_vad_hears_speech_and_not_silence(jfk_opening):
    speech = probabilities(jfk_opening)
    assert max(speech) > 0.9
    assert sum(p > 0.5 for p in speech) * WINDOW_MS > 1500  # ~1.9 s of speech in the clip
    assert max(probabilities(AudioFrame.silence(1.0, 16000))) < 0.1


def test_vad_is_independent_of_chunk_size(jfk_opening):
    assert probabilities(jfk_opening, 0.02) == pytest.approx(probabilities(jfk_opening, 0.1), abs=1e-4)


def test_vad_streams_keep_separate_state(jfk_opening):
    model = SileroVad.shared()
    a, b = model.stream(), model.stream()
    for piece in jfk_opening.split(0.02):
        a.process(piece)
    # b heard nothing yet: silence must read as silence for b even though a is mid-speech.
    assert max(b.process(AudioFrame.silence(0.3, 16000))) < 0.1


def test_vad_refuses_wrong_rate():
    with pytest.raises(ValueError):
        SileroVad.shared().stream().process(AudioFrame(bytes(640), 8000))


def run(detector: TurnDetector, probs: list[float]) -> list[tuple[int, TurnSignal]]:
    return [(i, s) for i, p in enumerate(probs) if (s := detector.process(p)) is not None]


def test_turn_starts_after_min_speech_and_ends_after_silence():
    settings = TurnSettings(end_of_turn_signals="silence", min_speech_ms=96, end_of_turn_silence_ms=320)
    signals = run(TurnDetector(settings, 32), [0.0] * 3 + [0.9] * 10 + [0.0] * 12)
    assert signals == [(5, TurnSignal.SPEECH_STARTED), (22, TurnSignal.TURN_ENDED)]


def test_short_blip_is_not_a_turn():
    settings = TurnSettings(min_speech_ms=200)
    assert run(TurnDetector(settings, 32), [0.9] * 3 + [0.0] * 30) == []


def test_pause_shorter_than_threshold_keeps_turn_open():
    settings = TurnSettings(end_of_turn_signals="silence", min_speech_ms=64, end_of_turn_silence_ms=500)
    probs = [0.9] * 10 + [0.0] * 10 + [0.9] * 10 + [0.0] * 20
    signals = run(TurnDetector(settings, 32), probs)
    assert [s for _, s in signals] == [TurnSignal.SPEECH_STARTED, TurnSignal.TURN_ENDED]
    assert signals[1][0] == 30 + 15  # 16 windows of 32 ms >= 500 ms after the second burst


def test_between_thresholds_does_not_count_as_silence():
    settings = TurnSettings(end_of_turn_signals="silence", min_speech_ms=64, end_of_turn_silence_ms=320)
    detector = TurnDetector(settings, 32)
    run(detector, [0.9] * 5)
    assert run(detector, [0.4] * 50) == []  # hesitation sounds: the turn stays open
    assert detector.in_speech


def test_semantic_end_of_turn_ends_sooner():
    settings = TurnSettings(min_speech_ms=64, end_of_turn_silence_ms=800, semantic_min_silence_ms=160)
    detector = TurnDetector(settings, 32)
    run(detector, [0.9] * 5)
    detector.set_pause_probability(0.9)
    signals = run(detector, [0.0] * 30)
    assert signals == [(4, TurnSignal.TURN_ENDED)]  # 5 windows = 160 ms, not 800
    assert detector.ended_after_silence_ms == 160
