"""What the storage API returns: plain pydantic models, never ORM rows."""

from __future__ import annotations

from datetime import UTC, datetime
from typing import Annotated, Any

from pydantic import AfterValidator, BaseModel, ConfigDict, Field


def as_utc(value: datetime) -> datetime:
    """Naive datetimes are UTC (SQLite drops the offset on read); aware ones are converted."""
    if value.tzinfo is None:
        return value.replace(tzinfo=UTC)
    return value.astimezone(UTC)


UTCDateTime = Annotated[datetime, AfterValidator(as_utc)]


class TurnRecord(BaseModel):
    model_config = ConfigDict(from_attributes=True)

    index: int
    speaker: str
    role: str
    text: str
    heard: bool = True
    interrupted: bool = False
    latency_ms: dict[str, float | None] | None = None
    at: UTCDateTime


class ConversationRecord(BaseModel):
    model_config = ConfigDict(from_attributes=True)

    id: int
    channel: str
    external_id: str
    persona: str
    caller: str | None = None
    callee: str | None = None
    direction: str | None = None
    status: str
    started_at: UTCDateTime
    ended_at: UTCDateTime | None = None
    summary: str | None = None
    meta: dict[str, Any] = Field(default_factory=dict)
    stats: dict[str, Any] = Field(default_factory=dict)
    turns: list[TurnRecord] = Field(default_factory=list)
