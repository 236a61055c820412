"""Record writes that outlast a database outage: one ordered queue, retried until the database is back.

A caller on the line must never lose their call because the database is briefly down, and
what they said must not be lost either. Conversation records go through here: each write
waits its turn, and a write that fails because the database cannot be reached is retried
with backoff, in order, until it succeeds. Mistakes in the write itself (a bad value, a
missing conversation) are not retried: they fail that write, loudly. The queue is bounded;
past the bound a write is refused and counted, never silently dropped.
"""

from __future__ import annotations

import asyncio
import logging
from collections.abc import Awaitable, Callable
from typing import Any, TypeVar

from prometheus_client import Counter, Gauge
from sqlalchemy.exc import DBAPIError, InterfaceError, OperationalError

from agent_core.storage.database import Database, DatabaseUnavailable

log = logging.getLogger(__name__)
T = TypeVar("T")

PENDING_WRITES = Gauge("parley_storage_pending_writes", "Record writes waiting for the database")
WRITE_RETRIES = Counter("parley_storage_write_retries_total", "Record writes retried because the database was down")
WRITES_REFUSED = Counter("parley_storage_writes_refused_total", "Record writes refused: the pending queue was full")

# A phone call writes a handful of rows a minute: this holds hours of an outage for many calls.
DEFAULT_MAX_PENDING = 50_000
FIRST_RETRY_S, MAX_RETRY_S = 0.25, 10.0

Write = Callable[[Database], Awaitable[Any]]


class WriteQueueFull(RuntimeError):
    pass


# What an OperationalError says when the database is busy or unreachable, rather than refusing the
# write itself (a missing column is an OperationalError too, and retrying it would never end).
_UNREACHABLE = ("database is locked", "unable to open database", "connect", "server closed", "terminat",
                "shutting down", "starting up", "timeout", "timed out")


def is_outage(exc: BaseException) -> bool:
    """The database could not be reached or was busy (as opposed to a write it refused)."""
    if isinstance(exc, DBAPIError) and exc.connection_invalidated:
        return True
    if isinstance(exc, OperationalError):
        message = str(exc.orig or exc).lower()
        return any(phrase in message for phrase in _UNREACHABLE)
    # A server that is down fails the connection itself: asyncpg raises ConnectionRefusedError.
    return isinstance(exc, InterfaceError | DatabaseUnavailable | OSError | TimeoutError)


class RecordWriter:
    """Create once per process, beside the Database; `aclose()` at exit."""

    def __init__(self, db: Database, *, max_pending: int = DEFAULT_MAX_PENDING) -> None:
        self.db = db
        self.max_pending = max_pending
        self._queue: asyncio.Queue[tuple[Write, asyncio.Future[Any]]] = asyncio.Queue()
        self._task: asyncio.Task[None] | None = None

    @property
    def pending(self) -> int:
        return self._queue.qsize()

    def submit(self, write: Callable[[Database], Awaitable[T]]) -> asyncio.Future[T]:
        """Queue a write; its future resolves once it is in the database. Never blocks."""
        future: asyncio.Future[T] = asyncio.get_running_loop().create_future()
        if self._queue.qsize() >= self.max_pending:
            WRITES_REFUSED.inc()
            log.error("%d record writes are waiting for the database: refusing another", self._queue.qsize())
            future.set_exception(WriteQueueFull(f"{self._queue.qsize()} writes already wait for the database"))
            return future
        if self._task is None:
            self._task = asyncio.create_task(self._run(), name="record-writer")
        future.add_done_callback(_failure_already_logged)
        self._queue.put_nowait((write, future))
        PENDING_WRITES.set(self._queue.qsize())
        return future

    async def _run(self) -> None:
        while True:
            write, future = await self._queue.get()
            try:
                result = await self._until_written(write)
            except Exception as exc:
                log.exception("a record write failed and is not retried")
                if not future.done():
                    future.set_exception(exc)
            else:
                if not future.done():
                    future.set_result(result)
            finally:
                self._queue.task_done()
                PENDING_WRITES.set(self._queue.qsize())

    async def _until_written(self, write: Write) -> Any:
        delay = FIRST_RETRY_S
        while True:
            try:
                return await write(self.db)
            except Exception as exc:
                if not is_outage(exc):
                    raise
                WRITE_RETRIES.inc()
                log.warning("database unavailable (%s); %d record writes wait, retrying in %.1f s",
                            type(exc).__name__, self._queue.qsize() + 1, delay)
                await asyncio.sleep(delay)
                delay = min(MAX_RETRY_S, delay * 2)

    async def flush(self) -> None:
        """Wait until every write queued so far is in the database."""
        await self._queue.join()

    async def aclose(self, timeout_s: float = 10.0) -> None:
        """Give queued writes `timeout_s` to land, then stop; says loudly what could not be written."""
        try:
            await asyncio.wait_for(self.flush(), timeout_s)
        except TimeoutError:
            log.error("shutting down with %d record writes the database never took", self._queue.qsize())
        if self._task is not None:
            self._task.cancel()
            await asyncio.gather(self._task, return_exceptions=True)


def _failure_already_logged(future: asyncio.Future[Any]) -> None:
    """The writer logs a failed write itself: nobody has to await its future to see it."""
    if not future.cancelled():
        future.exception()
