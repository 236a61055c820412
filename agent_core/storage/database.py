"""Async persistence for conversations, turns and per-guild / per-number settings.

SQLite through aiosqlite by default; PostgreSQL through asyncpg
(postgresql+asyncpg://..., the `parley[postgres]` extra), both tested against real servers. Every write commits before returning, so
a crash mid-call keeps everything written so far.
"""

from __future__ import annotations

import asyncio
import json
import weakref
from collections.abc import AsyncIterator, Awaitable, Callable
from contextlib import AbstractAsyncContextManager, asynccontextmanager, nullcontext
from datetime import UTC, datetime
from pathlib import Path
from typing import Any, TypeVar

from sqlalchemy import ColumnElement, event, func, select
from sqlalchemy.engine import make_url
from sqlalchemy.exc import ArgumentError, DBAPIError, IntegrityError, InvalidRequestError, NoSuchModuleError
from sqlalchemy.ext.asyncio import AsyncEngine, AsyncSession, async_sessionmaker, create_async_engine
from sqlalchemy.orm import selectinload

from agent_core.storage.records import ConversationRecord, TurnRecord, as_utc
from agent_core.storage.schema import upgrade_to_head
from agent_core.storage.tables import ConversationRow, GuildSettingRow, NumberSettingRow, TurnRow

T = TypeVar("T")
SettingRow = TypeVar("SettingRow", GuildSettingRow, NumberSettingRow)

# Retries after a unique-constraint race with another process (a second worker
# on the same database); within one process the per-conversation lock prevents it.
_CONFLICT_ATTEMPTS = 10


class StorageError(Exception):
    """Base class for storage errors."""


class InvalidDatabaseURL(StorageError, ValueError):
    """The database URL cannot be parsed, names an unknown dialect, or a non-async driver."""


class DatabaseUnavailable(StorageError):
    """The database could not be opened or the tables could not be created."""


class ConversationNotFound(StorageError, KeyError):
    """No conversation with this id."""

    def __init__(self, conversation_id: int) -> None:
        super().__init__(conversation_id)
        self.conversation_id = conversation_id

    def __str__(self) -> str:  # KeyError's own __str__ would print only the repr of the id
        return f"no conversation with id {self.conversation_id}"


def _now() -> datetime:
    return datetime.now(UTC)


def _masked(url: str) -> str:
    try:
        return make_url(url).render_as_string(hide_password=True)
    except ArgumentError:
        return "<unparseable URL>"


class Database:
    """The storage API. Create once per process, `await migrate()`, `await close()` at exit.

    Concurrent `add_turn` calls for one conversation are serialised by a
    per-conversation asyncio.Lock held by this instance; the next index is
    max(index)+1 computed inside the write, and a unique-constraint conflict
    (another process writing the same conversation) is retried.
    """

    def __init__(self, url: str) -> None:
        try:
            sqlite = make_url(url).get_backend_name() == "sqlite"
            # SQLite: another process writing, wait for it rather than fail (Python's default is 5 s).
            # A server: check pooled connections before use, so one that died in an outage is replaced.
            options: dict[str, Any] = {"connect_args": {"timeout": 30}} if sqlite else {"pool_pre_ping": True}
            self._engine: AsyncEngine = create_async_engine(url, **options)
        except (ArgumentError, NoSuchModuleError, InvalidRequestError, ImportError) as exc:
            raise InvalidDatabaseURL(f"invalid database URL {_masked(url)}: {exc}") from exc
        self.url = self._engine.url
        if self._engine.dialect.name == "sqlite":
            event.listen(self._engine.sync_engine, "connect", _sqlite_on_connect)
        self._sessions = async_sessionmaker(self._engine, expire_on_commit=False)
        # SQLite has one writer at a time. Pooled connections that race for it can fail with
        # "database is locked" when a busy event loop holds a write transaction open; taking
        # turns in the loop instead means a write waits, never fails.
        self._write_lock = asyncio.Lock() if self._engine.dialect.name == "sqlite" else None
        # Weak values: a lock lives only while some add_turn holds or waits on it.
        self._turn_locks: weakref.WeakValueDictionary[int, asyncio.Lock] = weakref.WeakValueDictionary()

    @classmethod
    def for_data_dir(cls, data_dir: Path, url: str | None = None) -> Database:
        """`url` if given, else the SQLite file data_dir/parley.db (creating data_dir)."""
        if url:
            return cls(url)
        data_dir = Path(data_dir).expanduser().resolve()
        data_dir.mkdir(parents=True, exist_ok=True)
        return cls(f"sqlite+aiosqlite:///{(data_dir / 'parley.db').as_posix()}")

    async def migrate(self) -> None:
        """Bring the schema to the current revision (creating it on a new database); on every start."""
        try:
            async with self._engine.begin() as conn:
                await conn.run_sync(upgrade_to_head)
        except (DBAPIError, OSError) as exc:
            raise DatabaseUnavailable(f"cannot open database {_masked(str(self.url))}: {exc}") from exc

    @asynccontextmanager
    async def transaction(self) -> AsyncIterator[AsyncSession]:
        """One transaction, committed on exit, for the storage modules beside this one (jobs)."""
        async with self._writing(), self._sessions.begin() as session:
            yield session

    @property
    def engine(self) -> AsyncEngine:
        """For migrations and diagnostics; the methods below are the API."""
        return self._engine

    async def close(self) -> None:
        await self._engine.dispose()

    # -- conversations -------------------------------------------------------

    async def start_conversation(
        self,
        *,
        channel: str,
        external_id: str,
        persona: str,
        caller: str | None = None,
        callee: str | None = None,
        direction: str | None = None,
        status: str = "in-progress",
        meta: dict[str, Any] | None = None,
    ) -> int:
        """Create the conversation, or take over the row a status callback created first.

        On an existing row, None arguments keep the stored values, meta is merged
        and started_at is kept (the earliest sighting of the call).
        """

        def apply(row: ConversationRow) -> None:
            row.persona = persona
            row.caller = caller if caller is not None else row.caller
            row.callee = callee if callee is not None else row.callee
            row.direction = direction if direction is not None else row.direction
            row.status = status
            if meta:
                row.meta = {**(row.meta or {}), **meta}  # a new dict, so the ORM sees the change

        return await self._upsert_conversation(channel, external_id, apply)

    async def record_status(self, *, channel: str, external_id: str, status: str, details: dict[str, Any] | None = None) -> None:
        """A status callback (Twilio): update that call's row, creating a minimal one if the stream hasn't yet."""

        def apply(row: ConversationRow) -> None:
            row.status = status
            if details:
                row.meta = {**(row.meta or {}), **details}

        await self._upsert_conversation(channel, external_id, apply)

    async def add_turn(
        self,
        conversation_id: int,
        *,
        speaker: str,
        role: str,
        text: str,
        heard: bool = True,
        interrupted: bool = False,
        latency_ms: dict[str, float | None] | None = None,
        at: datetime | None = None,
    ) -> int:
        """Append a turn and commit; returns its index (0, 1, 2, ... per conversation). Naive `at` is taken as UTC."""
        when = as_utc(at) if at is not None else _now()

        async def write(session: AsyncSession) -> int:
            await self._require_conversation(session, conversation_id)
            last = await session.scalar(
                select(func.max(TurnRow.index)).where(TurnRow.conversation_id == conversation_id)
            )
            index = 0 if last is None else last + 1
            session.add(
                TurnRow(
                    conversation_id=conversation_id,
                    index=index,
                    speaker=speaker,
                    role=role,
                    text=text,
                    heard=heard,
                    interrupted=interrupted,
                    latency_ms=dict(latency_ms) if latency_ms is not None else None,
                    at=when,
                )
            )
            return index

        lock = self._turn_locks.setdefault(conversation_id, asyncio.Lock())
        async with lock:
            return await self._write_retrying(write)

    async def end_conversation(
        self, conversation_id: int, *, status: str = "completed", stats: dict[str, Any] | None = None
    ) -> None:
        async with self._writing(), self._sessions.begin() as session:
            row = await self._require_conversation(session, conversation_id)
            row.ended_at = _now()
            row.status = status
            if stats:
                row.stats = {**(row.stats or {}), **stats}

    async def merge_meta(self, conversation_id: int, meta: dict[str, Any]) -> None:
        """Add keys to a conversation's meta (e.g. where its recording is)."""

        async with self._writing(), self._sessions.begin() as session:
            row = await self._require_conversation(session, conversation_id)
            row.meta = {**(row.meta or {}), **meta}  # a new dict, so the ORM sees the change

    async def set_summary(self, conversation_id: int, summary: str) -> None:
        async with self._writing(), self._sessions.begin() as session:
            row = await self._require_conversation(session, conversation_id)
            row.summary = summary

    async def get_conversation(self, *, channel: str, external_id: str) -> ConversationRecord | None:
        """The conversation with its turns in index order, or None."""
        return await self._conversation_where(
            ConversationRow.channel == channel, ConversationRow.external_id == external_id
        )

    async def get_conversation_by_id(self, conversation_id: int) -> ConversationRecord | None:
        return await self._conversation_where(ConversationRow.id == conversation_id)

    async def _conversation_where(self, *conditions: ColumnElement[bool]) -> ConversationRecord | None:
        async with self._sessions() as session:
            row = await session.scalar(
                select(ConversationRow).where(*conditions).options(selectinload(ConversationRow.turns))
            )
            if row is None:
                return None
            return _conversation_record(row, [TurnRecord.model_validate(t) for t in row.turns])

    async def list_conversations(
        self, *, channel: str | None = None, limit: int = 50, before: int | None = None
    ) -> list[ConversationRecord]:
        """Newest first (ids grow as conversations start), without turns; `before`: only older
        than that conversation id, to page through them."""
        if limit < 1:
            return []
        query = select(ConversationRow).order_by(ConversationRow.id.desc())
        if channel is not None:
            query = query.where(ConversationRow.channel == channel)
        if before is not None:
            query = query.where(ConversationRow.id < before)
        async with self._sessions() as session:
            rows = (await session.scalars(query.limit(limit))).all()
            return [_conversation_record(row, []) for row in rows]

    # -- settings ------------------------------------------------------------

    async def get_guild_settings(self, guild_id: int) -> dict[str, Any]:
        return await self._get_settings(GuildSettingRow, GuildSettingRow.guild_id == guild_id)

    async def set_guild_setting(self, guild_id: int, key: str, value: Any) -> None:
        await self._set_setting(GuildSettingRow, (guild_id, key), {"guild_id": guild_id, "key": key}, value)

    async def get_number_settings(self, number: str) -> dict[str, Any]:
        return await self._get_settings(NumberSettingRow, NumberSettingRow.number == number)

    async def set_number_setting(self, number: str, key: str, value: Any) -> None:
        await self._set_setting(NumberSettingRow, (number, key), {"number": number, "key": key}, value)

    # -- internals -----------------------------------------------------------

    async def _write_retrying(self, write: Callable[[AsyncSession], Awaitable[T]]) -> T:
        """Run `write` in its own transaction; on a unique-constraint race, start over with fresh reads."""
        for attempt in range(_CONFLICT_ATTEMPTS):
            try:
                async with self._writing(), self._sessions.begin() as session:
                    return await write(session)
            except IntegrityError:
                if attempt == _CONFLICT_ATTEMPTS - 1:
                    raise
                await asyncio.sleep(0.001 * (attempt + 1))
        raise AssertionError("unreachable")

    def _writing(self) -> AbstractAsyncContextManager[Any]:
        return self._write_lock if self._write_lock is not None else nullcontext()

    async def _upsert_conversation(
        self, channel: str, external_id: str, apply: Callable[[ConversationRow], None]
    ) -> int:
        async def write(session: AsyncSession) -> int:
            row = await session.scalar(
                select(ConversationRow).where(
                    ConversationRow.channel == channel, ConversationRow.external_id == external_id
                )
            )
            if row is None:
                row = ConversationRow(
                    channel=channel,
                    external_id=external_id,
                    persona="",
                    status="",
                    started_at=_now(),
                    meta={},
                    stats={},
                )
                session.add(row)
            apply(row)
            await session.flush()  # assigns the id of a new row
            return row.id

        return await self._write_retrying(write)

    @staticmethod
    async def _require_conversation(session: AsyncSession, conversation_id: int) -> ConversationRow:
        row = await session.get(ConversationRow, conversation_id)
        if row is None:
            raise ConversationNotFound(conversation_id)
        return row

    async def _get_settings(self, table: type[SettingRow], where: Any) -> dict[str, Any]:
        async with self._sessions() as session:
            rows = (await session.scalars(select(table).where(where))).all()
            return {row.key: row.value for row in rows}

    async def _set_setting(
        self,
        table: type[SettingRow],
        primary_key: tuple[Any, str],
        columns: dict[str, Any],
        value: Any,
    ) -> None:
        # Fail here with a clear TypeError rather than deep inside the flush.
        value = json.loads(json.dumps(value))

        async def write(session: AsyncSession) -> None:
            row = await session.get(table, primary_key)
            if row is None:
                session.add(table(**columns, value=value))
            else:
                row.value = value

        await self._write_retrying(write)


def _sqlite_on_connect(dbapi_connection: Any, _record: Any) -> None:
    # WAL lets the dashboard read while a call is writing; SQLite enforces
    # foreign keys (and so ON DELETE CASCADE) only when asked, per connection.
    cursor = dbapi_connection.cursor()
    try:
        cursor.execute("PRAGMA journal_mode=WAL")
        cursor.execute("PRAGMA foreign_keys=ON")
    finally:
        cursor.close()


def _conversation_record(row: ConversationRow, turns: list[TurnRecord]) -> ConversationRecord:
    return ConversationRecord(
        id=row.id,
        channel=row.channel,
        external_id=row.external_id,
        persona=row.persona,
        caller=row.caller,
        callee=row.callee,
        direction=row.direction,
        status=row.status,
        started_at=row.started_at,
        ended_at=row.ended_at,
        summary=row.summary,
        meta=row.meta or {},
        stats=row.stats or {},
        turns=turns,
    )
