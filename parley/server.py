"""`parley serve`: the FastAPI app that puts the channels in front of the agent core."""

from __future__ import annotations

import asyncio
import logging
from collections.abc import AsyncIterator
from contextlib import asynccontextmanager
from typing import Any

from fastapi import Depends, FastAPI, Response
from prometheus_client import CONTENT_TYPE_LATEST, CollectorRegistry, generate_latest

from agent_core.conversations import Conversations, JobDispatcher
from agent_core.job_metrics import JobTotalsCollector
from agent_core.providers import Providers
from agent_core.settings import Settings
from agent_core.storage import Database
from agent_core.storage.jobs import JobStore
from parley.api_routes import require_admin_if_set
from parley.api_routes import router as api_router
from parley.talk_routes import router as talk_router
from telephony.phone import Phone
from telephony.rest import TwilioRest
from telephony.routes import router as twilio_router

log = logging.getLogger(__name__)


def _start_discord(conversations: Conversations) -> tuple[Any, asyncio.Task[None]] | None:
    """The Discord bot beside the phone line, in the same process and event loop."""
    token = conversations.settings.discord.bot_token
    if not token:
        return None
    from bots.bot import ParleyBot

    bot = ParleyBot(conversations)

    async def run() -> None:
        try:
            await bot.start(token)
        except Exception:
            log.exception("the Discord bot stopped; the phone line keeps running")

    return bot, asyncio.create_task(run(), name="discord-bot")


def create_app(
    settings: Settings,
    providers: Providers,
    *,
    db: Database | None = None,
    rest: TwilioRest | None = None,
    run_discord: bool = False,
    dispatch_jobs: JobDispatcher | None = None,
) -> FastAPI:
    """The server for `settings` (the phone line from `settings.twilio`). `run_discord`: also run the
    Discord bot when `settings.discord` has a token (`parley serve` does; tests never do)."""
    twilio = settings.twilio
    db = db or Database.for_data_dir(settings.data_dir, settings.database_url)
    if rest is None and twilio.account_sid and twilio.auth_token:
        rest = TwilioRest(twilio.account_sid, twilio.auth_token.get_secret_value())
    # Every channel of the process opens its conversations here: one limit (agent_core/admission.py
    # explains the default), one record, one recording store.
    conversations = Conversations(settings, providers, db, dispatch_jobs=dispatch_jobs)
    phone = Phone(settings=settings, conversations=conversations, rest=rest)

    @asynccontextmanager
    async def lifespan(app: FastAPI) -> AsyncIterator[None]:
        if not twilio.validate_signatures:
            log.warning("!!! Twilio signature checks are OFF (PARLEY_TWILIO_VALIDATE_SIGNATURES=false): local development only !!!")
        await db.migrate()
        await conversations.recordings.check()  # a bucket that does not exist stops the start, not the first call
        await providers.load()  # no-op when the caller loaded them already
        discord_task = _start_discord(conversations) if run_discord else None
        retention = asyncio.create_task(_keep_recordings_within_retention(conversations), name="retention")
        yield
        retention.cancel()
        if discord_task is not None:
            bot, task = discord_task
            await bot.close()
            await asyncio.gather(task, return_exceptions=True)
        await phone.aclose()
        await db.close()  # the providers belong to the caller, who may share them

    # Job counts and cost come from the database (workers are other processes): a registry of this
    # app's own, beside the process-wide one, so two apps in one process never share a collector.
    job_totals = JobTotalsCollector(JobStore(db))
    app_metrics = CollectorRegistry(auto_describe=False)
    app_metrics.register(job_totals)

    app = FastAPI(title="Parley", lifespan=lifespan)
    app.state.settings = settings
    app.state.job_totals = job_totals
    app.state.phone = phone
    app.state.conversations = conversations
    app.state.db = db
    app.state.providers = providers
    app.include_router(twilio_router)
    app.include_router(talk_router)
    app.include_router(api_router)

    @app.get("/healthz")
    async def healthz() -> dict[str, object]:
        return {"status": "ok", "active_calls": len(phone.calls)}

    @app.get("/metrics", dependencies=[Depends(require_admin_if_set)])
    async def metrics() -> Response:
        await job_totals.refresh()  # at most one query every few seconds, awaited: the loop carries calls
        return Response(generate_latest() + generate_latest(app_metrics), media_type=CONTENT_TYPE_LATEST)

    return app


# How often old recordings are swept away; retention is counted in days.
RETENTION_SWEEP_S = 6 * 3600


async def _keep_recordings_within_retention(conversations: Conversations) -> None:
    days = conversations.settings.recording.retention_days
    if days <= 0:
        return
    while True:
        try:
            await conversations.recordings.delete_older_than(days)
        except OSError:
            log.exception("retention sweep of %s failed", conversations.recordings.location)
        await asyncio.sleep(RETENTION_SWEEP_S)
