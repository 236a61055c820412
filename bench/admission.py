"""Admission control on the embedded models: N callers at once, past the limit they hear "busy".

One `parley serve` app in this process with the embedded models (Whisper base, SmolLM2, hibari)
and the default conversation limit (half the cores, at least two), phoned by N simulated callers
at the same moment (the recorded demo question, real time). For each N: calls admitted and
refused, voice-to-voice of the admitted calls (the caller's last sound -> first reply audio, as
the caller heard it), whether every admitted call got its reply, and how long a refused caller
waited for the busy message (the webhook's answer, which Twilio speaks at once).

    .venv/bin/python bench/admission.py                 # N = 1..6
    .venv/bin/python bench/admission.py --levels 1,4
"""

from __future__ import annotations

import argparse
import asyncio
import secrets
import sys
import tempfile
import time
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT))

from pydantic import SecretStr  # noqa: E402

from agent_core.demo import default_question  # noqa: E402
from agent_core.providers import build_providers  # noqa: E402
from agent_core.settings import Settings, TwilioSettings  # noqa: E402
from agent_core.storage import Database  # noqa: E402
from parley.local_server import free_port, running_server  # noqa: E402
from parley.server import create_app  # noqa: E402
from telephony.simulator import TwilioSimulator  # noqa: E402


def percentile(values: list[float], q: float) -> float:
    ordered = sorted(values)
    return ordered[min(len(ordered) - 1, round(q / 100 * (len(ordered) - 1)))] if ordered else float("nan")


async def one_caller(url: str, auth_token: str) -> tuple[str, float]:
    """("answered", ms from the caller's last sound to the reply) or ("busy", ms to the busy answer)."""
    simulator = TwilioSimulator(url, auth_token=auth_token)
    started = time.perf_counter()
    try:
        report = await simulator.call(default_question(), quiet_after_reply_s=0.5, max_call_s=60)
    except ValueError as exc:  # the TwiML had no stream: the busy answer
        if "<Say>" not in str(exc):
            raise
        return "busy", (time.perf_counter() - started) * 1000
    if report.reply_latency_ms is None:
        return "no reply", float("nan")
    return "answered", report.reply_latency_ms


async def run(levels: list[int]) -> None:
    auth_token = secrets.token_hex(16)
    with tempfile.TemporaryDirectory() as scratch:
        port = free_port()
        settings = Settings(data_dir=Path(scratch), public_url=f"http://127.0.0.1:{port}",
                            twilio=TwilioSettings(auth_token=SecretStr(auth_token)))
        providers = build_providers(settings)
        await providers.load()
        app = create_app(settings, providers, db=Database.for_data_dir(Path(scratch)))
        print(f"conversation limit: {settings.conversation_limit}\n")
        print("| callers | answered | refused (busy) | missed replies | voice-to-voice p50 / p99 (ms) | busy answer max (ms) |")
        print("|---|---|---|---|---|---|")
        async with running_server(app, port=port) as url:
            await one_caller(url, auth_token)  # warm-up (caches, first-call costs)
            for n in levels:
                outcomes = await asyncio.gather(*(one_caller(url, auth_token) for _ in range(n)))
                answered = [ms for kind, ms in outcomes if kind == "answered"]
                busy = [ms for kind, ms in outcomes if kind == "busy"]
                missed = sum(kind == "no reply" for kind, _ in outcomes)
                print(f"| {n} | {len(answered)} | {len(busy)} | {missed} | {percentile(answered, 50):.0f} / "
                      f"{percentile(answered, 99):.0f} | {max(busy) if busy else float('nan'):.0f} |", flush=True)
                await asyncio.sleep(2)  # the calls' places are given back
        await providers.aclose()


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--levels", default="1,2,3,4,5,6")
    args = parser.parse_args()
    asyncio.run(run([int(n) for n in args.levels.split(",")]))


if __name__ == "__main__":
    main()
