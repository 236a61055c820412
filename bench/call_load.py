"""N concurrent simulated Twilio calls against any server, and the measures around them.

Shared by bench/calls.py (Parley alone) and bench/vs_pipecat.py (Parley against
Pipecat), so both drive servers with the same client: the TwilioSimulator that
`parley phone` uses, stamping each caller frame with its send time.
"""

from __future__ import annotations

import asyncio
import os
import resource
import sys
import time
from dataclasses import dataclass
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
if str(ROOT) not in sys.path:
    sys.path.insert(0, str(ROOT))

import httpx  # noqa: E402

from agent_core.audio import AudioFrame, read_wav  # noqa: E402
from telephony.simulator import CallReport, TwilioSimulator  # noqa: E402


def percentile(values: list[float], q: float) -> float:
    ordered = sorted(values)
    return ordered[min(len(ordered) - 1, int(round(q / 100 * (len(ordered) - 1))))] if ordered else float("nan")


def process_cpu_s(pid: int) -> float:
    """User + system CPU of a process, all its threads (ONNX and executor threads included)."""
    fields = Path(f"/proc/{pid}/stat").read_text().rsplit(")", 1)[1].split()
    return (int(fields[11]) + int(fields[12])) / os.sysconf("SC_CLK_TCK")  # utime + stime


def own_cpu_s() -> float:
    usage = resource.getrusage(resource.RUSAGE_SELF)
    return usage.ru_utime + usage.ru_stime


def caller_audio() -> tuple[AudioFrame, AudioFrame]:
    """The caller's question (2.6 s of real speech) and the words said over the reply."""
    speech = read_wav(ROOT / "tests" / "data" / "jfk.wav")
    caller = AudioFrame(speech.pcm[: int(2.6 * 16000) * 2], 16000)
    barge = AudioFrame(speech.pcm[int(0.3 * 16000) * 2 : int(2.4 * 16000) * 2], 16000)  # speech from its first frame
    return caller, barge


async def wait_healthy(url: str, attempts: int = 300) -> None:
    async with httpx.AsyncClient() as http:
        for _ in range(attempts):
            try:
                if (await http.get(url + "/healthz")).status_code == 200:
                    return
            except httpx.TransportError:
                pass
            await asyncio.sleep(0.1)
    raise RuntimeError(f"{url} did not come up")


@dataclass
class CallResult:
    seconds: float  # the whole call, webhook to hang-up
    report: CallReport


async def one_call(url: str, token: str, caller: AudioFrame, barge: AudioFrame, delay_s: float) -> CallResult:
    """Speak, let the bot answer, talk over the answer (barge-in), hear the second answer, hang up."""
    await asyncio.sleep(delay_s)
    started = time.monotonic()
    simulator = TwilioSimulator(url, auth_token=token, stamp_send_time=True)
    report = await simulator.call(caller, barge_in=barge, barge_in_after_s=0.5, quiet_after_reply_s=1.0, max_call_s=60)
    if not report.media_received:
        raise RuntimeError(f"call {report.call_sid} got no reply")
    return CallResult(time.monotonic() - started, report)


@dataclass
class Level:
    """One level's calls with the server's CPU and this process's CPU over the same window."""

    results: list[CallResult | BaseException]
    wall_s: float
    server_cpu_s: float
    client_cpu_s: float

    @property
    def ok(self) -> list[CallResult]:
        return [r for r in self.results if isinstance(r, CallResult)]

    @property
    def failures(self) -> list[BaseException]:
        return [r for r in self.results if not isinstance(r, CallResult)]

    @property
    def call_minutes(self) -> float:
        return sum(r.seconds for r in self.ok) / 60

    def errors(self) -> list[str]:
        return sorted({type(f).__name__ + ": " + str(f)[:80] for f in self.failures})[:3]


async def run_level(
    url: str, token: str, server_pid: int, calls: int, stagger_s: float, caller: AudioFrame, barge: AudioFrame
) -> Level:
    """`calls` calls at once, their starts spread over `stagger_s` seconds."""
    cpu0, own0, wall0 = process_cpu_s(server_pid), own_cpu_s(), time.monotonic()
    delays = [stagger_s * i / max(1, calls) for i in range(calls)]
    results = await asyncio.gather(*(one_call(url, token, caller, barge, d) for d in delays), return_exceptions=True)
    wall = time.monotonic() - wall0
    return Level(list(results), wall, process_cpu_s(server_pid) - cpu0, own_cpu_s() - own0)
