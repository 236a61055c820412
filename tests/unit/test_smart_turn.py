"""Smart Turn v3.2 on real speech, and our log-mel features against the reference extractor.

The reference is the numpy extractor that ships in the same pipecat-ai wheel as
the model; it is loaded by file so that pipecat itself is never imported.
"""

import importlib.util

import numpy as np
import pytest

from agent_core.audio import AudioFrame
from agent_core.audio.log_mel import last_window, log_mel
from agent_core.smart_turn import SmartTurn, smart_turn_model_path


@pytest.fixture(scope="module")
def reference_log_mel():
    path = smart_turn_model_path().parents[1] / "_whisper_features.py"
    spec = importlib.util.spec_from_file_location("pipecat_whisper_features", path)
    module = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(module)
    return module.compute_whisper_log_mel_features


def speech_then_silence(jfk: AudioFrame, end_s: float, silence_s: float = 0.2) -> np.ndarray:
    samples = jfk.to_float32()[: int(end_s * 16000)]
    return np.concatenate((samples, np.zeros(int(silence_s * 16000), dtype=np.float32)))


@pytest.mark.parametrize("end_s", [0.4, 2.6, 11.0])  # shorter than, about, and longer than the 8 s window
def test_features_match_the_reference_extractor(jfk, reference_log_mel, end_s):
    window = last_window(speech_then_silence(jfk, end_s))
    ours = log_mel(window)
    assert ours.shape == (80, 800) and ours.dtype == np.float32
    np.testing.assert_allclose(ours, reference_log_mel(window), atol=1e-5)


def test_window_keeps_the_end_and_pads_the_front(jfk):
    samples = jfk.to_float32()
    assert np.array_equal(last_window(samples), samples[-128000:])
    short = last_window(samples[:16000])
    assert np.all(short[:-16000] == 0) and np.array_equal(short[-16000:], samples[:16000])


def test_smart_turn_hears_mid_phrase_and_sentence_end(jfk):
    model = SmartTurn.shared()
    mid_phrase = model.complete_probability_blocking(speech_then_silence(jfk, 1.0))  # "And so, my fel-"
    sentence_end = model.complete_probability_blocking(speech_then_silence(jfk, 11.0))  # "...for your country."
    assert mid_phrase < 0.1
    assert sentence_end > 0.5


async def test_smart_turn_runs_off_the_event_loop(jfk):
    model = SmartTurn.shared()
    samples = speech_then_silence(jfk, 11.0)
    assert await model.complete_probability(samples) == pytest.approx(model.complete_probability_blocking(samples))
