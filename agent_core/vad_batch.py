"""Silero VAD for every speaker of a process in one ONNX call per tick.

Silero's state input is (2, batch, 128) and the batch rows do not mix: several speakers'
32 ms windows stacked into one run give each speaker what a run of their own would give,
and one run of 32 windows costs about a third of 32 runs. So a stream here only cuts its
windows; the first window queued schedules a tick, and at the tick the windows of every
stream run together on one worker thread (the event loop never waits for the model). Each
stream's probabilities come back on the loop, with how long they waited: at most one tick
plus the run. A stream's state is only ever read and written on that one worker, in queue
order, so a tick that starts before the previous one's results are delivered is still right.
"""

from __future__ import annotations

import asyncio
import logging
import threading
import time
from collections.abc import Callable
from concurrent.futures import ThreadPoolExecutor
from functools import partial

import numpy as np

from agent_core.audio.frames import AudioFrame
from agent_core.vad import SileroVad, Windows

log = logging.getLogger(__name__)

# 20 ms: one Twilio frame. A 32 ms window waits at most this long for its batch.
DEFAULT_TICK_S = 0.02

Late = Callable[[list[float], float], None]  # (probabilities, seconds the last one waited)


class VadBatch:
    """The process's VAD worker; `stream()` gives one speaker's stream. Use it from one event loop at a time."""

    _instance: VadBatch | None = None
    _instance_lock = threading.Lock()

    def __init__(self, model: SileroVad | None = None, tick_s: float = DEFAULT_TICK_S) -> None:
        self._model = model or SileroVad.shared()
        self.tick_s = tick_s
        self._queued: list[BatchedVadStream] = []
        self._loop: asyncio.AbstractEventLoop | None = None
        self._tick: asyncio.TimerHandle | None = None
        self._worker = ThreadPoolExecutor(max_workers=1, thread_name_prefix="vad-batch")
        self.runs = 0  # ONNX calls, and the windows they carried: the batch sizes, for benchmarks
        self.windows = 0

    @classmethod
    def shared(cls) -> VadBatch:
        with cls._instance_lock:
            if cls._instance is None:
                cls._instance = cls()
            return cls._instance

    def stream(self, on_late: Late | None = None) -> BatchedVadStream:
        return BatchedVadStream(self, on_late)

    def _queue(self, stream: BatchedVadStream) -> None:
        self._queued.append(stream)
        loop = asyncio.get_running_loop()
        if self._tick is None or self._loop is not loop:  # a new loop (tests): the old tick is dead
            self._loop = loop
            self._tick = loop.call_later(self.tick_s, self._run_tick)

    def _run_tick(self) -> None:
        self._tick = None
        assert self._loop is not None
        jobs = [(stream, stream.take()) for stream in self._queued]
        self._queued = []
        taken = [stream.last_window_t for stream, _ in jobs]
        future = self._loop.run_in_executor(self._worker, self._infer, jobs)
        future.add_done_callback(partial(self._deliver, [s for s, _ in jobs], taken))

    def _infer(self, jobs: list[tuple[BatchedVadStream, list[np.ndarray]]]) -> list[list[float]]:
        """On the worker. Round r runs the r-th queued window of every stream that has one."""
        probs: list[list[float]] = [[] for _ in jobs]
        for r in range(max((len(windows) for _, windows in jobs), default=0)):
            rows = [i for i, (_, windows) in enumerate(jobs) if len(windows) > r]
            inputs = np.stack([jobs[i][1][r] for i in rows])
            states = np.concatenate([jobs[i][0].state for i in rows], axis=1)
            out, new_states = self._model.infer_batch(inputs, states)
            for row, i in enumerate(rows):
                probs[i].append(float(out[row, 0]))
                jobs[i][0].state = new_states[:, row : row + 1]
            self.runs += 1
            self.windows += len(rows)
        return probs

    @staticmethod
    def _deliver(streams: list[BatchedVadStream], taken: list[float], future: asyncio.Future) -> None:
        if future.cancelled():
            return
        if future.exception() is not None:
            log.error("batched VAD run failed for %d streams: %s", len(streams), future.exception())
            return
        now = time.monotonic()
        for stream, last_window_t, probs in zip(streams, taken, future.result(), strict=True):
            if stream.on_late is not None:
                stream.on_late(probs, now - last_window_t)


class BatchedVadStream:
    """One speaker's stream: `process` queues windows and returns []; `on_late` gets their probabilities."""

    def __init__(self, batch: VadBatch, on_late: Late | None) -> None:
        self._batch = batch
        self.on_late = on_late
        self.state = np.zeros((2, 1, 128), dtype=np.float32)  # the worker's, between runs
        self._windows = Windows()
        self._waiting: list[np.ndarray] = []
        self.last_window_t = 0.0  # when the newest queued window's last sample arrived

    def process(self, frame: AudioFrame) -> list[float]:
        return self._queue_windows(self._windows.cut(frame))

    def process_samples(self, samples: np.ndarray) -> list[float]:
        """`samples`: float32 at 16 kHz."""
        return self._queue_windows(self._windows.cut_samples(samples))

    def _queue_windows(self, inputs: list[np.ndarray]) -> list[float]:
        if inputs:
            if not self._waiting:
                self._batch._queue(self)
            self._waiting += inputs
            self.last_window_t = time.monotonic()
        return []

    def take(self) -> list[np.ndarray]:
        waiting, self._waiting = self._waiting, []
        return waiting
