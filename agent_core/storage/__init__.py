"""Persistence for conversations, turns and settings (SQLAlchemy async; SQLite by default)."""

from agent_core.storage.database import (
    ConversationNotFound,
    Database,
    DatabaseUnavailable,
    InvalidDatabaseURL,
    StorageError,
)
from agent_core.storage.records import ConversationRecord, TurnRecord

__all__ = [
    "ConversationNotFound",
    "ConversationRecord",
    "Database",
    "DatabaseUnavailable",
    "InvalidDatabaseURL",
    "StorageError",
    "TurnRecord",
]
