"""The phone line: answers Twilio's webhooks and runs one Session per call.

Shared by all calls of the process: the loaded providers, the database, the
stream tokens and the REST client.
"""

from __future__ import annotations

import asyncio
import hashlib
import logging
import secrets
from dataclasses import dataclass
from typing import Any

from agent_core import telemetry
from agent_core.persona import Persona, PersonaError, load_persona
from agent_core.providers import Providers
from agent_core.recorder import ConversationRecorder
from agent_core.session import Session
from agent_core.settings import Settings
from agent_core.storage import Database
from agent_core.summary import summarize
from telephony import twiml
from telephony.call_tools import phone_tools
from telephony.config import TwilioSettings
from telephony.media_stream import MediaStreamCall
from telephony.rest import TwilioRest
from telephony.stream_token import StreamTokens

log = logging.getLogger(__name__)

CHANNEL = "twilio"


@dataclass
class _Call:
    stream: MediaStreamCall
    session: Session
    recorder: ConversationRecorder | None  # None: the database failed at call start
    conversation_id: int | None


def stream_secret(twilio: TwilioSettings) -> bytes:
    """Derived from the auth token so every process of a deployment agrees; random without one."""
    if twilio.auth_token:
        return hashlib.sha256(b"parley-stream-token:" + twilio.auth_token.get_secret_value().encode()).digest()
    return secrets.token_bytes(32)


class Phone:
    def __init__(
        self,
        *,
        settings: Settings,
        twilio: TwilioSettings,
        providers: Providers,
        db: Database,
        rest: TwilioRest | None = None,
    ) -> None:
        self.settings = settings
        self.twilio = twilio
        self.providers = providers
        self.db = db
        self.rest = rest
        self.tokens = StreamTokens(stream_secret(twilio), ttl_s=twilio.stream_token_ttl_s)
        self.calls: dict[str, _Call] = {}
        self.refusals = 0
        self._background: set[asyncio.Task[None]] = set()

    # ----- webhooks ------------------------------------------------------------

    def answer(self, form: dict[str, str], public_url: str) -> str:
        """TwiML for an incoming (or answered outbound) call: connect its audio to /twilio/media."""
        call_sid = form.get("CallSid", "")
        parameters = {
            "token": self.tokens.issue(call_sid),
            "from": form.get("From", ""),
            "to": form.get("To", ""),
            "direction": form.get("Direction", ""),
        }
        return twiml.connect_stream(twiml.stream_url_for(public_url), parameters)

    async def record_status(self, form: dict[str, str]) -> None:
        details = {k: form[k] for k in ("CallDuration", "Timestamp", "SequenceNumber") if k in form}
        await self.db.record_status(
            channel=CHANNEL, external_id=form.get("CallSid", ""), status=form.get("CallStatus", "unknown"), details=details
        )

    # ----- calls ---------------------------------------------------------------

    async def _persona_for(self, called_number: str) -> Persona:
        overrides = await self.db.get_number_settings(called_number) if called_number else {}
        name = overrides.get("persona") or self.settings.persona
        try:
            persona = load_persona(name, self.settings.personas_dir)
        except PersonaError:
            log.error("persona %r for %s is missing; using %r", name, called_number, self.settings.persona)
            persona = load_persona(self.settings.persona, self.settings.personas_dir)
        if overrides.get("voice"):
            persona = persona.model_copy(update={"voice": overrides["voice"]})
        return persona

    async def start_session(self, stream: MediaStreamCall, params: dict[str, Any]) -> Session:
        call_sid = stream.call_sid or ""
        persona = await self._persona_for(str(params.get("to", "")))
        session = Session(
            stt=self.providers.stt,
            llm=self.providers.llm,
            tts=self.providers.tts,
            persona=persona,
            channel=stream,
            settings=persona.session_settings(self.settings.session),
        )
        if self.rest is not None:
            for tool in phone_tools(session, self.rest, call_sid, self.twilio.transfer_to):
                session.tools.register(tool)
        try:
            conversation_id: int | None = await self.db.start_conversation(
                channel=CHANNEL,
                external_id=call_sid,
                persona=persona.name,
                caller=str(params.get("from", "")) or None,
                callee=str(params.get("to", "")) or None,
                direction=str(params.get("direction", "")) or None,
                meta={"stream_sid": stream.stream_sid},
            )
        except Exception:  # the caller is on the line: answer them even if the record cannot be kept
            log.exception("call %s: could not start its record; the call goes on unrecorded", call_sid)
            conversation_id = None
        telemetry.watch_session(session, "phone")
        recorder = ConversationRecorder(self.db, conversation_id, session) if conversation_id is not None else None
        self.calls[call_sid] = _Call(stream, session, recorder, conversation_id)
        log.info("call %s started (persona %s)", call_sid, persona.name)
        return session

    async def end_session(self, stream: MediaStreamCall) -> None:
        call = self.calls.pop(stream.call_sid or "", None)
        if call is None:
            return
        await call.session.close()
        log.info("call %s ended: %s", stream.call_sid, stream.stats.as_dict())
        if call.recorder is None or call.conversation_id is None:
            return
        await call.recorder.close()
        await self.db.end_conversation(call.conversation_id, status="completed", stats=stream.stats.as_dict())
        # The summary is written after the caller hung up, never on anyone's audio path.
        task = asyncio.create_task(self._summarize(call.conversation_id, stream.call_sid or ""))
        self._background.add(task)
        task.add_done_callback(self._background.discard)

    async def _summarize(self, conversation_id: int, call_sid: str) -> None:
        try:
            record = await self.db.get_conversation(channel=CHANNEL, external_id=call_sid)
            if record is not None:
                await self.db.set_summary(conversation_id, await summarize(self.providers.llm, record.turns))
        except Exception:
            log.exception("could not summarise call %s", call_sid)

    async def aclose(self) -> None:
        """Finish background work (summaries) before the process exits."""
        if self._background:
            await asyncio.gather(*self._background, return_exceptions=True)
