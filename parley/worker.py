"""`parley worker`: runs post-call jobs from the database, one at a time, in its own process.

It loads the embedded STT and LLM (or whatever backends the settings name), claims the oldest
due job, runs it, records result, error and cost, and looks again. Several workers may share a
database: claiming is atomic. A failed attempt is retried with backoff, then `failed`.
"""

from __future__ import annotations

import asyncio
import logging
import os
import socket
import time
from typing import Any

from sqlalchemy.exc import IntegrityError

from agent_core.postcall import PostCallError, Transcriber, summary_job, transcript_job
from agent_core.providers import Providers
from agent_core.settings import Settings
from agent_core.storage import ConversationRecord, Database
from agent_core.storage.jobs import DONE, FAILED, WEBHOOK, JobRecord, JobStore
from agent_core.storage.recordings import RecordingStore, recording_store
from agent_core.storage.tables import ConversationRow
from agent_core.webhooks import deliver

log = logging.getLogger(__name__)


class JobWorker:
    def __init__(self, settings: Settings, db: Database, providers: Providers, transcriber: Transcriber) -> None:
        self.settings = settings
        self.db = db
        self.jobs = JobStore(db)
        self.providers = providers
        self.transcriber = transcriber
        self.recordings: RecordingStore = recording_store(settings)
        self.name = f"{socket.gethostname()}:{os.getpid()}"

    async def run_once(self, conversation_id: int | None = None) -> JobRecord | None:
        """Claim and run one due job (of one conversation, if given); returns it as it ended, or None."""
        job = await self.jobs.claim(self.name, conversation_id=conversation_id)
        if job is None:
            return None
        cpu_started = time.process_time()
        try:
            result = await self._run(job)
        except Exception as exc:  # recorded on the job, retried with backoff, never lost
            reason = str(exc) if isinstance(exc, PostCallError) else f"{type(exc).__name__}: {exc}"
            log.warning("job %s (%s) attempt %d failed: %s", job.id, job.kind, job.attempts, reason)
            ended = await self.jobs.fail(job.id, reason, self._cost(cpu_started))
            if ended.status == FAILED:
                await self._queue_webhook_when_all_finished(job)
            return ended
        await self.jobs.finish(job.id, result, self._cost(cpu_started))
        await self._queue_webhook_when_all_finished(job)
        return await self.jobs.get(job.id)

    async def run_forever(self) -> None:
        while True:
            if await self.run_once() is None:
                await asyncio.sleep(self.settings.jobs.poll_s)

    async def _run(self, job: JobRecord) -> dict[str, Any]:
        async with self.db.transaction() as session:
            row = await session.get(ConversationRow, job.conversation_id)
            if row is None:
                raise PostCallError(f"conversation {job.conversation_id} is gone")
            channel, external_id = row.channel, row.external_id
        conversation = await self.db.get_conversation(channel=channel, external_id=external_id)
        assert conversation is not None
        if job.kind == "transcript":
            async with self.recordings.local_copy(channel, external_id) as recording:
                return await transcript_job(self.transcriber, recording, self.settings.stt.language)
        if job.kind == WEBHOOK:
            return await self._deliver_webhook(conversation)
        if job.kind == "summary":
            result = await summary_job(self.providers.llm, conversation)
            await self.db.set_summary(conversation.id, result["summary"])
            return result
        raise PostCallError(f"unknown job kind {job.kind!r}")

    async def _queue_webhook_when_all_finished(self, job: JobRecord) -> None:
        if job.kind == WEBHOOK or not self.settings.jobs.webhook_url:
            return
        siblings = await self.jobs.for_conversation(job.conversation_id)
        if all(other.status in (DONE, FAILED) for other in siblings):
            try:
                await self.jobs.enqueue(job.conversation_id, (WEBHOOK,), self.settings.jobs.webhook_attempts)
            except IntegrityError:  # another worker finished the last job at the same moment and queued it
                pass

    async def _deliver_webhook(self, conversation: ConversationRecord) -> dict[str, Any]:
        settings = self.settings
        assert settings.jobs.webhook_url is not None
        jobs = [job for job in await self.jobs.for_conversation(conversation.id) if job.kind != WEBHOOK]
        recorded = await self.recordings.exists(conversation.channel, conversation.external_id)
        payload = {
            "event": "conversation.jobs_finished",
            "conversation": conversation.model_dump(mode="json", exclude={"turns"}),
            "jobs": [job.model_dump(mode="json", include={"id", "kind", "status", "result", "error", "cost"})
                     for job in jobs],
            "recording_url": f"{settings.public_url}/api/calls/{conversation.external_id}/recording"
            if recorded and settings.public_url else None,
        }
        secret = settings.jobs.webhook_secret.get_secret_value() if settings.jobs.webhook_secret else None
        return await deliver(settings.jobs.webhook_url, payload, secret)

    def _cost(self, cpu_started: float) -> dict[str, Any]:
        cpu_seconds = time.process_time() - cpu_started
        usd = cpu_seconds / 3600 * self.settings.jobs.cpu_usd_per_hour
        return {"cpu_seconds": round(cpu_seconds, 3), "gpu_seconds": 0.0, "usd": round(usd, 8)}


async def run_conversation_jobs(conversation_id: int, transcriber: Transcriber) -> list[dict[str, Any]]:
    """One call's due jobs, then return (the Modal GPU function's whole work)."""
    from agent_core.providers import build_providers

    settings = Settings()
    db = Database.for_data_dir(settings.data_dir, settings.database_url)
    await db.migrate()
    providers = build_providers(settings)
    await providers.llm.load()
    worker = JobWorker(settings, db, providers, transcriber)
    ended = []
    try:
        while (job := await worker.run_once(conversation_id)) is not None:
            ended.append(job.model_dump(mode="json", include={"id", "kind", "status", "error", "cost"}))
    finally:
        await providers.llm.aclose()
        await db.close()
    return ended
