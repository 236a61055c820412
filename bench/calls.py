"""How many simultaneous phone calls one Parley process carries.

Starts bench/calls_server.py (the real server with instant scripted
STT/LLM/TTS, so only Parley's own work is measured: WebSocket, JSON, mu-law,
resampling, Silero VAD, turn-taking, the Session, storage) and drives N
simulated Twilio calls against it at real-time pace from this process. Each
call: the caller speaks (2.6 s of real speech), the bot answers, the caller
talks over the answer (barge-in), the bot answers again, the caller hangs up.

Inbound lag: from the simulator sending a caller frame to the server having
decoded it and run VAD on it (both processes read the same monotonic clock);
"vs media clock" is the server's own production measure (arrival against the
stream's timestamps), which also counts the client's send jitter. Reported per level, with the server's CPU seconds
per call-minute and the barge-in reaction (caller speech onset as VAD dated it
-> `clear` sent).

    python bench/calls.py                       # levels 1,10,25,50,75,100,150
    python bench/calls.py --levels 1,20,40 --stagger 2
"""

from __future__ import annotations

import argparse
import asyncio
import os
import secrets
import statistics
import sys
import tempfile
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parent))

import httpx  # noqa: E402
from call_load import ROOT, caller_audio, percentile, run_level, wait_healthy  # noqa: E402

from parley.local_server import free_port  # noqa: E402

LAG_LIMIT_MS = 20.0


async def measure_level(url: str, token: str, server_pid: int, calls: int, stagger_s: float, caller, barge) -> dict:
    async with httpx.AsyncClient() as http:
        await http.get(f"{url}/bench/collect")  # drop what earlier levels left
        level = await run_level(url, token, server_pid, calls, stagger_s, caller, barge)
        await asyncio.sleep(0.5)
        collected = (await http.get(f"{url}/bench/collect")).json()
    call_minutes = level.call_minutes
    lags = collected["lags_ms"]
    clock_lags = collected["media_clock_lags_ms"]
    return {
        "calls": calls,
        "ok": len(level.ok),
        "failed": len(level.failures),
        "lag_p50": percentile(lags, 50),
        "lag_p99": percentile(lags, 99),
        "clock_lag_p99": percentile(clock_lags, 99),
        "cpu_s_per_call_minute": level.server_cpu_s / call_minutes if call_minutes else float("nan"),
        "server_cpu_pct": 100 * level.server_cpu_s / level.wall_s,
        "client_cpu_pct": 100 * level.client_cpu_s / level.wall_s,
        "barge_in_p50": percentile(collected["barge_in_reaction_ms"], 50),
        "barge_ins": len(collected["barge_in_reaction_ms"]),
        "errors": level.errors(),
    }


async def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--levels", default="1,10,25,50,75,100,150")
    parser.add_argument("--stagger", type=float, default=2.0, help="seconds over which a level's calls start")
    args = parser.parse_args()
    caller, barge = caller_audio()
    port, token = free_port(), secrets.token_hex(16)
    with tempfile.TemporaryDirectory() as data_dir:
        server = await asyncio.create_subprocess_exec(
            sys.executable, str(ROOT / "bench" / "calls_server.py"), "--port", str(port), "--data-dir", data_dir, "--auth-token", token
        )
        url = f"http://127.0.0.1:{port}"
        try:
            await wait_healthy(url)
            rows = []
            for level in (int(n) for n in args.levels.split(",")):
                row = await measure_level(url, token, server.pid, level, args.stagger, caller, barge)
                rows.append(row)
                print(f"N={level}: {row}", file=sys.stderr)
                if row["lag_p99"] > 5 * LAG_LIMIT_MS:
                    break  # far past the limit: higher levels only take longer to fail
        finally:
            server.terminate()
            await server.wait()
    print(f"## Concurrent phone calls on one process ({os.cpu_count()} cores)\n")
    print(
        "| calls | ok | inbound lag p50 (ms) | p99 (ms) | vs media clock p99 (ms) | server CPU s per call-minute "
        "| server CPU | client CPU | barge-in -> clear p50 (ms) |"
    )
    print("|---|---|---|---|---|---|---|---|---|")
    for r in rows:
        print(
            f"| {r['calls']} | {r['ok']} | {r['lag_p50']:.1f} | {r['lag_p99']:.1f} | {r['clock_lag_p99']:.1f} "
            f"| {r['cpu_s_per_call_minute']:.2f} "
            f"| {r['server_cpu_pct']:.0f}% | {r['client_cpu_pct']:.0f}% | {r['barge_in_p50']:.0f} |"
        )
    held = [r["calls"] for r in rows if r["lag_p99"] < LAG_LIMIT_MS and not r["failed"]]
    print(f"\nLargest N with inbound lag p99 < {LAG_LIMIT_MS:.0f} ms: **{max(held) if held else 0}**")
    reactions = [r["barge_in_p50"] for r in rows if r["barge_ins"]]
    if reactions:
        print(f"Barge-in reaction p50 across levels: {statistics.median(reactions):.0f} ms")


if __name__ == "__main__":
    asyncio.run(main())
