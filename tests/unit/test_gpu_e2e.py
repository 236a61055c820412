"""bench/gpu_e2e.py's dry run: the GPU path's topology on the CPU, one call, a report with every stage."""

from __future__ import annotations

import json
import math
import subprocess
import sys
from pathlib import Path

ROOT = Path(__file__).resolve().parents[2]


def test_the_dry_run_reports_every_stage_of_a_phone_turn(tmp_path):
    out = tmp_path / "report.json"
    done = subprocess.run(
        [sys.executable, str(ROOT / "bench" / "gpu_e2e.py"), "--dry-run", "--calls", "1", "--json", str(out)],
        capture_output=True, text=True, timeout=120, cwd=ROOT,
    )
    assert done.returncode == 0, done.stderr[-2000:]
    report = json.loads(out.read_text())
    assert report["dry_run"] is True
    (row,) = report["rows"]
    assert row["calls"] == 1 and row["failed_calls"] == 0 and row["turns"] >= 1
    for stage in ("end_of_turn", "stt_final", "llm_first_token", "tts_first_audio", "voice_to_voice",
                  "after_end_of_turn"):
        p50, p99 = row[stage]["p50"], row[stage]["p99"]
        assert math.isfinite(p50) and math.isfinite(p99) and 0 <= p50 <= p99, stage
    # The silence wait is part of voice to voice, and what is left is the models' and Parley's share.
    assert row["end_of_turn"]["p50"] >= 400
    assert row["voice_to_voice"]["p50"] > row["end_of_turn"]["p50"]
    assert "| 1 | " in done.stdout  # the markdown table
