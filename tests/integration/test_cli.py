"""The `parley` command as a user runs it."""

import json
import os
import subprocess
import sys

import pytest

from agent_core.audio import read_wav
from tests.integration.conftest import words


def parley(*args: str, cwd, **env: str) -> subprocess.CompletedProcess:
    return subprocess.run(
        [sys.executable, "-m", "parley.cli", *args],
        cwd=cwd,
        capture_output=True,
        text=True,
        timeout=300,
        env={**os.environ, **env},
    )


@pytest.mark.models
def test_demo_json_reports_transcript_reply_audio_and_latency(tmp_path, settings):
    result = parley("demo", "--json", "--output", str(tmp_path / "reply.wav"), cwd=tmp_path)
    assert result.returncode == 0, result.stderr
    report = json.loads(result.stdout)
    assert set(report) == {"transcript", "reply_text", "reply_audio_seconds", "latency_ms"}
    assert "capital of france" in words(report["transcript"])
    assert report["reply_text"].strip()
    assert report["reply_audio_seconds"] > 0.5
    assert {"stt_final", "llm_first_token", "tts_first_audio", "voice_to_voice"} <= set(report["latency_ms"])
    reply = read_wav(tmp_path / "reply.wav")
    assert reply.duration_s == pytest.approx(report["reply_audio_seconds"], abs=0.05)


@pytest.mark.models
def test_demo_answers_a_recorded_question(tmp_path):
    """The whole recording as one turn: its pauses are shorter than the 1.2 s set through the environment."""
    result = parley(
        "demo", "--json", "--input", "tests/data/jfk.wav", "--output", str(tmp_path / "r.wav"),
        cwd=".", PARLEY_SESSION__TURN__END_OF_TURN_SILENCE_MS="1200",
    )
    assert result.returncode == 0, result.stderr
    assert "ask not what your country can do for you" in words(json.loads(result.stdout)["transcript"])


def test_demo_refuses_a_file_that_is_not_wav(tmp_path):
    (tmp_path / "q.wav").write_bytes(b"ID3 this is an mp3")
    result = parley("demo", "--input", str(tmp_path / "q.wav"), cwd=tmp_path)
    assert result.returncode == 2
    assert "not a readable WAV file" in result.stderr


def test_unknown_persona_is_refused(tmp_path):
    result = parley("demo", "--persona", "nobody", cwd=tmp_path)
    assert result.returncode == 2
    assert "no persona named 'nobody'" in result.stderr
