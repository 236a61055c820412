"""The phone line: answers Twilio's webhooks and runs one Session per call.

Shared by all calls of the process: the loaded providers, the database, the
stream tokens and the REST client.
"""

from __future__ import annotations

import hashlib
import logging
import secrets
from typing import Any

from agent_core.conversations import PHONE, Conversation, Conversations, Overrides
from agent_core.recorder import ConversationStart
from agent_core.session import Session
from agent_core.settings import Settings, TwilioSettings
from agent_core.storage.nonces import UsedNonces
from agent_core.vad_batch import VadBatch
from telephony import twiml
from telephony.call_tools import phone_tools
from telephony.media_stream import MediaStreamCall
from telephony.rest import TwilioRest
from telephony.stream_token import StreamTokens

log = logging.getLogger(__name__)

CHANNEL = PHONE


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
        conversations: Conversations,
        rest: TwilioRest | None = None,
    ) -> None:
        self.settings = settings
        self.twilio = settings.twilio
        # Shared by every channel of the process: one limit, one record, one way to open.
        self.conversations = conversations
        self.db = conversations.db
        self.rest = rest
        # One use per token across every process on this database (e.g. Modal's containers).
        used_nonces = UsedNonces(self.db).first_use if self.db is not None else None
        self.tokens = StreamTokens(stream_secret(self.twilio), ttl_s=self.twilio.stream_token_ttl_s, first_use=used_nonces)
        self.calls: dict[str, Conversation] = {}
        self.refusals = 0

    # ----- webhooks ------------------------------------------------------------

    def answer(self, form: dict[str, str], public_url: str) -> str:
        """TwiML for an incoming (or answered outbound) call: connect its audio to /twilio/media."""
        call_sid = form.get("CallSid", "")
        # The place is held until the media stream arrives (Twilio connects within a second).
        if not self.conversations.hold(CHANNEL, call_sid, self.twilio.stream_token_ttl_s):
            return twiml.busy(self.settings.busy_message)
        parameters = {
            "token": self.tokens.issue(call_sid),
            "from": form.get("From", ""),
            "to": form.get("To", ""),
            "direction": form.get("Direction", ""),
        }
        return twiml.connect_stream(twiml.stream_url_for(public_url), parameters)

    async def record_status(self, form: dict[str, str]) -> None:
        details: dict[str, str] = {k: form[k] for k in ("CallDuration", "Timestamp", "SequenceNumber") if k in form}
        call_sid, status = form.get("CallSid", ""), form.get("CallStatus", "unknown")
        if self.conversations.records is None:
            return
        # Queued, not awaited: Twilio needs no answer beyond 200, and a database outage must not fail it.
        self.conversations.records.submit(
            lambda db: db.record_status(channel=CHANNEL, external_id=call_sid, status=status, details=details)
        )

    # ----- calls ---------------------------------------------------------------

    async def _number_overrides(self, called_number: str) -> Overrides:
        if not called_number or self.db is None:
            return Overrides()
        try:
            stored = await self.db.get_number_settings(called_number)
        except Exception:  # the caller is on the line: answer with the defaults
            log.exception("number settings for %s unavailable; answering with the defaults", called_number)
            return Overrides()
        record = stored.get("record")
        return Overrides(persona=stored.get("persona"), voice=stored.get("voice"),
                         record=None if record is None else bool(record))

    async def start_session(self, stream: MediaStreamCall, params: dict[str, Any]) -> Session | None:
        """The call's Session, or None when the process is at capacity (the stream is then closed)."""
        call_sid = stream.call_sid or ""
        start = ConversationStart(
            channel=CHANNEL,
            external_id=call_sid,
            caller=str(params.get("from", "")) or None,
            callee=str(params.get("to", "")) or None,
            direction=str(params.get("direction", "")) or None,
            meta={"stream_sid": stream.stream_sid},
        )
        vad = VadBatch.shared() if self.settings.batched_vad else None  # all calls' VAD in one ONNX call per tick
        conversation = await self.conversations.open(start, stream, await self._number_overrides(start.callee or ""),
                                                     vad=vad)
        if conversation is None or conversation.session is None:
            return None
        session = conversation.session
        if self.rest is not None:
            for tool in phone_tools(session, self.rest, call_sid, self.twilio.transfer_to):
                session.tools.register(tool)
        self.calls[call_sid] = conversation
        return session

    async def end_session(self, stream: MediaStreamCall) -> None:
        call = self.calls.pop(stream.call_sid or "", None)
        if call is None:
            return
        log.info("call %s ended: %s", stream.call_sid, stream.stats.as_dict())
        await self.conversations.close(call, status="completed", stats=stream.stats.as_dict())

    async def aclose(self) -> None:
        """Give queued record writes (and job dispatches) their chance to land before the process exits."""
        await self.conversations.aclose()
