"""Writes a conversation's record as it happens: its start, each turn, its end, off the audio path.

Every write goes through the process's `RecordWriter`, in order, so a database that is down
when the call starts or mid-call delays the record instead of losing it: the caller is
answered either way. Each turn is committed on its own, so a crash keeps what was said so far.
"""

from __future__ import annotations

import asyncio
import logging
from collections.abc import Callable
from dataclasses import dataclass, field
from typing import Any, Protocol

from agent_core import events as ev
from agent_core.storage import Database
from agent_core.storage.jobs import POST_CALL_KINDS, JobStore
from agent_core.storage.writer import RecordWriter

log = logging.getLogger(__name__)

AGENT = "agent"


@dataclass(frozen=True)
class ConversationStart:
    """What is known of a conversation when it starts."""

    channel: str
    external_id: str
    persona: str = ""  # filled in when the conversation opens with its persona
    caller: str | None = None
    callee: str | None = None
    direction: str | None = None
    meta: dict[str, Any] = field(default_factory=dict)


class EventSource(Protocol):
    """What reports a conversation's events: a Session, or a channel whose client drives the turns."""

    def subscribe(self, listener: Callable[[ev.SessionEvent], None]) -> None: ...


class ConversationRecorder:
    def __init__(self, writer: RecordWriter, start: ConversationStart, events: EventSource) -> None:
        self.writer = writer
        self.start = start
        self.conversation_id: asyncio.Future[int] = writer.submit(self._start)
        self._last_write: asyncio.Future[Any] = self.conversation_id
        events.subscribe(self._on_event)

    async def _start(self, db: Database) -> int:
        s = self.start
        return await db.start_conversation(channel=s.channel, external_id=s.external_id, persona=s.persona,
                                           caller=s.caller, callee=s.callee, direction=s.direction, meta=s.meta)

    def _submit(self, write_with_id: Any) -> None:
        async def write(db: Database) -> Any:
            if not self.conversation_id.done() or self.conversation_id.exception() is not None:
                log.error("conversation %s has no record: a write is skipped", self.start.external_id)
                return None
            return await write_with_id(db, self.conversation_id.result())

        self._last_write = self.writer.submit(write)

    def _on_event(self, event: ev.SessionEvent) -> None:
        if isinstance(event, ev.TranscriptFinal | ev.TextInput) and event.text.strip():
            self._add_turn(speaker=event.speaker, role="user", text=event.text)
        elif isinstance(event, ev.BargeInSettled) and event.resumed and event.text.strip():
            # A backchannel is part of what was said, but not a turn the agent answers.
            self._add_turn(speaker=event.speaker, role="backchannel", text=event.text)
        elif isinstance(event, ev.ToolInvoked):
            self._add_turn(speaker=AGENT, role="tool", text=f"{event.name}({event.arguments}) -> {event.result}")
        elif isinstance(event, ev.ReplyFinished) and (event.heard_text or event.text):
            self._add_turn(
                speaker=AGENT,
                role="assistant",
                text=event.heard_text,  # only what the caller heard
                heard=bool(event.heard_text),
                interrupted=event.interrupted,
                latency_ms=event.latency.as_dict(),
            )

    def _add_turn(self, **turn: Any) -> None:
        self._submit(lambda db, conversation_id: db.add_turn(conversation_id, **turn))

    def merge_meta(self, meta: dict[str, Any]) -> None:
        self._submit(lambda db, conversation_id: db.merge_meta(conversation_id, meta))

    def queue_post_call_jobs(self, kinds: tuple[str, ...] = POST_CALL_KINDS) -> asyncio.Future[Any]:
        """Transcript and summary, for a worker process to run once the record is complete."""
        self._submit(lambda db, conversation_id: JobStore(db).enqueue(conversation_id, kinds))
        return self._last_write

    def end(self, *, status: str = "completed", stats: dict[str, Any] | None = None) -> asyncio.Future[Any]:
        """Queue the end of the record; the future resolves once everything before it is written."""
        self._submit(lambda db, conversation_id: db.end_conversation(conversation_id, status=status, stats=stats))
        return self._last_write

