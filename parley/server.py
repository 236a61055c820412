"""`parley serve`: the FastAPI app that puts the channels in front of the agent core."""

from __future__ import annotations

import asyncio
import logging
from collections.abc import AsyncIterator
from contextlib import asynccontextmanager

from fastapi import Depends, FastAPI, HTTPException, Request, Response
from fastapi.responses import FileResponse
from prometheus_client import CONTENT_TYPE_LATEST, generate_latest

from agent_core import telemetry
from agent_core.access import bearer_token, token_matches
from agent_core.admission import Admission
from agent_core.providers import Providers
from agent_core.settings import Settings
from agent_core.storage import ConversationRecord, Database
from agent_core.storage.jobs import JobRecord, JobStore
from parley.talk_routes import router as talk_router
from telephony.phone import CHANNEL as TWILIO
from telephony.phone import JobDispatcher, Phone
from telephony.rest import TwilioRest
from telephony.routes import router as twilio_router

log = logging.getLogger(__name__)


def require_admin(request: Request) -> None:
    expected = request.app.state.settings.admin_token
    if expected is None:
        raise HTTPException(status_code=403, detail="the admin API is off: set PARLEY_ADMIN_TOKEN")
    if not token_matches(bearer_token(request.headers.get("authorization")), expected):
        request.app.state.phone.refusals += 1
        telemetry.refused("bad_admin_token")
        raise HTTPException(status_code=401, detail="invalid admin token", headers={"WWW-Authenticate": "Bearer"})


def require_admin_if_set(request: Request) -> None:
    """/metrics: open when no admin token is set (a scraper on the same host), the admin token otherwise."""
    if request.app.state.settings.admin_token is not None:
        require_admin(request)


def _start_discord(settings: Settings, providers: Providers, db: Database, admission: Admission):
    """The Discord bot beside the phone line, in the same process and event loop."""
    token = settings.discord.bot_token
    if not token:
        return None
    from bots.bot import ParleyBot

    bot = ParleyBot(settings, providers, db, admission)

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
    # One limit for every channel of the process (agent_core/admission.py explains the default).
    admission = Admission(settings.conversation_limit)
    phone = Phone(settings=settings, providers=providers, db=db, rest=rest, dispatch_jobs=dispatch_jobs,
                  admission=admission)

    @asynccontextmanager
    async def lifespan(app: FastAPI) -> AsyncIterator[None]:
        if not twilio.validate_signatures:
            log.warning("!!! Twilio signature checks are OFF (PARLEY_TWILIO_VALIDATE_SIGNATURES=false): local development only !!!")
        await db.migrate()
        await providers.load()  # no-op when the caller loaded them already
        discord_task = _start_discord(settings, providers, db, admission) if run_discord else None
        retention = asyncio.create_task(_keep_recordings_within_retention(phone, settings), name="retention")
        yield
        retention.cancel()
        if discord_task is not None:
            bot, task = discord_task
            await bot.close()
            await asyncio.gather(task, return_exceptions=True)
        await phone.aclose()
        await db.close()  # the providers belong to the caller, who may share them

    app = FastAPI(title="Parley", lifespan=lifespan)
    app.state.settings = settings
    app.state.phone = phone
    app.state.admission = admission
    app.state.db = db
    app.state.providers = providers
    app.include_router(twilio_router)
    app.include_router(talk_router)

    @app.get("/healthz")
    async def healthz() -> dict[str, object]:
        return {"status": "ok", "active_calls": len(phone.calls)}

    @app.get("/metrics", dependencies=[Depends(require_admin_if_set)])
    async def metrics() -> Response:
        return Response(generate_latest(), media_type=CONTENT_TYPE_LATEST)

    @app.get("/api/calls/{call_sid}", dependencies=[Depends(require_admin)])
    async def get_call(call_sid: str) -> ConversationWithJobs:
        record = await db.get_conversation(channel=TWILIO, external_id=call_sid)
        if record is None:
            raise HTTPException(status_code=404, detail="no such call")
        jobs = await JobStore(db).for_conversation(record.id)
        return ConversationWithJobs(**record.model_dump(), jobs=jobs, cost=conversation_cost(jobs))

    @app.get("/api/jobs/{job_id}", dependencies=[Depends(require_admin)])
    async def get_job(job_id: int) -> JobRecord:
        job = await JobStore(db).get(job_id)
        if job is None:
            raise HTTPException(status_code=404, detail="no such job")
        return job

    @app.get("/api/calls/{call_sid}/recording", dependencies=[Depends(require_admin)])
    async def get_call_recording(call_sid: str) -> FileResponse:
        path = await phone.recordings.find(TWILIO, call_sid)
        if path is None:
            raise HTTPException(status_code=404, detail="no recording of this call (not recorded, or past retention)")
        return FileResponse(path, media_type="audio/wav", filename=f"{call_sid}.wav")

    return app


class ConversationWithJobs(ConversationRecord):
    jobs: list[JobRecord]
    # What its post-call work cost, summed over its jobs (measured seconds times the price table).
    cost: dict[str, float]


def conversation_cost(jobs: list[JobRecord]) -> dict[str, float]:
    keys = ("cpu_seconds", "gpu_seconds", "usd")
    return {key: round(sum(float((job.cost or {}).get(key, 0.0)) for job in jobs), 8) for key in keys}


# How often old recordings are swept away; retention is counted in days.
RETENTION_SWEEP_S = 6 * 3600


async def _keep_recordings_within_retention(phone: Phone, settings: Settings) -> None:
    if settings.recording.retention_days <= 0:
        return
    while True:
        try:
            await phone.recordings.delete_older_than(settings.recording.retention_days)
        except OSError:
            log.exception("retention sweep of %s failed", phone.recordings.root)
        await asyncio.sleep(RETENTION_SWEEP_S)
