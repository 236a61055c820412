"""Parley against Pipecat: the same simulated Twilio calls through each, on one machine, in one run.

Two server processes, both on uvicorn with the same versions and extras, both with real
mu-law and Silero VAD and the same instant fake STT/LLM/TTS (fixed transcript at end of
turn, fixed one-sentence reply streamed word by word, the same 1.5 s recording as the
reply audio): Parley is bench/calls_server.py (the real app), Pipecat 1.14 is
bench/pipecat_server.py, in its own venv (.bench/pipecat-venv, made on first run; see
bench/pipecat_venv.py). End of turn after 512 ms of silence in both.

Each server is pinned to one core and the client to the others (--server-core), so
"calls per core" is what one core carries. One client drives both: N concurrent calls with
Parley's TwilioSimulator at real-time
pace (bench/call_load.py, the code bench/calls.py uses), started over 2 s: the caller asks
a question (config/sounds/question.wav), hears the start of the reply, talks over it
(barge-in), hears the second reply and hangs up after 1 s of quiet. The levels alternate
between the two servers, so both see the same machine; a server that collapses (reply p99
over 2.5x its single-call p99, or a missed reply) is not taken to higher levels.

Measures, identical for both:
- server CPU seconds per call-minute: the server process's user+system CPU (/proc, all
  threads) over the level, divided by the minutes of calls it carried;
- inbound lag: for every 20 ms caller frame, from the simulator's send (a monotonic stamp
  in the message) to the server having decoded it and run Silero VAD on it, read on the
  same clock by a hook in each server at the same point (after VAD);
- reply latency: client side, the caller's last audible frame going out -> the first
  reply audio frame arriving (the 512 ms end-of-turn wait included);
- barge-in -> clear: client side, the caller starting to talk over the reply -> `clear`;
- memory per call: the server's peak RSS over the level less its RSS before it, over N.

A server *carries* N when its CPU stays under 90% of its one core, its reply p99 is within
1.5x of its own single-call reply p99, and every call got its reply (no failed call).

    python bench/vs_pipecat.py                                # the default levels, both servers
    python bench/vs_pipecat.py --levels 1,10 --profile 10     # and a py-spy profile of each at N=10
    python bench/vs_pipecat.py --frameworks parley --levels 1,150 --profile 150
"""

from __future__ import annotations

import argparse
import asyncio
import datetime
import json
import os
import platform
import secrets
import subprocess
import sys
import tempfile
import wave
from dataclasses import dataclass
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parent))

import httpx  # noqa: E402
import pipecat_venv  # noqa: E402
from call_load import ROOT, Level, caller_audio, percentile, run_level, wait_healthy  # noqa: E402
from profile_summary import summarize  # noqa: E402

from agent_core.audio import read_wav  # noqa: E402
from parley.local_server import free_port  # noqa: E402

FRAMEWORKS = ("parley", "pipecat")
REPLY_TEXT = "Sure, here is a short answer."
CPU_LIMIT_PCT = 90.0  # "carries" N: server CPU under this share of its one core,
REPLY_P99_FACTOR = 1.5  # reply p99 within this factor of the single-call p99, and no missed reply
COLLAPSE_REPLY_FACTOR = 2.5  # past this, or a missed reply, a server is not taken to higher levels
OUT = ROOT / ".bench"


@dataclass
class Server:
    name: str
    url: str
    process: subprocess.Popen
    collapsed: bool = False


def write_reply_wav(path: Path) -> None:
    """The canned reply both TTS fakes speak: 1.5 s of real speech, 16 kHz."""
    speech = read_wav(ROOT / "tests" / "data" / "jfk.wav")
    with wave.open(str(path), "wb") as out:
        out.setnchannels(1)
        out.setsampwidth(2)
        out.setframerate(speech.sample_rate)
        out.writeframes(speech.pcm[int(3.3 * speech.sample_rate) * 2 : int(4.8 * speech.sample_rate) * 2])


def start_servers(tmp: Path, bench_python: Path, token: str, pipecat_force_gc: bool, frameworks: list[str],
                  core: int | None) -> dict[str, Server]:
    reply = tmp / "reply.wav"
    write_reply_wav(reply)
    (tmp / "parley-data").mkdir()
    commands = {
        "parley": [sys.executable, str(ROOT / "bench" / "calls_server.py"), "--data-dir", str(tmp / "parley-data"),
                   "--auth-token", token],
        "pipecat": [str(bench_python), str(ROOT / "bench" / "pipecat_server.py"), *(["--force-gc"] * pipecat_force_gc)],
    }
    servers = {}
    for name in frameworks:
        command = commands[name]
        port = free_port()
        log = open(OUT / f"{name}-server.log", "w")  # noqa: SIM115 - lives as long as the server
        process = subprocess.Popen(
            [*command, "--port", str(port), "--reply-wav", str(reply), "--reply-text", REPLY_TEXT],
            stdout=log, stderr=subprocess.STDOUT, cwd=ROOT,
        )
        if core is not None:
            os.sched_setaffinity(process.pid, {core})  # threads it starts inherit the core
        servers[name] = Server(name, f"http://127.0.0.1:{port}", process)
    return servers


def rss_mb(pid: int) -> float:
    for line in Path(f"/proc/{pid}/status").read_text().splitlines():
        if line.startswith("VmRSS:"):
            return int(line.split()[1]) / 1024
    return float("nan")


async def peak_rss(pid: int, peak: list[float]) -> None:
    while True:
        peak[0] = max(peak[0], rss_mb(pid))
        await asyncio.sleep(0.25)


async def measure(server: Server, token: str, calls: int, args, caller, barge) -> dict:
    """One level against one server; below --min-calls, rounds repeat so latencies have samples."""
    pid = server.process.pid
    async with httpx.AsyncClient() as http:
        await http.get(f"{server.url}/bench/collect")  # drop what earlier levels left
        rss_before = rss_mb(pid)
        peak = [rss_before]
        watch = asyncio.create_task(peak_rss(pid, peak))
        rounds: list[Level] = []
        while sum(len(r.results) for r in rounds) < max(calls, args.min_calls):
            rounds.append(await run_level(server.url, token, pid, calls, args.stagger, caller, barge))
        watch.cancel()
        await asyncio.sleep(0.5)
        lags = (await http.get(f"{server.url}/bench/collect")).json()["lags_ms"]
    ok = [c for r in rounds for c in r.ok]
    failures = [f for r in rounds for f in r.failures]
    cpu, wall = sum(r.server_cpu_s for r in rounds), sum(r.wall_s for r in rounds)
    minutes = sum(r.call_minutes for r in rounds)
    replies = [c.report.reply_latency_ms for c in ok if c.report.reply_latency_ms is not None]
    clears = [c.report.barge_in_to_clear_ms for c in ok if c.report.barge_in_to_clear_ms is not None]
    return {
        "framework": server.name,
        "calls": calls,
        "attempted": len(ok) + len(failures),
        "ok": len(ok),
        "failed": len(failures),
        "missed_replies": len(failures) + sum(c.report.reply_latency_ms is None for c in ok),
        "errors": sorted({type(f).__name__ + ": " + str(f)[:80] for f in failures})[:3],
        "cpu_s_per_call_minute": cpu / minutes if minutes else float("nan"),
        "server_cpu_pct": 100 * cpu / wall,
        "client_cpu_pct": 100 * sum(r.client_cpu_s for r in rounds) / wall,
        "frames": len(lags),
        "lag_p50": percentile(lags, 50),
        "lag_p99": percentile(lags, 99),
        "replies": len(replies),
        "reply_p50": percentile(replies, 50),
        "reply_p99": percentile(replies, 99),
        "barge_in_clear_p50": percentile(clears, 50),
        "rss_mb": rss_mb(pid),
        "mb_per_call": (peak[0] - rss_before) / calls,
    }


async def profile(server: Server, token: str, calls: int, args, caller, barge) -> None:
    """py-spy samples the server (100 Hz, into C code) while it carries `calls` calls.

    --native pauses the server at each sample, so this level's latencies are off: it is
    reported apart from the table. (Without --native, time in uvloop's C code shows up as
    asyncio's Runner.run, and ONNX Runtime's as the Python line that called it.)
    """
    raw = OUT / f"profile-{server.name}-{calls}.txt"
    spy = await asyncio.create_subprocess_exec(
        str(pipecat_venv.py_spy()), "record", "--pid", str(server.process.pid), "--rate", "100", "--native",
        "--duration", "10", "--format", "raw", "--output", str(raw),
        stdout=subprocess.DEVNULL, stderr=subprocess.STDOUT,
    )
    row = await measure(server, token, calls, args, caller, barge)
    await spy.wait()
    print(f"\n### py-spy, {server.name}, N={calls} (lag p99 {row['lag_p99']:.1f} ms while profiled; stacks in {raw})\n")
    print(summarize(raw.read_text()))


def machine() -> str:
    model = next((line.split(":", 1)[1].strip() for line in Path("/proc/cpuinfo").read_text().splitlines()
                  if line.startswith("model name")), platform.machine())
    memory = int(Path("/proc/meminfo").read_text().split()[1]) / 1024 / 1024
    return f"{os.cpu_count()} cores ({model}), {memory:.0f} GB, Python {platform.python_version()}"


def fmt(value: float, digits: int = 1) -> str:
    return "—" if value != value else f"{value:.{digits}f}"  # NaN -> dash


def ratio(rows: dict, key: str) -> str:
    a, b = rows.get("parley", {}).get(key, float("nan")), rows.get("pipecat", {}).get(key, float("nan"))
    return fmt(a / b, 2) if b and a == a and b == b else "—"


def carried(results: list[dict], name: str) -> tuple[int, int]:
    """The largest N this server carried (see the module's docstring), and the largest N up to
    which it carried every level (a noisy machine can fail one level and pass the next)."""
    rows = {r["calls"]: r for r in results if r["framework"] == name}
    if 1 not in rows:
        return 0, 0
    limit = REPLY_P99_FACTOR * rows[1]["reply_p99"]
    passed = {n: r["server_cpu_pct"] < CPU_LIMIT_PCT and r["reply_p99"] <= limit and not r["missed_replies"]
              for n, r in rows.items()}
    every = 0
    for n in sorted(passed):
        if not passed[n]:
            break
        every = n
    return max((n for n, ok in passed.items() if ok), default=0), every


def table(results: list[dict]) -> str:
    lines = [
        "| calls | server | ok | missed replies | CPU s per call-minute | server CPU | MB per call "
        "| inbound lag p50 (ms) | p99 (ms) | reply p50 (ms) | p99 (ms) | barge-in -> clear p50 (ms) |",
        "|---|---|---|---|---|---|---|---|---|---|---|---|",
    ]
    for calls in sorted({r["calls"] for r in results}):
        rows = {r["framework"]: r for r in results if r["calls"] == calls}
        for name in FRAMEWORKS:
            if name in rows:
                r = rows[name]
                lines.append(
                    f"| {calls} | {name} | {r['ok']}/{r['attempted']} | {r['missed_replies']} "
                    f"| {fmt(r['cpu_s_per_call_minute'], 2)} | {r['server_cpu_pct']:.0f}% | {fmt(r['mb_per_call'], 2)} "
                    f"| {fmt(r['lag_p50'])} | {fmt(r['lag_p99'])} "
                    f"| {fmt(r['reply_p50'], 0)} | {fmt(r['reply_p99'], 0)} | {fmt(r['barge_in_clear_p50'], 0)} |"
                )
        if len(rows) == 2:
            lines.append(
                f"| {calls} | *Parley / Pipecat* | | | *{ratio(rows, 'cpu_s_per_call_minute')}* | | "
                f"| *{ratio(rows, 'lag_p50')}* | *{ratio(rows, 'lag_p99')}* "
                f"| *{ratio(rows, 'reply_p50')}* | *{ratio(rows, 'reply_p99')}* | |"
            )
    counts = {name: carried(results, name) for name in FRAMEWORKS if any(r["framework"] == name for r in results)}
    held = ", ".join(f"{name} **{n}** (every level up to {every})" for name, (n, every) in counts.items())
    times = ""
    if counts.get("pipecat", (0, 0))[0] and "parley" in counts:
        times = f" ({counts['parley'][0] / counts['pipecat'][0]:.1f}x)"
    lines.append(f"\nCalls carried on one core (server CPU < {CPU_LIMIT_PCT:.0f}%, reply p99 <= "
                 f"{REPLY_P99_FACTOR}x its single-call p99, no missed reply): {held}{times}")
    return "\n".join(lines)


async def run(args, bench_python: Path) -> list[dict]:
    _, barge = caller_audio()
    caller = read_wav(ROOT / "config" / "sounds" / "question.wav")
    token = secrets.token_hex(16)
    results: list[dict] = []
    with tempfile.TemporaryDirectory() as tmp:
        servers = start_servers(Path(tmp), bench_python, token, args.pipecat_force_gc, args.frameworks.split(","),
                                args.server_core)
        try:
            for server in servers.values():
                await wait_healthy(server.url)
                await run_level(server.url, token, server.process.pid, 1, 0, caller, barge)  # warm-up, not counted
            for calls in (int(n) for n in args.levels.split(",")):
                for server in servers.values():
                    if server.collapsed:
                        continue
                    row = await measure(server, token, calls, args, caller, barge)
                    results.append(row)
                    print(f"N={calls} {server.name}: {json.dumps(row)}", file=sys.stderr)
                    single = next((r for r in results if r["framework"] == server.name and r["calls"] == 1), row)
                    server.collapsed = bool(row["missed_replies"]) or row["reply_p99"] > COLLAPSE_REPLY_FACTOR * single["reply_p99"]
            if args.profile:
                for server in servers.values():
                    await profile(server, token, args.profile, args, caller, barge)
        finally:
            for server in servers.values():
                server.process.terminate()
                server.process.wait()
    return results


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--levels", default="1,10,20,30,50,75,100,125,150,175,200,250")
    parser.add_argument("--frameworks", default=",".join(FRAMEWORKS), help="parley,pipecat or one of them")
    parser.add_argument("--server-core", type=int, default=os.cpu_count() - 1,
                        help="pin the servers to this core (-1: no pinning); the client gets the others")
    parser.add_argument("--stagger", type=float, default=2.0, help="seconds over which a level's calls start")
    parser.add_argument("--min-calls", type=int, default=5, help="repeat a level's round until this many calls")
    parser.add_argument("--profile", type=int, default=0, help="after the levels, py-spy both servers at this N")
    parser.add_argument("--pipecat-force-gc", action="store_true", help="Pipecat's runner as in its example")
    parser.add_argument("--plot", type=Path, default=ROOT / "docs" / "vs_pipecat.png")
    args = parser.parse_args()
    if args.server_core < 0:
        args.server_core = None
    else:
        os.sched_setaffinity(0, (set(range(os.cpu_count())) - {args.server_core}) or {args.server_core})
    OUT.mkdir(exist_ok=True)
    bench_python = pipecat_venv.ensure()
    results = asyncio.run(run(args, bench_python))
    report = {
        "date": datetime.date.today().isoformat(),
        "machine": machine(),
        "command": "python bench/vs_pipecat.py " + " ".join(sys.argv[1:]),
        "pipecat_force_gc": args.pipecat_force_gc,
        "results": results,
    }
    (OUT / "vs_pipecat.json").write_text(json.dumps(report, indent=1))
    plot = [str(bench_python), str(ROOT / "bench" / "vs_pipecat_plot.py"), str(OUT / "vs_pipecat.json"), str(args.plot)]
    subprocess.run(plot, check=True)
    print(f"## Parley vs Pipecat: concurrent phone calls ({report['machine']}, {report['date']})\n")
    print(table(results))
    print(f"\nPlot: {args.plot}; raw results: {OUT / 'vs_pipecat.json'}")


if __name__ == "__main__":
    main()
