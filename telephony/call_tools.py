"""Tools the LLM may use on a phone call: hang up and transfer.

Both act after the reply that announces them has been heard, so the caller
hears "goodbye" or "transferring you now" before the line changes.
"""

from __future__ import annotations

import asyncio
import logging
from collections.abc import Awaitable, Callable
from typing import Any

from agent_core import events as ev
from agent_core.session import Session
from agent_core.tools import Tool
from telephony.rest import TwilioRest

log = logging.getLogger(__name__)

GOODBYE = "Goodbye!"


class AfterReply:
    """Runs one action once the current reply has finished playing."""

    def __init__(self, session: Session) -> None:
        self._session = session
        self._action: Callable[[], Awaitable[None]] | None = None
        self._fallback: str | None = None
        self.tasks: set[asyncio.Task[None]] = set()  # held so they are not garbage-collected mid-run
        session.subscribe(self._on_event)

    def schedule(self, action: Callable[[], Awaitable[None]], *, say_if_silent: str | None = None) -> None:
        self._action = action
        self._fallback = say_if_silent

    def _on_event(self, event: ev.SessionEvent) -> None:
        if not isinstance(event, ev.ReplyFinished) or self._action is None or event.interrupted:
            return
        if not event.heard_text and self._fallback:  # the model called the tool but said nothing
            text, self._fallback = self._fallback, None
            self._session.say(text)
            return
        action, self._action = self._action, None
        task = asyncio.create_task(self._run(action))
        self.tasks.add(task)
        task.add_done_callback(self.tasks.discard)

    async def _run(self, action: Callable[[], Awaitable[None]]) -> None:
        try:
            await action()
        except Exception:
            log.exception("phone action after reply failed")


def phone_tools(session: Session, rest: TwilioRest, call_sid: str, transfer_to: str | None) -> list[Tool]:
    after_reply = AfterReply(session)

    async def hang_up(arguments: dict[str, Any]) -> str:
        after_reply.schedule(lambda: rest.hang_up(call_sid), say_if_silent=GOODBYE)
        return "The call ends after your reply. Say a short goodbye now."

    async def transfer_call(arguments: dict[str, Any]) -> str:
        if not transfer_to:
            return "error: transfers are not set up; offer to help the caller yourself"
        after_reply.schedule(lambda: rest.transfer(call_sid, transfer_to), say_if_silent="Transferring you now.")
        return "The caller is transferred after your reply. Tell them you are transferring them now."

    tools = [Tool("hang_up", "End the phone call, after the caller has said goodbye or asked to hang up.", hang_up)]
    if transfer_to:
        tools.append(Tool("transfer_call", "Transfer the caller to a human colleague.", transfer_call))
    return tools
