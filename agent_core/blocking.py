"""Run blocking model code in worker threads without stalling the event loop.

Model inference (Whisper, llama.cpp, the TTS) is CPU-bound and blocking. Each
model gets its own single-thread executor: the models are not safe to run
concurrently on one instance, and on a small CPU parallel runs of the same
model only thrash. Different models still overlap (the LLM writes sentence
two while the TTS speaks sentence one).
"""

from __future__ import annotations

import asyncio
import enum
import threading
from collections.abc import AsyncGenerator, Callable, Iterator
from concurrent.futures import ThreadPoolExecutor
from typing import TypeVar

T = TypeVar("T")


class _End(enum.Enum):
    """The marker after the last item: an enum member, so the type checker tells it from an item."""

    DONE = enum.auto()


_DONE = _End.DONE


def model_executor(name: str) -> ThreadPoolExecutor:
    return ThreadPoolExecutor(max_workers=1, thread_name_prefix=f"parley-{name}")


async def iterate_in_thread(make_iterator: Callable[[], Iterator[T]], executor: ThreadPoolExecutor) -> AsyncGenerator[T, None]:
    """Yield the items of a blocking iterator that runs in `executor`.

    Stopping early (break, cancellation, barge-in) sets a flag the worker checks
    between items, and closes the blocking iterator in its own thread so that
    e.g. llama.cpp stops generating instead of finishing the reply unheard.
    """
    loop = asyncio.get_running_loop()
    queue: asyncio.Queue[tuple[T | _End, BaseException | None]] = asyncio.Queue()
    stopped = threading.Event()

    def deliver(item: T | _End, error: BaseException | None = None) -> None:
        try:
            loop.call_soon_threadsafe(queue.put_nowait, (item, error))
        except RuntimeError:  # the loop is closed: nobody is listening any more
            stopped.set()

    def work() -> None:
        iterator = None
        try:
            iterator = make_iterator()
            for item in iterator:
                if stopped.is_set():
                    break
                deliver(item)
        except BaseException as exc:  # handed to the consumer, which re-raises
            deliver(_DONE, exc)
            return
        finally:
            close = getattr(iterator, "close", None)
            if close is not None:
                close()
        deliver(_DONE)

    loop.run_in_executor(executor, work)
    try:
        while True:
            item, error = await queue.get()
            if item is _DONE:
                if error is not None:
                    raise error
                return
            yield item
    finally:
        stopped.set()
