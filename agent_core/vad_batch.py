"""Silero VAD for every speaker of a process in one ONNX call per tick.

Silero's state input is (2, batch, 128) and the batch rows do not mix: several speakers'
32 ms windows stacked into one run give each speaker what a run of their own would give,
and one run of 16 windows costs about half of 16 runs. So a stream here only cuts its
windows; the first window queued schedules a tick, and at the tick the windows of every
stream run together. The runs stay on the event loop, as the per-speaker VAD's do, in
chunks of at most `MAX_BATCH` windows with the loop free between them, so a chunk holds it
about as long as one frame's inline VAD did at its slowest (~1 ms). (A worker thread was tried:
under load it waited for the GIL at every hand-over, fell behind the 20 ms ticks and delayed
ends of turn by seconds.) Each stream's probabilities come back with how long they waited:
one tick plus the runs. A tick never starts while the last one's chunks are running, so a
stream's windows always run in order.
"""

from __future__ import annotations

import asyncio
import logging
import threading
import time
from collections import deque
from collections.abc import Callable

import numpy as np

from agent_core.audio.frames import AudioFrame
from agent_core.vad import SileroVad, Windows

log = logging.getLogger(__name__)

# 20 ms: one Twilio frame. A 32 ms window waits about this long for its batch.
DEFAULT_TICK_S = 0.02
# The most windows in one ONNX call: ~1 ms of the loop (one frame's inline VAD took up to ~0.7-1.2 ms
# at p99), at under half the cost per window of one by one; 8 holds it a little less, costs more.
MAX_BATCH = 16

Late = Callable[[list[float], float], None]  # (probabilities, seconds the last one waited)
Chunk = list[tuple["BatchedVadStream", np.ndarray]]


class VadBatch:
    """The process's VAD batcher; `stream()` gives one speaker's stream. Use it from one event loop at a time."""

    _instance: VadBatch | None = None
    _instance_lock = threading.Lock()

    def __init__(self, model: SileroVad | None = None, tick_s: float = DEFAULT_TICK_S,
                 max_batch: int = MAX_BATCH) -> None:
        self._model = model or SileroVad.shared()
        self.tick_s = tick_s
        self.max_batch = max_batch
        self._queued: list[BatchedVadStream] = []
        self._loop: asyncio.AbstractEventLoop | None = None
        self._tick: asyncio.TimerHandle | None = None
        self._running = False  # a tick's chunks are still being run
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
        if self._loop is not loop:  # a new loop (tests): whatever the old one had scheduled is dead
            self._loop, self._tick, self._running = loop, None, False
        if self._tick is None and not self._running:
            self._tick = loop.call_later(self.tick_s, self._run_tick)

    def _run_tick(self) -> None:
        self._tick = None
        streams, self._queued = self._queued, []
        taken = {stream: (stream.take(), stream.last_window_t) for stream in streams}
        # Round r holds the r-th window of every stream that has one: a stream's windows run in order.
        chunks: deque[Chunk] = deque()
        for r in range(max(len(windows) for windows, _ in taken.values())):
            row = [(stream, windows[r]) for stream, (windows, _) in taken.items() if len(windows) > r]
            chunks.extend(row[i : i + self.max_batch] for i in range(0, len(row), self.max_batch))
        self._running = True
        self._run_chunk(chunks, {stream: [] for stream in streams}, {s: t for s, (_, t) in taken.items()},
                        time.monotonic())

    def _run_chunk(self, chunks: deque[Chunk], probs: dict[BatchedVadStream, list[float]],
                   taken_t: dict[BatchedVadStream, float], started: float) -> None:
        assert self._loop is not None
        chunk = chunks.popleft()
        try:
            out, new_states = self._model.infer_batch(np.stack([window for _, window in chunk]),
                                                      np.concatenate([stream.state for stream, _ in chunk], axis=1))
        except Exception:
            # Every window still gets an answer, or its listener would hold it as unjudged for good
            # (and its pre-roll with it): this tick's remaining windows count as silence.
            dropped = [chunk, *chunks]
            log.exception("batched VAD run failed: %d windows of this tick count as silence",
                          sum(len(c) for c in dropped))
            for failed in dropped:
                for stream, _ in failed:
                    probs[stream].append(0.0)
            chunks.clear()
        else:
            for row, (stream, _) in enumerate(chunk):
                probs[stream].append(float(out[row, 0]))
                stream.state = new_states[:, row : row + 1]
            self.runs += 1
            self.windows += len(chunk)
        if chunks:
            self._loop.call_soon(self._run_chunk, chunks, probs, taken_t, started)  # let the loop in between
            return
        self._running = False
        if self._queued:  # windows that came while these ran: on the tick's usual beat, or now if late
            self._tick = self._loop.call_at(max(self._loop.time(), self._loop.time() + started + self.tick_s
                                                - time.monotonic()), self._run_tick)
        now = time.monotonic()
        for stream, values in probs.items():
            if values and stream.on_late is not None:
                stream.on_late(values, now - taken_t[stream])


class BatchedVadStream:
    """One speaker's stream: `process` queues windows and returns []; `on_late` gets their probabilities."""

    def __init__(self, batch: VadBatch, on_late: Late | None) -> None:
        self._batch = batch
        self.on_late = on_late
        self.state = np.zeros((2, 1, 128), dtype=np.float32)  # Silero's memory of this speaker
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
