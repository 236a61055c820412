"""Opening and closing a conversation, the same way for every channel (phone, Discord, browser).

A channel adapter brings the audio plumbing (a `Channel`) and what it knows of the conversation
(a `ConversationStart`, the stored overrides of the number or guild). Everything else happens
here, once: a place under the process's admission limit, the persona with its overrides, the
Session, telemetry, the record of every turn, the audio recording, and at the end the record's
close and the post-call jobs (transcript, summary) for a worker to run.
"""

from __future__ import annotations

import asyncio
import logging
from collections.abc import Awaitable, Callable
from dataclasses import dataclass, field, replace
from typing import Any

from agent_core import telemetry
from agent_core.admission import Admission
from agent_core.channel import Channel
from agent_core.persona import Persona, PersonaError, load_persona
from agent_core.providers import Providers
from agent_core.recorder import ConversationRecorder, ConversationStart, EventSource
from agent_core.recording import ConversationRecording, Recording
from agent_core.session import Session
from agent_core.session_settings import SessionSettings
from agent_core.settings import Settings
from agent_core.storage import Database
from agent_core.storage.jobs import POST_CALL_KINDS
from agent_core.storage.recordings import RecordingStore, recording_store
from agent_core.storage.writer import RecordWriter
from agent_core.tts.styles import StyleSettings, layered
from agent_core.vad import SileroVad
from agent_core.vad_batch import VadBatch

log = logging.getLogger(__name__)

# Given a finished conversation's id, starts its post-call jobs (and returns without waiting for them).
JobDispatcher = Callable[[int], Awaitable[None]]

# The channel names in records, metrics and `GET /api/conversations?channel=`.
PHONE, DISCORD, WEB = "phone", "discord", "web"


@dataclass(frozen=True)
class Overrides:
    """A phone number's or a Discord guild's stored choices; they win over the persona's."""

    persona: str | None = None
    voice: str | None = None
    record: bool | None = None
    # Turn-taking keys (end_of_turn_silence_ms, ...) and allow_interruptions, over the persona's.
    turn: dict[str, Any] = field(default_factory=dict)
    allow_interruptions: bool | None = None
    style: StyleSettings | None = None  # over the persona's, knob by knob


@dataclass
class Conversation:
    place: str
    start: ConversationStart
    persona: Persona
    recorder: ConversationRecorder | None  # None: the process keeps no records (no database)
    recording: Recording | None
    session: Session | None  # None for a channel whose client drives the turns (Realtime)
    closed: bool = False


def place_of(start: ConversationStart) -> str:
    """A conversation's key among the process's places (admission) and open conversations."""
    return f"{start.channel}:{start.external_id}"


class Conversations:
    """The process's conversations: shared by every channel, so one limit and one record for all."""

    def __init__(
        self,
        settings: Settings,
        providers: Providers,
        db: Database | None,
        *,
        admission: Admission | None = None,
        dispatch_jobs: JobDispatcher | None = None,
    ) -> None:
        self.settings = settings
        self.providers = providers
        self.db = db
        self.admission = admission or Admission(settings.conversation_limit)
        # Records wait in order for a database that is down, instead of costing the conversation.
        self.records = RecordWriter(db) if db is not None else None
        # A local directory, or a bucket (settings.recording.store): an unknown kind stops the start here.
        self.recordings: RecordingStore = recording_store(settings)
        # Starts a finished conversation's jobs somewhere (a Modal GPU function); None: workers poll.
        self.dispatch_jobs = dispatch_jobs
        self.open_conversations: dict[str, Conversation] = {}
        self._background: set[asyncio.Task[None]] = set()

    # ----- places --------------------------------------------------------------

    def hold(self, channel: str, external_id: str, seconds: float) -> bool:
        """Reserve a place for a conversation that starts soon (False: busy, refused)."""
        return self.admission.hold(f"{channel}:{external_id}", channel, seconds)

    def admit(self, channel: str, external_id: str) -> bool:
        """Take a place before the channel's own setup (e.g. a voice connection); False: busy."""
        return self.admission.admit(f"{channel}:{external_id}", channel)

    def release(self, channel: str, external_id: str) -> None:
        """Give back a place whose conversation never opened."""
        self.admission.release(f"{channel}:{external_id}")

    # ----- persona -------------------------------------------------------------

    async def persona(self, overrides: Overrides = Overrides()) -> Persona:
        """The overriding persona (the default one if it is missing), with the overriding voice."""
        default = self.settings.persona
        name = overrides.persona or default
        try:
            persona = await asyncio.to_thread(load_persona, name, self.settings.personas_dir)
        except PersonaError:
            if name == default:
                raise
            log.error("persona %r is missing; using %r", name, default)
            persona = await asyncio.to_thread(load_persona, default, self.settings.personas_dir)
        if overrides.voice:
            persona = persona.model_copy(update={"voice": overrides.voice})
        if overrides.style is not None:
            style = layered(persona.style, overrides.style)
            persona = persona.model_copy(update={"style": StyleSettings(**style.model_dump()) if style else None})
        return persona

    def session_settings(self, persona: Persona, overrides: Overrides = Overrides()) -> SessionSettings:
        """The process's settings, then the persona's turn-taking, then the number's or guild's."""
        settings = persona.session_settings(self.settings.session)
        updates: dict[str, Any] = {}
        if overrides.turn:
            updates["turn"] = settings.turn.model_copy(update=overrides.turn)
        if overrides.allow_interruptions is not None:
            updates["allow_interruptions"] = overrides.allow_interruptions
        return settings.model_copy(update=updates) if updates else settings

    def records_audio(self, channel: str, persona: Persona, overrides: Overrides = Overrides()) -> bool:
        """The number's or guild's setting, else the persona's, else the channel's default."""
        for choice in (overrides.record, persona.record):
            if choice is not None:
                return choice
        return self.settings.recording.for_channel(channel)

    # ----- open and close ------------------------------------------------------

    async def open(
        self,
        start: ConversationStart,
        channel: Channel,
        overrides: Overrides = Overrides(),
        *,
        label_speakers: bool = False,
        vad: SileroVad | VadBatch | None = None,
    ) -> Conversation | None:
        """A Session speaking through `channel`, recorded; None when the process is busy.
        `vad`: the process's batched VAD for channels that deliver audio on a steady clock."""
        if not self.admission.admit(place_of(start), start.channel):
            return None
        try:
            persona = await self.persona(overrides)
            session = Session(
                stt=self.providers.stt,
                llm=self.providers.llm,
                tts=self.providers.tts,
                persona=persona,
                channel=channel,
                vad=vad,
                settings=self.session_settings(persona, overrides),
                label_speakers=label_speakers,
            )
        except BaseException:
            self.admission.release(place_of(start))
            raise
        telemetry.watch_session(session, start.channel)
        recording = None
        if self.records_audio(start.channel, persona, overrides):
            recording = ConversationRecording(channel.output_sample_rate)
            session.add_audio_tap(recording)
        return self._track(start, persona, session, session, recording)

    def open_client_driven(self, start: ConversationStart, persona: Persona, events: EventSource,
                           recording: Recording | None = None) -> Conversation | None:
        """A conversation whose client drives the turns (the Realtime API): admitted and recorded,
        its turns taken from the session events it reports, its audio from `recording` (made by
        the adapter where `records_audio` says so); None when the process is busy."""
        if not self.admission.admit(place_of(start), start.channel):
            return None
        return self._track(start, persona, events, None, recording)

    def _track(self, start: ConversationStart, persona: Persona, events: EventSource, session: Session | None,
               recording: Recording | None) -> Conversation:
        start = replace(start, persona=persona.name)
        recorder = ConversationRecorder(self.records, start, events) if self.records is not None else None
        conversation = Conversation(place_of(start), start, persona, recorder, recording, session)
        self.open_conversations[conversation.place] = conversation
        log.info("%s conversation %s started (persona %s)", start.channel, start.external_id, persona.name)
        return conversation

    async def close(self, conversation: Conversation, *, status: str = "completed",
                    stats: dict[str, Any] | None = None) -> None:
        """End the Session, keep the recording, close the record and queue the post-call jobs."""
        if conversation.closed:
            return
        conversation.closed = True
        self.open_conversations.pop(conversation.place, None)
        self.admission.release(conversation.place)
        if conversation.session is not None:
            await conversation.session.close()
        recorder = conversation.recorder
        if recorder is None:
            return
        if conversation.recording is not None:
            await self._keep_recording(recorder, conversation.recording)
        recorder.end(status=status, stats=stats)
        # Transcript and summary run in a worker process, never on anyone's audio path.
        kinds = POST_CALL_KINDS if conversation.recording is not None else ("summary",)
        queued = recorder.queue_post_call_jobs(kinds)
        if self.dispatch_jobs is not None:
            self._in_background(self._dispatch(recorder, queued, self.dispatch_jobs))

    def _in_background(self, work: Awaitable[None]) -> None:
        task: asyncio.Task[None] = asyncio.ensure_future(work)
        self._background.add(task)
        task.add_done_callback(self._background.discard)

    @staticmethod
    async def _dispatch(recorder: ConversationRecorder, queued: asyncio.Future[Any], dispatch: JobDispatcher) -> None:
        try:
            await queued
            await dispatch(await recorder.conversation_id)
        except Exception:  # the jobs stay queued for any worker: nothing is lost
            log.exception("conversation %s: could not start its post-call jobs", recorder.start.external_id)

    async def _keep_recording(self, recorder: ConversationRecorder, recording: Recording) -> None:
        start = recorder.start
        try:
            key = await self.recordings.save(start.channel, start.external_id, await asyncio.to_thread(recording.to_wav))
        except OSError:  # a full disk, or a bucket that is down (RecordingStoreError)
            log.exception("conversation %s: its recording could not be stored in %s", start.external_id,
                          self.recordings.location)
            return
        recorder.merge_meta({"recording": {"seconds": round(recording.duration_s, 2), "format": "wav",
                                           "truncated": recording.truncated, "file": key.rsplit("/", 1)[-1]}})

    async def aclose(self) -> None:
        """Close what is still open, then give queued record writes (and job dispatches) their
        chance to land before the process exits."""
        for conversation in list(self.open_conversations.values()):
            await self.close(conversation, status="interrupted")
        if self.records is not None:
            await self.records.aclose()
        if self._background:
            await asyncio.wait(self._background, timeout=10)
