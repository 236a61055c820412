"""The phone line: answers Twilio's webhooks and runs one Session per call.

Shared by all calls of the process: the loaded providers, the database, the
stream tokens and the REST client.
"""

from __future__ import annotations

import asyncio
import hashlib
import logging
import secrets
from collections.abc import Awaitable, Callable
from dataclasses import dataclass
from typing import Any

from agent_core import telemetry
from agent_core.admission import Admission
from agent_core.persona import Persona, PersonaError, load_persona
from agent_core.providers import Providers
from agent_core.recorder import ConversationRecorder, ConversationStart
from agent_core.recording import ConversationRecording
from agent_core.session import Session
from agent_core.settings import Settings
from agent_core.storage import Database
from agent_core.storage.nonces import UsedNonces
from agent_core.storage.recordings import LocalRecordingStore
from agent_core.storage.writer import RecordWriter
from agent_core.vad_batch import VadBatch
from telephony import twiml
from telephony.call_tools import phone_tools
from telephony.config import TwilioSettings
from telephony.media_stream import MediaStreamCall
from telephony.rest import TwilioRest
from telephony.stream_token import StreamTokens

log = logging.getLogger(__name__)

CHANNEL = "twilio"
# Given a finished conversation's id, starts its post-call jobs (and returns without waiting for them).
JobDispatcher = Callable[[int], Awaitable[None]]


@dataclass
class _Call:
    stream: MediaStreamCall
    session: Session
    recorder: ConversationRecorder
    recording: ConversationRecording | None


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
        dispatch_jobs: JobDispatcher | None = None,
        admission: Admission | None = None,
    ) -> None:
        self.settings = settings
        # Shared by every channel of the process: a call takes a place from its webhook on.
        self.admission = admission or Admission(settings.conversation_limit)
        # Starts a finished call's jobs somewhere (a Modal GPU function); None: workers poll for them.
        self.dispatch_jobs = dispatch_jobs
        self._dispatching: set[asyncio.Task[None]] = set()
        self.twilio = twilio
        self.providers = providers
        self.db = db
        # Call records wait in order for a database that is down, instead of costing the call.
        self.records = RecordWriter(db)
        self.recordings = LocalRecordingStore(settings.recordings_dir)
        self.rest = rest
        # One use per token across every process on this database (e.g. Modal's containers).
        self.tokens = StreamTokens(stream_secret(twilio), ttl_s=twilio.stream_token_ttl_s,
                                   first_use=UsedNonces(db).first_use)
        self.calls: dict[str, _Call] = {}
        self.refusals = 0

    # ----- webhooks ------------------------------------------------------------

    def answer(self, form: dict[str, str], public_url: str) -> str:
        """TwiML for an incoming (or answered outbound) call: connect its audio to /twilio/media."""
        call_sid = form.get("CallSid", "")
        # The place is held until the media stream arrives (Twilio connects within a second).
        if not self.admission.hold(call_sid, CHANNEL, self.twilio.stream_token_ttl_s):
            return twiml.busy(self.settings.busy_message)
        parameters = {
            "token": self.tokens.issue(call_sid),
            "from": form.get("From", ""),
            "to": form.get("To", ""),
            "direction": form.get("Direction", ""),
        }
        return twiml.connect_stream(twiml.stream_url_for(public_url), parameters)

    async def record_status(self, form: dict[str, str]) -> None:
        details = {k: form[k] for k in ("CallDuration", "Timestamp", "SequenceNumber") if k in form}
        call_sid, status = form.get("CallSid", ""), form.get("CallStatus", "unknown")
        # Queued, not awaited: Twilio needs no answer beyond 200, and a database outage must not fail it.
        self.records.submit(
            lambda db: db.record_status(channel=CHANNEL, external_id=call_sid, status=status, details=details)
        )

    # ----- calls ---------------------------------------------------------------

    async def _number_settings(self, called_number: str) -> dict[str, Any]:
        try:
            return await self.db.get_number_settings(called_number) if called_number else {}
        except Exception:  # the caller is on the line: answer with the defaults
            log.exception("number settings for %s unavailable; answering with the defaults", called_number)
            return {}

    def _records_audio(self, persona: Persona, overrides: dict[str, Any]) -> bool:
        """The number's setting, else the persona's, else the phone default."""
        for choice in (overrides.get("record"), persona.record):
            if choice is not None:
                return bool(choice)
        return self.settings.recording.phone

    def _persona_for(self, overrides: dict[str, Any]) -> Persona:
        name = overrides.get("persona") or self.settings.persona
        try:
            persona = load_persona(name, self.settings.personas_dir)
        except PersonaError:
            log.error("persona %r for this number is missing; using %r", name, self.settings.persona)
            persona = load_persona(self.settings.persona, self.settings.personas_dir)
        if overrides.get("voice"):
            persona = persona.model_copy(update={"voice": overrides["voice"]})
        return persona

    async def start_session(self, stream: MediaStreamCall, params: dict[str, Any]) -> Session | None:
        """The call's Session, or None when the process is at capacity (the stream is then closed)."""
        call_sid = stream.call_sid or ""
        if not self.admission.admit(call_sid, CHANNEL):
            return None
        overrides = await self._number_settings(str(params.get("to", "")))
        persona = self._persona_for(overrides)
        session = Session(
            stt=self.providers.stt,
            llm=self.providers.llm,
            tts=self.providers.tts,
            persona=persona,
            channel=stream,
            vad=VadBatch.shared(),  # all calls' VAD windows in one ONNX call per tick
            settings=persona.session_settings(self.settings.session),
        )
        if self.rest is not None:
            for tool in phone_tools(session, self.rest, call_sid, self.twilio.transfer_to):
                session.tools.register(tool)
        start = ConversationStart(
            channel=CHANNEL,
            external_id=call_sid,
            persona=persona.name,
            caller=str(params.get("from", "")) or None,
            callee=str(params.get("to", "")) or None,
            direction=str(params.get("direction", "")) or None,
            meta={"stream_sid": stream.stream_sid},
        )
        telemetry.watch_session(session, "phone")
        recording = None
        if self._records_audio(persona, overrides):
            recording = ConversationRecording(stream.output_sample_rate)
            session.add_audio_tap(recording)
        self.calls[call_sid] = _Call(stream, session, ConversationRecorder(self.records, start, session), recording)
        log.info("call %s started (persona %s)", call_sid, persona.name)
        return session

    async def end_session(self, stream: MediaStreamCall) -> None:
        self.admission.release(stream.call_sid or "")
        call = self.calls.pop(stream.call_sid or "", None)
        if call is None:
            return
        await call.session.close()
        log.info("call %s ended: %s", stream.call_sid, stream.stats.as_dict())
        if call.recording is not None:
            await self._keep_recording(call.recorder, call.recording)
        call.recorder.end(status="completed", stats=stream.stats.as_dict())
        # Transcript and summary run in a worker process, never on anyone's audio path.
        queued = call.recorder.queue_post_call_jobs()
        if self.dispatch_jobs is not None:
            task = asyncio.create_task(self._dispatch(call.recorder, queued, self.dispatch_jobs))
            self._dispatching.add(task)
            task.add_done_callback(self._dispatching.discard)

    @staticmethod
    async def _dispatch(recorder: ConversationRecorder, queued: asyncio.Future[Any], dispatch: JobDispatcher) -> None:
        try:
            await queued
            await dispatch(await recorder.conversation_id)
        except Exception:  # the jobs stay queued for any worker: nothing is lost
            log.exception("call %s: could not start its post-call jobs", recorder.start.external_id)

    async def _keep_recording(self, recorder: ConversationRecorder, recording: ConversationRecording) -> None:
        call_sid = recorder.start.external_id
        try:
            path = await self.recordings.save(CHANNEL, call_sid, await asyncio.to_thread(recording.to_wav))
        except OSError:
            log.exception("call %s: its recording could not be stored", call_sid)
            return
        recorder.merge_meta({"recording": {"seconds": round(recording.duration_s, 2), "format": "wav",
                                           "truncated": recording.truncated, "file": path.name}})

    async def aclose(self) -> None:
        """Give queued record writes (and job dispatches) their chance to land before the process exits."""
        await self.records.aclose()
        if self._dispatching:
            await asyncio.wait(self._dispatching, timeout=10)
