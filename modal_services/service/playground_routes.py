"""The speech playground (`GET /playground`): a page beside the speech API to try voices and styles.

Static files (modal_services/service/playground/); the page reads the voices from GET /v1/voices
and the knobs' ranges from SpeechStyle's own schema (`/playground/style.json`), so it never
disagrees with the API. It holds no secret: it sends the `?token=` it was opened with as the
API's bearer token, and the API checks it.
"""

from __future__ import annotations

from importlib.resources import files
from typing import Any

from fastapi import APIRouter, HTTPException
from fastapi.responses import HTMLResponse, Response

from agent_core.tts.base import SpeechStyle

_STATIC = files("modal_services.service") / "playground"
_ASSETS = {"playground.js": "text/javascript", "playground.css": "text/css"}


def playground_router() -> APIRouter:
    router = APIRouter()

    @router.get("/playground", response_class=HTMLResponse)
    async def page() -> HTMLResponse:
        return HTMLResponse((_STATIC / "playground.html").read_text())

    @router.get("/playground/style.json")
    async def style_schema() -> dict[str, Any]:
        return SpeechStyle.model_json_schema()

    @router.get("/playground/{name}")
    async def asset(name: str) -> Response:
        if name not in _ASSETS:
            raise HTTPException(404)
        return Response((_STATIC / name).read_text(), media_type=_ASSETS[name])

    return router
