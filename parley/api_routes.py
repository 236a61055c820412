"""The admin API: conversations of every channel, their jobs and recordings (admin bearer token)."""

from __future__ import annotations

import logging
from typing import Annotated, Literal

from fastapi import APIRouter, Depends, HTTPException, Query, Request, Response
from fastapi.responses import FileResponse, StreamingResponse
from pydantic import BaseModel

from agent_core import telemetry
from agent_core.access import bearer_token, token_matches
from agent_core.conversations import PHONE, Conversations
from agent_core.storage import ConversationRecord, Database
from agent_core.storage.jobs import JobRecord, JobStore

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


router = APIRouter(prefix="/api", dependencies=[Depends(require_admin)], tags=["admin"])


class ConversationWithJobs(ConversationRecord):
    jobs: list[JobRecord]
    # What its post-call work cost, summed over its jobs (measured seconds times the price table).
    cost: dict[str, float]


class ConversationPage(BaseModel):
    conversations: list[ConversationRecord]  # newest first, without turns
    # Pass as `before` for the next (older) page; None on the last page.
    next_before: int | None


def conversation_cost(jobs: list[JobRecord]) -> dict[str, float]:
    keys = ("cpu_seconds", "gpu_seconds", "usd")
    return {key: round(sum(float((job.cost or {}).get(key, 0.0)) for job in jobs), 8) for key in keys}


def _db(request: Request) -> Database:
    db: Database = request.app.state.db
    return db


async def _with_jobs(db: Database, record: ConversationRecord | None, missing: str) -> ConversationWithJobs:
    if record is None:
        raise HTTPException(status_code=404, detail=missing)
    jobs = await JobStore(db).for_conversation(record.id)
    return ConversationWithJobs(**record.model_dump(), jobs=jobs, cost=conversation_cost(jobs))


@router.get("/conversations")
async def list_conversations(
    request: Request,
    channel: Literal["phone", "discord", "web"] | None = None,
    limit: Annotated[int, Query(ge=1, le=200)] = 50,
    before: int | None = None,
) -> ConversationPage:
    page = await _db(request).list_conversations(channel=channel, limit=limit, before=before)
    return ConversationPage(conversations=page, next_before=page[-1].id if len(page) == limit else None)


@router.get("/conversations/{conversation_id}")
async def get_conversation(request: Request, conversation_id: int) -> ConversationWithJobs:
    db = _db(request)
    return await _with_jobs(db, await db.get_conversation_by_id(conversation_id), "no such conversation")


@router.get("/calls/{call_sid}")
async def get_call(request: Request, call_sid: str) -> ConversationWithJobs:
    db = _db(request)
    return await _with_jobs(db, await db.get_conversation(channel=PHONE, external_id=call_sid), "no such call")


@router.get("/jobs/{job_id}")
async def get_job(request: Request, job_id: int) -> JobRecord:
    job = await JobStore(_db(request)).get(job_id)
    if job is None:
        raise HTTPException(status_code=404, detail="no such job")
    return job


async def _recording(conversations: Conversations, channel: str, external_id: str, filename: str) -> Response:
    try:
        found = await conversations.recordings.open(channel, external_id)
    except OSError as exc:
        log.exception("recording of %s %s could not be read from %s", channel, external_id,
                      conversations.recordings.location)
        raise HTTPException(status_code=503, detail="the recording store is unavailable") from exc
    if found is None:
        raise HTTPException(status_code=404, detail="no recording (not recorded, or past retention)")
    if found.path is not None:  # a local file: served with ranges
        return FileResponse(found.path, media_type=found.media_type, filename=filename)
    return StreamingResponse(found.chunks, media_type=found.media_type, headers={
        "Content-Length": str(found.size), "Content-Disposition": f'attachment; filename="{filename}"'})


@router.get("/calls/{call_sid}/recording")
async def get_call_recording(request: Request, call_sid: str) -> Response:
    return await _recording(request.app.state.conversations, PHONE, call_sid, f"{call_sid}.wav")


@router.get("/conversations/{conversation_id}/recording")
async def get_conversation_recording(request: Request, conversation_id: int) -> Response:
    record = await _db(request).get_conversation_by_id(conversation_id)
    if record is None:
        raise HTTPException(status_code=404, detail="no such conversation")
    return await _recording(request.app.state.conversations, record.channel, record.external_id,
                            f"conversation-{conversation_id}.wav")
