from __future__ import annotations

import asyncio
import sqlite3
from collections.abc import AsyncIterator
from datetime import UTC, datetime, timedelta, timezone
from pathlib import Path

import pytest
from sqlalchemy import text

from agent_core.storage import (
    ConversationNotFound,
    Database,
    DatabaseUnavailable,
    InvalidDatabaseURL,
)

"""The storage API, each test on SQLite and on a real PostgreSQL server (tests/postgres_server.py)."""


async def _open(url: str) -> Database:
    db = Database(url)
    await db.migrate()
    return db


@pytest.fixture
async def db(database_url: str) -> AsyncIterator[Database]:
    database = await _open(database_url)
    yield database
    await database.close()


async def _call(db: Database, external_id: str = "CA1", **kwargs: object) -> int:
    args: dict = {"channel": "twilio", "external_id": external_id, "persona": "receptionist"} | kwargs
    return await db.start_conversation(**args)


async def test_round_trip_with_turns_and_latencies(db: Database) -> None:
    cid = await _call(db, caller="+15550001", callee="+15550002", direction="inbound", meta={"region": "us"})
    latency = {"stt": 120.5, "llm_first_token": 340.0, "tts_first_audio": None}
    assert await db.add_turn(cid, speaker="+15550001", role="user", text="Hi there", latency_ms=latency) == 0
    assert await db.add_turn(cid, speaker="agent", role="assistant", text="Hello!", heard=False, interrupted=True) == 1

    rec = await db.get_conversation(channel="twilio", external_id="CA1")
    assert rec is not None
    assert (rec.id, rec.persona, rec.caller, rec.callee, rec.direction) == (
        cid,
        "receptionist",
        "+15550001",
        "+15550002",
        "inbound",
    )
    assert rec.status == "in-progress" and rec.ended_at is None and rec.summary is None
    assert rec.meta == {"region": "us"} and rec.stats == {}
    assert [(t.index, t.speaker, t.role, t.text) for t in rec.turns] == [
        (0, "+15550001", "user", "Hi there"),
        (1, "agent", "assistant", "Hello!"),
    ]
    assert rec.turns[0].latency_ms == latency
    assert rec.turns[0].heard and not rec.turns[0].interrupted
    assert rec.turns[1].latency_ms is None
    assert not rec.turns[1].heard and rec.turns[1].interrupted
    assert await db.get_conversation(channel="twilio", external_id="nope") is None
    assert await db.get_conversation(channel="discord", external_id="CA1") is None


async def test_concurrent_add_turn_is_gap_free(db: Database) -> None:
    cid = await _call(db)
    other = await _call(db, "CA2")
    results = await asyncio.gather(
        *(db.add_turn(cid if i % 5 else other, speaker="s", role="user", text=f"t{i}") for i in range(60))
    )
    main_indices = [r for i, r in enumerate(results) if i % 5]
    assert sorted(main_indices) == list(range(48))
    assert sorted(r for i, r in enumerate(results) if not i % 5) == list(range(12))

    rec = await db.get_conversation(channel="twilio", external_id="CA1")
    assert rec is not None
    assert [t.index for t in rec.turns] == list(range(48))
    # Each text landed on the index that add_turn returned for it.
    by_index = {t.index: t.text for t in rec.turns}
    assert all(by_index[r] == f"t{i}" for i, r in enumerate(results) if i % 5)


async def test_fifty_concurrent_turns(db: Database) -> None:
    cid = await _call(db)
    results = await asyncio.gather(*(db.add_turn(cid, speaker="s", role="user", text=str(i)) for i in range(50)))
    assert sorted(results) == list(range(50))
    rec = await db.get_conversation(channel="twilio", external_id="CA1")
    assert rec is not None and [t.index for t in rec.turns] == list(range(50))


async def test_two_instances_on_one_database_stay_gap_free(database_url: str) -> None:
    # Two Database objects stand in for two worker processes: no shared lock, so
    # the unique constraint and the retry have to keep the indices right.
    first, second = await _open(database_url), await _open(database_url)
    try:
        cid = await _call(first)
        results = await asyncio.gather(
            *((first if i % 2 else second).add_turn(cid, speaker="s", role="user", text=str(i)) for i in range(40))
        )
        assert sorted(results) == list(range(40))
    finally:
        await first.close()
        await second.close()


async def test_turns_survive_a_crash_mid_call(database_url: str) -> None:
    db = await _open(database_url)
    cid = await _call(db)
    for i in range(3):
        await db.add_turn(cid, speaker="s", role="user", text=f"turn {i}")
    await db.close()  # no end_conversation: the call never finished

    db = await _open(database_url)
    try:
        rec = await db.get_conversation(channel="twilio", external_id="CA1")
        assert rec is not None
        assert [t.text for t in rec.turns] == ["turn 0", "turn 1", "turn 2"]
        assert rec.status == "in-progress" and rec.ended_at is None
        # Numbering carries on after the restart.
        assert await db.add_turn(cid, speaker="s", role="user", text="turn 3") == 3
    finally:
        await db.close()


async def test_status_callback_first_then_stream_is_one_row(db: Database) -> None:
    await db.record_status(channel="twilio", external_id="CA9", status="ringing", details={"sip": 180})
    early = await db.get_conversation(channel="twilio", external_id="CA9")
    assert early is not None and early.persona == "" and early.status == "ringing"

    cid = await db.start_conversation(
        channel="twilio", external_id="CA9", persona="sales", caller="+1555", meta={"stream": "MZ1"}
    )
    assert cid == early.id
    rec = await db.get_conversation(channel="twilio", external_id="CA9")
    assert rec is not None
    assert (rec.persona, rec.caller, rec.status) == ("sales", "+1555", "in-progress")
    assert rec.meta == {"sip": 180, "stream": "MZ1"}
    assert rec.started_at == early.started_at
    assert len(await db.list_conversations()) == 1

    await db.record_status(channel="twilio", external_id="CA9", status="completed", details={"duration": "42"})
    rec = await db.get_conversation(channel="twilio", external_id="CA9")
    assert rec is not None and rec.status == "completed"
    assert rec.meta == {"sip": 180, "stream": "MZ1", "duration": "42"}
    assert rec.persona == "sales" and rec.caller == "+1555"


async def test_concurrent_status_and_start_do_not_fail(db: Database) -> None:
    ids = await asyncio.gather(
        db.record_status(channel="twilio", external_id="CA7", status="answered"),
        _call(db, "CA7"),
        db.record_status(channel="twilio", external_id="CA7", status="answered"),
    )
    assert len(await db.list_conversations()) == 1
    rec = await db.get_conversation(channel="twilio", external_id="CA7")
    assert rec is not None and rec.id == ids[1] and rec.persona == "receptionist"


async def test_start_twice_keeps_existing_values(db: Database) -> None:
    first = await _call(db, caller="+1", meta={"a": 1})
    again = await _call(db, persona="other", meta={"b": 2})
    assert first == again
    rec = await db.get_conversation(channel="twilio", external_id="CA1")
    assert rec is not None
    assert rec.persona == "other" and rec.caller == "+1" and rec.meta == {"a": 1, "b": 2}


async def test_end_summary_and_stats(db: Database) -> None:
    cid = await _call(db)
    await db.set_summary(cid, "Caller booked a table for two.")
    await db.end_conversation(cid, stats={"turns": 4, "barge_ins": 1})
    await db.end_conversation(cid, status="failed", stats={"barge_ins": 2, "error": "hangup"})
    rec = await db.get_conversation(channel="twilio", external_id="CA1")
    assert rec is not None
    assert rec.summary == "Caller booked a table for two."
    assert rec.status == "failed"
    assert rec.stats == {"turns": 4, "barge_ins": 2, "error": "hangup"}
    assert rec.ended_at is not None and rec.ended_at >= rec.started_at


async def test_unknown_conversation(db: Database) -> None:
    with pytest.raises(ConversationNotFound) as info:
        await db.add_turn(999, speaker="s", role="user", text="x")
    assert isinstance(info.value, KeyError)
    assert info.value.conversation_id == 999 and "999" in str(info.value)
    with pytest.raises(ConversationNotFound):
        await db.end_conversation(999)
    with pytest.raises(ConversationNotFound):
        await db.set_summary(999, "x")
    assert await db.list_conversations() == []


async def test_datetimes_are_utc_aware(db: Database) -> None:
    cid = await _call(db)
    plus_two = datetime(2024, 5, 1, 14, 0, tzinfo=timezone(timedelta(hours=2)))
    await db.add_turn(cid, speaker="s", role="user", text="aware", at=plus_two)
    await db.add_turn(cid, speaker="s", role="user", text="naive", at=datetime(2024, 5, 1, 12, 30))
    await db.add_turn(cid, speaker="s", role="user", text="now")
    await db.end_conversation(cid)

    rec = await db.get_conversation(channel="twilio", external_id="CA1")
    assert rec is not None
    stamps = [rec.started_at, rec.ended_at, *(t.at for t in rec.turns)]
    assert all(s is not None and s.utcoffset() == timedelta(0) for s in stamps)
    assert rec.turns[0].at == datetime(2024, 5, 1, 12, 0, tzinfo=UTC)
    assert rec.turns[1].at == datetime(2024, 5, 1, 12, 30, tzinfo=UTC)
    assert abs(rec.turns[2].at - datetime.now(UTC)) < timedelta(minutes=1)
    assert abs(rec.started_at - datetime.now(UTC)) < timedelta(minutes=1)
    listed = await db.list_conversations()
    assert listed[0].started_at.tzinfo is not None


async def test_list_conversations_order_limit_and_channel(db: Database) -> None:
    for i in range(5):
        await _call(db, f"CA{i}")
        await asyncio.sleep(0.002)
    discord = await db.start_conversation(channel="discord", external_id="g1:c1", persona="pal")
    cid = (await db.get_conversation(channel="twilio", external_id="CA0")).id  # type: ignore[union-attr]
    await db.add_turn(cid, speaker="s", role="user", text="x")

    everything = await db.list_conversations()
    assert [c.external_id for c in everything] == ["g1:c1", "CA4", "CA3", "CA2", "CA1", "CA0"]
    assert all(c.turns == [] for c in everything)
    assert [c.external_id for c in await db.list_conversations(limit=2)] == ["g1:c1", "CA4"]
    assert [c.external_id for c in await db.list_conversations(channel="twilio", limit=3)] == ["CA4", "CA3", "CA2"]
    assert [c.id for c in await db.list_conversations(channel="discord")] == [discord]
    assert await db.list_conversations(channel="web") == []
    assert await db.list_conversations(limit=0) == []


async def test_settings_upsert_and_persist(database_url: str) -> None:
    db = await _open(database_url)
    guild = 1_234_567_890_123_456_789  # Discord snowflakes need 64 bits
    assert await db.get_guild_settings(guild) == {}
    await db.set_guild_setting(guild, "persona", "pirate")
    await db.set_guild_setting(guild, "voice", {"name": "joe", "speed": 1.1})
    await db.set_guild_setting(guild, "persona", "butler")
    await db.set_guild_setting(guild, "muted", None)
    await db.set_guild_setting(42, "persona", "other")
    await db.set_number_setting("+15551234", "persona", "dentist")
    await db.set_number_setting("+15551234", "voices", ["a", "b"])
    await db.set_number_setting("+15551234", "voices", ["c"])
    with pytest.raises(TypeError):
        await db.set_guild_setting(guild, "bad", object())
    await db.close()

    db = await _open(database_url)
    try:
        assert await db.get_guild_settings(guild) == {
            "persona": "butler",
            "voice": {"name": "joe", "speed": 1.1},
            "muted": None,
        }
        assert await db.get_guild_settings(42) == {"persona": "other"}
        assert await db.get_number_settings("+15551234") == {"persona": "dentist", "voices": ["c"]}
        assert await db.get_number_settings("+15550000") == {}
    finally:
        await db.close()


async def test_concurrent_setting_writes(db: Database) -> None:
    await asyncio.gather(*(db.set_guild_setting(7, "reply_mode", i) for i in range(10)))
    settings = await db.get_guild_settings(7)
    assert list(settings) == ["reply_mode"] and settings["reply_mode"] in range(10)


async def test_sqlite_pragmas_and_cascade(tmp_path: Path) -> None:
    db = await _open(f"sqlite+aiosqlite:///{tmp_path / 'parley.db'}")
    await db.migrate()  # idempotent
    cid = await _call(db)
    await db.add_turn(cid, speaker="s", role="user", text="x")
    async with db.engine.begin() as conn:
        assert (await conn.execute(text("PRAGMA foreign_keys"))).scalar() == 1
        await conn.execute(text("DELETE FROM conversations WHERE id = :id"), {"id": cid})
        assert (await conn.execute(text("SELECT count(*) FROM turns"))).scalar() == 0
    with sqlite3.connect(tmp_path / "parley.db") as raw:
        assert raw.execute("PRAGMA journal_mode").fetchone()[0] == "wal"
    await db.close()


def test_for_data_dir(tmp_path: Path) -> None:
    data_dir = tmp_path / "nested" / "data"
    db = Database.for_data_dir(data_dir)
    assert data_dir.is_dir()
    assert db.url.database == str((data_dir / "parley.db").resolve())
    other = Database.for_data_dir(tmp_path / "unused", url="sqlite+aiosqlite:///:memory:")
    assert other.url.database == ":memory:" and not (tmp_path / "unused").exists()


@pytest.mark.parametrize(
    "url",
    ["not a url", "nosuchdialect+driver://host/db", "sqlite:///plain-sync-driver.db", "postgresql+nosuchdriver://h/db"],
)
def test_bad_url_fails_at_construction(url: str) -> None:
    with pytest.raises(InvalidDatabaseURL) as info:
        Database(url)
    assert isinstance(info.value, ValueError)


async def test_unopenable_database_fails_at_migrate(tmp_path: Path) -> None:
    db = Database(f"sqlite+aiosqlite:///{tmp_path / 'missing-dir' / 'parley.db'}")
    with pytest.raises(DatabaseUnavailable, match="cannot open database"):
        await db.migrate()
    await db.close()
