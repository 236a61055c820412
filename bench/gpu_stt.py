"""Kyutai STT on the GPU: batch step time per batch size, and the threaded path a server uses.

Run through bench/gpu_engines.py (see docs/gpu-benchmarks.md).
"""

from __future__ import annotations

import gc
import time

import numpy as np

from bench.gpu_timing import concurrent, pct

STT_BUDGET_MS = 80.0  # one Mimi frame: a step slower than this falls behind real time


def time_steps(stt, n_warm, n, rng):
    pcm = (0.1 * rng.standard_normal((stt.batch_size, 1920))).astype(np.float32)
    for _ in range(n_warm):
        stt.step_batch(pcm)
    times = []
    for _ in range(n):
        t0 = time.perf_counter()
        stt.step_batch(pcm)  # returns host values: includes the device->host sync
        times.append((time.perf_counter() - t0) * 1000)
    return dict(p50_ms=pct(times, 50), p99_ms=pct(times, 99), max_ms=max(times), n=n)


def bench_stt(device, smoke, res, batches):
    import torch

    from modal_services.engines import KyutaiSttEngine

    rng = np.random.default_rng(0)
    stt = KyutaiSttEngine(device=device, batch_size=1)  # whole-encode CUDA graph on (the default)
    t0 = time.perf_counter()
    stt.load(random_weights=True)
    res["stt_load_s"] = time.perf_counter() - t0
    res["stt_steps"] = {}
    n = 10 if smoke else 60
    for b in batches:
        try:
            if torch.cuda.is_available():
                torch.cuda.reset_peak_memory_stats()
            t0 = time.perf_counter()
            stt.set_batch_size(b)
            setup = time.perf_counter() - t0
            r = time_steps(stt, 5, n, rng)
            r["setup_s"] = setup
            if torch.cuda.is_available():
                r["gpu_mem_gb"] = torch.cuda.max_memory_allocated() / 1e9
        except (torch.OutOfMemoryError, RuntimeError) as e:  # the KV cache (~0.1 GB/stream) is the limit
            res["stt_steps"][b] = dict(error=f"{type(e).__name__}: {str(e)[:100]}")
            gc.collect()
            torch.cuda.empty_cache() if torch.cuda.is_available() else None
            break
        res["stt_steps"][b] = r
        print("stt", b, r, flush=True)
        if r["p50_ms"] > 2 * STT_BUDGET_MS:
            break
    ok = [b for b, r in res["stt_steps"].items() if r.get("p99_ms", 1e9) < STT_BUDGET_MS]
    res["stt_max_realtime_batch"] = max(ok) if ok else 0

    # Whole-encode CUDA graph on top of moshi's own (default) vs moshi's graphs alone: same codes?
    res["stt_graph_mimi"] = {}
    frames = (0.1 * rng.standard_normal((6, 8, 1920))).astype(np.float32)
    codes = {}
    for flag in (False, True):
        stt.cuda_graph_mimi = flag
        stt.set_batch_size(8)
        out = []
        for f in frames:
            stt.step_batch(f)
            out.append(stt.last_codes.cpu().numpy())
        codes[flag] = np.stack(out)
    res["stt_graph_mimi"]["same_codes"] = bool(np.array_equal(codes[False], codes[True]))
    stt.cuda_graph_mimi = False
    for b in [x for x in (1, 64, 256, 512) if x in res["stt_steps"] and "p50_ms" in res["stt_steps"][x]]:
        stt.set_batch_size(b)
        res["stt_graph_mimi"][f"moshi_graphs_only_{b}"] = time_steps(stt, 5, n, rng)
    stt.cuda_graph_mimi = True

    # The threaded path a server uses: 8 callers, each stepping its own stream in real time.
    stt.set_batch_size(8)
    streams = [stt.open_stream() for _ in range(8)]
    lat = [[] for _ in streams]

    def caller(i):
        t_next = time.perf_counter()
        for _ in range(25):
            t_next += 0.08
            t0 = time.perf_counter()
            streams[i].step(frames[0, i])
            lat[i].append((time.perf_counter() - t0) * 1000)
            time.sleep(max(0.0, t_next - time.perf_counter()))

    concurrent(caller, 8)
    flat = [x for xs in lat for x in xs]
    res["stt_threaded_8"] = dict(p50_ms=pct(flat, 50), p99_ms=pct(flat, 99),
                                 pause_probability=[s.pause_probability for s in streams])
    for s in streams:
        s.close()
