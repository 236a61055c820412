"""Writes a Session's turns to the database as they happen, in order, off the audio path.

Each turn is committed on its own, so a crash mid-call keeps what was said so far.
"""

from __future__ import annotations

import asyncio
import logging
from typing import Any

from agent_core import events as ev
from agent_core.session import Session
from agent_core.storage import Database

log = logging.getLogger(__name__)

AGENT = "agent"


class ConversationRecorder:
    def __init__(self, db: Database, conversation_id: int, session: Session) -> None:
        self.db = db
        self.conversation_id = conversation_id
        self._queue: asyncio.Queue[dict[str, Any] | None] = asyncio.Queue()
        self._task = asyncio.create_task(self._write(), name=f"recorder-{conversation_id}")
        session.subscribe(self._on_event)

    def _on_event(self, event: ev.SessionEvent) -> None:
        if isinstance(event, ev.TranscriptFinal | ev.TextInput) and event.text.strip():
            self._queue.put_nowait({"speaker": event.speaker, "role": "user", "text": event.text})
        elif isinstance(event, ev.BargeInSettled) and event.resumed and event.text.strip():
            # A backchannel is part of what was said, but not a turn the agent answers.
            self._queue.put_nowait({"speaker": event.speaker, "role": "backchannel", "text": event.text})
        elif isinstance(event, ev.ToolInvoked):
            text = f"{event.name}({event.arguments}) -> {event.result}"
            self._queue.put_nowait({"speaker": AGENT, "role": "tool", "text": text})
        elif isinstance(event, ev.ReplyFinished) and (event.heard_text or event.text):
            self._queue.put_nowait(
                {
                    "speaker": AGENT,
                    "role": "assistant",
                    "text": event.heard_text,  # only what the caller heard
                    "heard": bool(event.heard_text),
                    "interrupted": event.interrupted,
                    "latency_ms": event.latency.as_dict(),
                }
            )

    async def _write(self) -> None:
        while (turn := await self._queue.get()) is not None:
            try:
                await self.db.add_turn(self.conversation_id, **turn)
            except Exception:
                log.exception("could not record a turn of conversation %s", self.conversation_id)

    async def close(self) -> None:
        """Write what is queued, then stop."""
        self._queue.put_nowait(None)
        await self._task
