"""The post-call job queue, in the database: durable, shared by every process, never lost.

A job is queued when a conversation ends; a worker process claims it (an atomic update from
`queued` to `running`, so two workers never run the same job), runs it, and records the result,
or the error: a failed attempt with attempts left goes back to `queued` after a backoff, the
last one ends `failed` with its reason.
"""

from __future__ import annotations

from datetime import UTC, datetime, timedelta
from typing import Any

from pydantic import BaseModel, ConfigDict
from sqlalchemy import func, select, update
from sqlalchemy.ext.asyncio import AsyncSession

from agent_core.storage.database import ConversationNotFound, Database
from agent_core.storage.records import UTCDateTime
from agent_core.storage.tables import ConversationRow, JobRow

QUEUED, RUNNING, DONE, FAILED = "queued", "running", "done", "failed"
POST_CALL_KINDS = ("transcript", "summary")
# Delivered once a conversation's other jobs have all finished (settings.jobs.webhook_url).
WEBHOOK = "webhook"
DEFAULT_MAX_ATTEMPTS = 3
# After a failed attempt: 10 s, then 40 s, then 160 s ... (a service that is down gets time to return).
FIRST_BACKOFF_S, BACKOFF_FACTOR = 10.0, 4.0
# A job still `running` this long after it started belongs to a worker that died: run it again.
STALE_RUNNING = timedelta(minutes=30)


class JobTotal(BaseModel):
    """The jobs of one kind in one status: how many, and the sum of their recorded cost."""

    kind: str
    status: str
    count: int
    usd: float
    cpu_seconds: float
    gpu_seconds: float


class JobRecord(BaseModel):
    model_config = ConfigDict(from_attributes=True)

    id: int
    conversation_id: int
    kind: str
    status: str
    attempts: int
    max_attempts: int
    runner: str | None = None
    created_at: UTCDateTime
    next_attempt_at: UTCDateTime
    started_at: UTCDateTime | None = None
    finished_at: UTCDateTime | None = None
    result: dict[str, Any] | None = None
    error: str | None = None
    cost: dict[str, Any] | None = None


def _now() -> datetime:
    return datetime.now(UTC)


class JobStore:
    def __init__(self, db: Database) -> None:
        self.db = db

    async def enqueue(self, conversation_id: int, kinds: tuple[str, ...] = POST_CALL_KINDS,
                      max_attempts: int = DEFAULT_MAX_ATTEMPTS) -> list[int]:
        now = _now()
        async with self.db.transaction() as session:
            if await session.get(ConversationRow, conversation_id) is None:
                raise ConversationNotFound(conversation_id)
            rows = [JobRow(conversation_id=conversation_id, kind=kind, status=QUEUED, attempts=0,
                           max_attempts=max_attempts, created_at=now, next_attempt_at=now) for kind in kinds]
            session.add_all(rows)
            await session.flush()
            return [row.id for row in rows]

    async def claim(self, runner: str, kinds: tuple[str, ...] = (*POST_CALL_KINDS, WEBHOOK),
                    conversation_id: int | None = None) -> JobRecord | None:
        """The oldest job that is due (or whose worker died), now `running` for `runner`; None if none.

        With `conversation_id`, only that conversation's jobs (a GPU function spawned for one call)."""
        now = _now()
        for _ in range(5):  # another worker may take the one we picked first: pick again
            async with self.db.transaction() as session:
                due = (JobRow.status == QUEUED) & (JobRow.next_attempt_at <= now)
                abandoned = (JobRow.status == RUNNING) & (JobRow.started_at < now - STALE_RUNNING)
                which = (due | abandoned) & JobRow.kind.in_(kinds)
                if conversation_id is not None:
                    which &= JobRow.conversation_id == conversation_id
                candidate = (await session.execute(
                    select(JobRow.id, JobRow.status).where(which)
                    .order_by(JobRow.next_attempt_at, JobRow.id).limit(1)
                )).first()
                if candidate is None:
                    return None
                taken = (await session.execute(
                    update(JobRow).where(JobRow.id == candidate.id, JobRow.status == candidate.status)
                    .values(status=RUNNING, runner=runner, started_at=now, attempts=JobRow.attempts + 1)
                    .returning(JobRow.id)
                )).scalar_one_or_none()
                if taken is not None:
                    row = await session.get(JobRow, taken, populate_existing=True)
                    assert row is not None
                    return JobRecord.model_validate(row)
        return None

    async def finish(self, job_id: int, result: dict[str, Any], cost: dict[str, Any] | None = None) -> None:
        async with self.db.transaction() as session:
            row = await self._row(session, job_id)
            row.status, row.result, row.error, row.cost, row.finished_at = DONE, result, None, cost, _now()

    async def fail(self, job_id: int, error: str, cost: dict[str, Any] | None = None) -> JobRecord:
        """Record a failed attempt: back to `queued` after a backoff, or `failed` if it was the last."""
        async with self.db.transaction() as session:
            row = await self._row(session, job_id)
            row.error, row.cost = error, cost
            if row.attempts >= row.max_attempts:
                row.status, row.finished_at = FAILED, _now()
            else:
                backoff = FIRST_BACKOFF_S * BACKOFF_FACTOR ** (row.attempts - 1)
                row.status, row.next_attempt_at = QUEUED, _now() + timedelta(seconds=backoff)
            return JobRecord.model_validate(row)

    async def retry(self, job_id: int) -> JobRecord:
        """An operator's retry of a failed (or any) job: queued now, with a fresh set of attempts."""
        async with self.db.transaction() as session:
            row = await self._row(session, job_id)
            row.status, row.next_attempt_at, row.finished_at = QUEUED, _now(), None
            row.max_attempts = row.attempts + DEFAULT_MAX_ATTEMPTS
            return JobRecord.model_validate(row)

    async def get(self, job_id: int) -> JobRecord | None:
        async with self.db.transaction() as session:
            row = await session.get(JobRow, job_id)
            return JobRecord.model_validate(row) if row is not None else None

    async def for_conversation(self, conversation_id: int) -> list[JobRecord]:
        return await self._list(JobRow.conversation_id == conversation_id, limit=1000)

    async def recent(self, status: str | None = None, limit: int = 50) -> list[JobRecord]:
        return await self._list(JobRow.status == status if status else None, limit=limit, newest_first=True)

    async def totals(self) -> list[JobTotal]:
        """Counts and summed cost by kind and status, computed by the database (one grouped query)."""
        sums = [func.coalesce(func.sum(JobRow.cost[key].as_float()), 0.0) for key in ("usd", "cpu_seconds", "gpu_seconds")]
        query = select(JobRow.kind, JobRow.status, func.count(), *sums).group_by(JobRow.kind, JobRow.status)
        async with self.db.transaction() as session:
            return [JobTotal(kind=kind, status=status, count=count, usd=usd, cpu_seconds=cpu, gpu_seconds=gpu)
                    for kind, status, count, usd, cpu, gpu in (await session.execute(query)).all()]

    async def _list(self, where: Any, *, limit: int, newest_first: bool = False) -> list[JobRecord]:
        query = select(JobRow)
        if where is not None:
            query = query.where(where)
        query = query.order_by(JobRow.id.desc() if newest_first else JobRow.id).limit(limit)
        async with self.db.transaction() as session:
            return [JobRecord.model_validate(row) for row in (await session.execute(query)).scalars()]

    @staticmethod
    async def _row(session: AsyncSession, job_id: int) -> JobRow:
        row = await session.get(JobRow, job_id)
        if row is None:
            raise KeyError(f"no job with id {job_id}")
        return row
