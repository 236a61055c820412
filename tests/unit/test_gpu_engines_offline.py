"""The GPU engines import and validate input on a CPU box without torch (their GPU paths are
measured on a GPU machine: docs/gpu-benchmarks.md)."""

import io
import wave

import pytest

from modal_services.engines import ChatterboxEngine, KyutaiSttEngine, split_sentences


def wav_bytes(seconds: float, rate: int = 24000) -> bytes:
    buffer = io.BytesIO()
    with wave.open(buffer, "wb") as wav:
        wav.setnchannels(1)
        wav.setsampwidth(2)
        wav.setframerate(rate)
        wav.writeframes(bytes(int(seconds * rate) * 2))
    return buffer.getvalue()


def test_engines_construct_without_torch():
    assert ChatterboxEngine(device="cuda").tts is None  # nothing loads before load()
    KyutaiSttEngine(device="cuda")


def test_sentences_are_split_for_streaming():
    assert split_sentences("Hello there. How are you? Fine!  ") == ["Hello there.", "How are you?", "Fine!"]
    assert split_sentences("   ") == []


def test_voice_clone_checks_length_format_and_name(tmp_path):
    engine = ChatterboxEngine(voices_dir=tmp_path)
    assert engine.clone_voice("alice", wav_bytes(5.0)) == "alice"
    assert engine.voices() == ["alice"]
    with pytest.raises(ValueError, match="3-30 s"):
        engine.clone_voice("short", wav_bytes(1.0))
    with pytest.raises(ValueError, match="3-30 s"):
        engine.clone_voice("long", wav_bytes(31.0))
    with pytest.raises(ValueError, match="decodable"):
        engine.clone_voice("junk", b"not a wav")
    with pytest.raises(ValueError, match="name"):
        engine.clone_voice("../escape", wav_bytes(5.0))
