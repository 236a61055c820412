"""Silero VAD per speaker (inline) against the batched VAD worker, at 1, 8 and 32 streams.

Each stream is a caller: tests/data/jfk.wav (from a different offset per stream) in 20 ms
frames at real-time pace, the streams' frames spread evenly over each 20 ms, on one event
loop ("none": the same with the windows cut but no model, the harness's own cost). Reports, per mode and stream count: process CPU (all threads) per stream as % of one
core, the p99 time one `process` call (or, batched, one batch run) held the event loop, and for the batched mode how
long a window waited from its last sample to its probability (the added latency; at most one
tick plus the run) and the mean batch size.

    python bench/vad_batch.py                   # 1,8,32 streams, 6 s each
    python bench/vad_batch.py --streams 1,64 --seconds 10
"""

from __future__ import annotations

import argparse
import asyncio
import sys
import time
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT))

from agent_core.audio import AudioFrame, read_wav  # noqa: E402
from agent_core.vad import SileroVad, Windows  # noqa: E402
from agent_core.vad_batch import VadBatch  # noqa: E402

FRAME_S = 0.02


def percentile(values: list[float], q: float) -> float:
    ordered = sorted(values)
    return ordered[int(q / 100 * (len(ordered) - 1))] if ordered else float("nan")


async def run(mode: str, streams: int, seconds: float, speech: AudioFrame) -> dict[str, float]:
    model = SileroVad.shared()
    batch = VadBatch(model) if mode == "batched" else None
    waits: list[float] = []
    windows = [0]
    held: list[float] = []  # how long each callback with VAD work held the event loop

    def late(probs: list[float], waited_s: float) -> None:
        waits.append(waited_s)
        windows[0] += len(probs)

    if batch:  # the batch's runs hold the loop too, as callbacks of their own
        run_chunk = batch._run_chunk

        def timed_chunk(*args: object) -> None:
            t = time.perf_counter()
            run_chunk(*args)  # type: ignore[arg-type]
            held.append(time.perf_counter() - t)

        batch._run_chunk = timed_chunk  # type: ignore[method-assign]
    vads = [batch.stream(late) if batch else model.stream() for _ in range(streams)]
    if mode == "none":  # the harness alone (pacing, frames): subtract it from the others
        vads = [Windows() for _ in range(streams)]
    frames = speech.split(FRAME_S)
    start = time.monotonic() + 0.1

    async def caller(i: int) -> None:
        offset = i * 37  # a different part of the speech per caller
        for n in range(int(seconds / FRAME_S)):
            await asyncio.sleep(max(0.0, start + n * FRAME_S + i * FRAME_S / streams - time.monotonic()))
            t = time.perf_counter()
            vad = vads[i]
            frame = frames[(offset + n) % len(frames)]
            windows[0] += len(vad.cut(frame) if isinstance(vad, Windows) else vad.process(frame))
            held.append(time.perf_counter() - t)

    cpu = time.process_time()
    await asyncio.gather(*(caller(i) for i in range(streams)))
    await asyncio.sleep(0.1)  # the last batch
    cpu = time.process_time() - cpu
    wall = seconds + 0.2
    return {
        "cpu_pct_per_stream": 100 * cpu / wall / streams,
        "loop_held_p99_ms": 1000 * percentile(held, 99),
        "wait_p50_ms": 1000 * percentile(waits, 50) if batch else 0.0,
        "wait_p99_ms": 1000 * percentile(waits, 99) if batch else 0.0,
        "batch_mean": batch.windows / batch.runs if batch and batch.runs else 1.0,
    }


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--streams", default="1,8,32")
    parser.add_argument("--seconds", type=float, default=6.0)
    args = parser.parse_args()
    speech = read_wav(ROOT / "tests" / "data" / "jfk.wav")
    SileroVad.shared()
    print("| streams | VAD | CPU per stream (% of a core) | loop held per frame or batch run, p99 (ms) "
          "| added wait p50 (ms) | p99 (ms) | mean batch |")
    print("|---|---|---|---|---|---|---|")
    for streams in (int(n) for n in args.streams.split(",")):
        for mode in ("none", "per-stream", "batched"):
            r = asyncio.run(run(mode, streams, args.seconds, speech))
            print(f"| {streams} | {mode} | {r['cpu_pct_per_stream']:.2f} | {r['loop_held_p99_ms']:.3f} "
                  f"| {r['wait_p50_ms']:.1f} | {r['wait_p99_ms']:.1f} | {r['batch_mean']:.1f} |", flush=True)


if __name__ == "__main__":
    main()
