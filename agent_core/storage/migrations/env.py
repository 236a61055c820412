"""Alembic's environment: Parley hands it an open connection (see agent_core/storage/schema.py)."""

from alembic import context

from agent_core.storage.tables import Base

connection = context.config.attributes["connection"]
# render_as_batch: SQLite cannot ALTER most things; batch mode copies the table instead.
context.configure(connection=connection, target_metadata=Base.metadata,
                  render_as_batch=connection.dialect.name == "sqlite")
with context.begin_transaction():
    context.run_migrations()
