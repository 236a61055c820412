"""SQLAlchemy table definitions for Parley's storage.

Only `Database` uses these; callers get the pydantic records in `records.py`.
All datetimes are written as UTC (see `Database`), because SQLite keeps the
wall-clock digits and drops the offset.
"""

from __future__ import annotations

from datetime import datetime
from typing import Any

from sqlalchemy import (
    JSON,
    BigInteger,
    Boolean,
    DateTime,
    ForeignKey,
    Index,
    Integer,
    String,
    Text,
    UniqueConstraint,
)
from sqlalchemy.orm import DeclarativeBase, Mapped, mapped_column, relationship


class Base(DeclarativeBase):
    pass


class ConversationRow(Base):
    """One phone call, one Discord voice session or one browser session."""

    __tablename__ = "conversations"
    # A Twilio status callback may create the row before the media stream does;
    # the pair is how both find the same row.
    __table_args__ = (
        UniqueConstraint("channel", "external_id", name="uq_conversations_channel_external_id"),
        Index("ix_conversations_started_at", "started_at"),
    )

    id: Mapped[int] = mapped_column(Integer, primary_key=True)
    channel: Mapped[str] = mapped_column(String(32))
    external_id: Mapped[str] = mapped_column(String(255))
    persona: Mapped[str] = mapped_column(String(128), default="")
    caller: Mapped[str | None] = mapped_column(String(255))
    callee: Mapped[str | None] = mapped_column(String(255))
    direction: Mapped[str | None] = mapped_column(String(32))
    status: Mapped[str] = mapped_column(String(32))
    started_at: Mapped[datetime] = mapped_column(DateTime(timezone=True))
    ended_at: Mapped[datetime | None] = mapped_column(DateTime(timezone=True))
    summary: Mapped[str | None] = mapped_column(Text)
    meta: Mapped[dict[str, Any]] = mapped_column(JSON, default=dict)
    stats: Mapped[dict[str, Any]] = mapped_column(JSON, default=dict)

    # lazy="raise": in async code an accidental lazy load would fail obscurely;
    # get_conversation loads turns explicitly. passive_deletes leaves the
    # cascade to the database's ON DELETE CASCADE.
    turns: Mapped[list[TurnRow]] = relationship(
        back_populates="conversation",
        order_by="TurnRow.index",
        cascade="all, delete-orphan",
        passive_deletes=True,
        lazy="raise",
    )


class TurnRow(Base):
    """One utterance in a conversation, by the caller or by the agent."""

    __tablename__ = "turns"
    __table_args__ = (UniqueConstraint("conversation_id", "index", name="uq_turns_conversation_index"),)

    id: Mapped[int] = mapped_column(Integer, primary_key=True)
    conversation_id: Mapped[int] = mapped_column(ForeignKey("conversations.id", ondelete="CASCADE"))
    index: Mapped[int] = mapped_column(Integer)
    speaker: Mapped[str] = mapped_column(String(255))
    role: Mapped[str] = mapped_column(String(32))
    text: Mapped[str] = mapped_column(Text)
    heard: Mapped[bool] = mapped_column(Boolean, default=True)
    interrupted: Mapped[bool] = mapped_column(Boolean, default=False)
    # none_as_null: "no latencies" is SQL NULL rather than the JSON text 'null'.
    latency_ms: Mapped[dict[str, float | None] | None] = mapped_column(JSON(none_as_null=True))
    at: Mapped[datetime] = mapped_column(DateTime(timezone=True))

    conversation: Mapped[ConversationRow] = relationship(back_populates="turns", lazy="raise")


class GuildSettingRow(Base):
    """One setting (persona, voice, reply mode, ...) of one Discord guild."""

    __tablename__ = "guild_settings"

    guild_id: Mapped[int] = mapped_column(BigInteger, primary_key=True, autoincrement=False)
    key: Mapped[str] = mapped_column(String(128), primary_key=True)
    value: Mapped[Any] = mapped_column(JSON)


class NumberSettingRow(Base):
    """One override (persona, voice, ...) for calls to one phone number."""

    __tablename__ = "number_settings"

    number: Mapped[str] = mapped_column(String(64), primary_key=True)
    key: Mapped[str] = mapped_column(String(128), primary_key=True)
    value: Mapped[Any] = mapped_column(JSON)


class JobRow(Base):
    """Post-call work on one conversation (an accurate transcript, a summary), run outside the call process."""

    __tablename__ = "jobs"
    # One job of each kind per conversation: a retry reuses its row, and two workers finishing
    # a conversation's last jobs at once cannot both queue its webhook.
    __table_args__ = (
        Index("ix_jobs_status_next_attempt_at", "status", "next_attempt_at"),
        UniqueConstraint("conversation_id", "kind", name="uq_jobs_conversation_kind"),
    )

    id: Mapped[int] = mapped_column(Integer, primary_key=True)
    conversation_id: Mapped[int] = mapped_column(ForeignKey("conversations.id", ondelete="CASCADE"))
    kind: Mapped[str] = mapped_column(String(32))
    # queued -> running -> done | failed; a failed attempt with attempts left goes back to queued.
    status: Mapped[str] = mapped_column(String(16))
    attempts: Mapped[int] = mapped_column(Integer, default=0)
    max_attempts: Mapped[int] = mapped_column(Integer)
    runner: Mapped[str | None] = mapped_column(String(64))
    created_at: Mapped[datetime] = mapped_column(DateTime(timezone=True))
    next_attempt_at: Mapped[datetime] = mapped_column(DateTime(timezone=True))
    started_at: Mapped[datetime | None] = mapped_column(DateTime(timezone=True))
    finished_at: Mapped[datetime | None] = mapped_column(DateTime(timezone=True))
    result: Mapped[dict[str, Any] | None] = mapped_column(JSON(none_as_null=True))
    error: Mapped[str | None] = mapped_column(Text)
    # {"cpu_seconds": ..., "gpu_seconds": ..., "usd": ...} of the attempt that finished it.
    cost: Mapped[dict[str, Any] | None] = mapped_column(JSON(none_as_null=True))


class UsedNonceRow(Base):
    """A one-use value that has been used (a Media Stream token's nonce), until it expires."""

    __tablename__ = "used_nonces"

    nonce: Mapped[str] = mapped_column(String(64), primary_key=True)
    expires_at: Mapped[datetime] = mapped_column(DateTime(timezone=True))
