"""`parley doctor`: a model that raises or kills its process is named, with its fix."""

from __future__ import annotations

import json
import subprocess
import sys
from pathlib import Path

import pytest

from parley.doctor import Check, run_checks

ROOT = Path(__file__).resolve().parents[2]


def test_each_check_runs_in_its_own_process_and_failures_name_the_model_and_the_fix():
    results = run_checks([
        Check("fine model", "tests.install.doctor_targets:fine", "no fix needed"),
        Check("broken model", "tests.install.doctor_targets:broken", "reinstall it"),
        Check("crashing model", "tests.install.doctor_targets:crashing", "reinstall it", crash_fix="rebuild it"),
    ])
    fine, broken, crashing = results
    assert fine.ok and fine.detail == "all good" and fine.fix is None
    assert not broken.ok and broken.detail == "RuntimeError: the model file is truncated" and broken.fix == "reinstall it"
    # The crash took only the child down; faulthandler named the Python frame it happened in.
    assert not crashing.ok and crashing.fix == "rebuild it"
    assert crashing.detail.startswith("killed by SIGSEGV in crashing (install/doctor_targets.py:")


@pytest.mark.models
def test_parley_doctor_finds_every_embedded_model_working():
    done = subprocess.run([sys.executable, "-m", "parley.cli", "doctor", "--json"], cwd=ROOT, capture_output=True,
                          text=True, timeout=300)
    results = json.loads(done.stdout)
    assert [r["model"].split(":")[0] for r in results] == ["VAD", "STT", "LLM", "TTS"]
    assert all(r["ok"] for r in results), results
    assert done.returncode == 0
    stt = next(r for r in results if r["model"].startswith("STT"))
    assert "capital of france" in stt["detail"].lower()  # it really transcribed the recorded question
