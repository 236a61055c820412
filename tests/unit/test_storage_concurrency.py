"""SQLite under many concurrent calls: every write lands, none fails with 'database is locked'."""

import asyncio

from agent_core.storage import Database


async def test_many_calls_write_at_once(tmp_path):
    db = Database.for_data_dir(tmp_path)
    await db.migrate()

    async def call(i):
        cid = await db.start_conversation(channel="twilio", external_id=f"CA{i}", persona="p")
        for t in range(3):
            await db.add_turn(cid, speaker="caller", role="user", text=f"turn {t}")
        await db.end_conversation(cid, status="completed")

    await asyncio.gather(*(call(i) for i in range(150)))
    assert len(await db.list_conversations(limit=1000)) == 150
    await db.close()


async def test_sqlite_writes_take_turns_even_when_the_loop_is_slow(tmp_path):
    """A write transaction held open across a stalled loop must make others wait, not fail."""
    db = Database.for_data_dir(tmp_path)
    await db.migrate()
    cid = await db.start_conversation(channel="twilio", external_id="CA-slow", persona="p")

    async def slow_write(session):
        from sqlalchemy import text

        await session.execute(text("UPDATE conversations SET status = 'busy' WHERE id = :id"), {"id": cid})
        await asyncio.sleep(6)  # longer than SQLite's default 5 s busy wait

    slow = asyncio.create_task(db._write_retrying(slow_write))
    await asyncio.sleep(0.1)
    others = await asyncio.gather(*(db.start_conversation(channel="twilio", external_id=f"CA{i}", persona="p")
                                    for i in range(5)))
    await slow
    assert len(set(others)) == 5
    await db.close()
