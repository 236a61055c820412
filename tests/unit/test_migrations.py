"""Schema migrations: the migrated schema is exactly the models', and upgrades keep data."""

from __future__ import annotations

from alembic.autogenerate import compare_metadata
from alembic.runtime.migration import MigrationContext
from sqlalchemy import text

from agent_core.storage import Database
from agent_core.storage.schema import current_revision, head_revision
from agent_core.storage.tables import Base


async def test_migrations_build_exactly_the_schema_the_models_describe(database_url: str) -> None:
    db = Database(database_url)
    await db.migrate()
    async with db.engine.connect() as conn:
        differences = await conn.run_sync(lambda sync: compare_metadata(MigrationContext.configure(sync), Base.metadata))
        revision = await conn.run_sync(current_revision)
    await db.close()
    assert differences == []
    assert revision == head_revision()


async def test_a_database_from_before_migrations_is_adopted_with_its_data(database_url: str) -> None:
    """Earlier Parley created the tables directly; starting the new version keeps every row."""
    db = Database(database_url)
    before_migrations = [Base.metadata.tables[name] for name in
                         ("conversations", "turns", "guild_settings", "number_settings")]
    async with db.engine.begin() as conn:
        await conn.run_sync(lambda sync: Base.metadata.create_all(sync, tables=before_migrations))
    cid = await db.start_conversation(channel="twilio", external_id="CA-old", persona="p")
    await db.add_turn(cid, speaker="+1555", role="user", text="from before the upgrade")
    await db.close()

    upgraded = Database(database_url)
    await upgraded.migrate()
    await upgraded.migrate()  # and again on the next start: nothing to do
    # Phone calls, once the `twilio` channel, are now `phone`.
    assert await upgraded.get_conversation(channel="twilio", external_id="CA-old") is None
    record = await upgraded.get_conversation(channel="phone", external_id="CA-old")
    async with upgraded.engine.connect() as conn:
        versions = (await conn.execute(text("SELECT version_num FROM alembic_version"))).scalars().all()
    await upgraded.close()
    assert record is not None and [t.text for t in record.turns] == ["from before the upgrade"]
    assert versions == [head_revision()]
