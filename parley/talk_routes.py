"""The browser talk page (`GET /`) and the OpenAI Realtime API server it talks to (`WS /v1/realtime`).

Open on a server that only listens on localhost; anywhere else both need PARLEY_TALK_TOKEN, given as
`?token=` (a browser WebSocket cannot set headers) or `Authorization: Bearer` (the OpenAI SDKs send
their API key so). The Realtime protocol itself lives in the `realtime` package.
"""

from __future__ import annotations

from importlib.resources import files

from fastapi import APIRouter, HTTPException, Request, WebSocket
from fastapi.responses import HTMLResponse, Response

from agent_core import telemetry
from agent_core.access import bearer_token, is_loopback_host, token_matches
from agent_core.conversations import WEB, Conversations
from agent_core.recorder import ConversationStart
from agent_core.settings import Settings
from realtime import realtime_connection, refuse_busy

router = APIRouter()
_STATIC = files("parley") / "static"
_ASSETS = {"talk.js": "text/javascript", "mic-worklet.js": "text/javascript", "talk.css": "text/css"}


def _local_only(settings: Settings) -> bool:
    return not settings.public_url and is_loopback_host(settings.host)


def _allowed(settings: Settings, query_token: str | None, authorization: str | None) -> bool:
    if settings.talk_token is None:
        return _local_only(settings)
    return token_matches(query_token or bearer_token(authorization), settings.talk_token)


@router.get("/", response_class=HTMLResponse)
async def talk_page(request: Request) -> HTMLResponse:
    settings = request.app.state.settings
    if not _allowed(settings, request.query_params.get("token"), request.headers.get("authorization")):
        telemetry.refused("bad_talk_token")
        raise HTTPException(401, "the talk page needs ?token=<PARLEY_TALK_TOKEN> on a server reachable from outside")
    return HTMLResponse((_STATIC / "talk.html").read_text())


@router.get("/static/{name}")
async def asset(name: str) -> Response:
    if name not in _ASSETS:
        raise HTTPException(404)
    return Response((_STATIC / name).read_text(), media_type=_ASSETS[name])


@router.websocket("/v1/realtime")
async def realtime(websocket: WebSocket) -> None:
    """OpenAI's Realtime API: `?model=` is accepted and echoed (Parley serves its configured models)."""
    app = websocket.app
    settings = app.state.settings
    if not _allowed(settings, websocket.query_params.get("token"), websocket.headers.get("authorization")):
        telemetry.refused("bad_talk_token")
        await websocket.close(code=1008)  # refused before the upgrade: the client sees HTTP 403
        return
    conversations: Conversations = app.state.conversations
    persona = await conversations.persona()
    model = websocket.query_params.get("model") or "parley"
    connection = realtime_connection(websocket, providers=app.state.providers, persona=persona,
                                     session=settings.session, model=model,
                                     record_audio=conversations.records_audio(WEB, persona))
    start = ConversationStart(channel=WEB, external_id=connection.session_id, meta={"model": model})
    conversation = conversations.open_client_driven(start, persona, connection, connection.recording)
    if conversation is None:
        await refuse_busy(websocket)
        return
    try:
        await connection.serve()
    finally:
        await conversations.close(conversation)
