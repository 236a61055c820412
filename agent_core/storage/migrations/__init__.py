"""Alembic migrations for Parley's schema: SQLite and PostgreSQL alike.

`Database.migrate()` runs them on start; see `agent_core/storage/schema.py`.
"""
