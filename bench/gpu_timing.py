"""Timing helpers shared by the GPU benchmarks."""

from __future__ import annotations

import threading
import time

import numpy as np


def pct(xs, q):
    return float(np.percentile(np.asarray(xs, float), q)) if len(xs) else float("nan")


def sync():
    import torch

    if torch.cuda.is_available():
        torch.cuda.synchronize()


def concurrent(fn, n):
    """Start n calls together; returns per-call results and the wall time."""
    out, barrier = [None] * n, threading.Barrier(n + 1)

    def run(i):
        barrier.wait()
        out[i] = fn(i)

    threads = [threading.Thread(target=run, args=(i,)) for i in range(n)]
    for t in threads:
        t.start()
    barrier.wait()
    t0 = time.perf_counter()
    for t in threads:
        t.join()
    return out, time.perf_counter() - t0
