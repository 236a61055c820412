"""Bring a database's schema to the current revision with Alembic's migrations, on every start.

Upgrades keep existing data: each change to `tables.py` ships as a revision in
`migrations/versions/`. A database made before migrations existed (tables but no
`alembic_version`) is stamped with the first revision, whose schema it already has.
"""

from __future__ import annotations

from pathlib import Path

from alembic import command
from alembic.config import Config
from alembic.runtime.migration import MigrationContext
from alembic.script import ScriptDirectory
from sqlalchemy import Connection, inspect, text

MIGRATIONS = Path(__file__).resolve().parent / "migrations"
FIRST_REVISION = "0001"
# Any constant: processes that start together take turns on PostgreSQL's advisory lock.
_MIGRATION_LOCK_KEY = 7_242_006


def _config(connection: Connection) -> Config:
    config = Config()
    config.set_main_option("script_location", str(MIGRATIONS))
    config.attributes["connection"] = connection
    return config


def head_revision() -> str:
    head = ScriptDirectory(str(MIGRATIONS)).get_current_head()
    assert head is not None
    return head


def current_revision(connection: Connection) -> str | None:
    return MigrationContext.configure(connection).get_current_revision()


def upgrade_to_head(connection: Connection) -> None:
    """Run on a sync connection inside a transaction (AsyncConnection.run_sync)."""
    if connection.dialect.name == "postgresql":
        connection.execute(text("SELECT pg_advisory_xact_lock(:key)"), {"key": _MIGRATION_LOCK_KEY})
    config = _config(connection)
    tables = set(inspect(connection).get_table_names())
    if "conversations" in tables and "alembic_version" not in tables:
        command.stamp(config, FIRST_REVISION)
    command.upgrade(config, "head")
