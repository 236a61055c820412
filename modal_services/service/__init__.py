"""The speech services as FastAPI apps: the same routes on a Modal GPU and under `parley services serve`.

Routes (docs/services.md): WS /v1/stt/stream, WS /v1/tts/stream, POST /v1/audio/speech (and /stream),
POST /v1/audio/transcriptions, GET/POST /v1/voices, POST /v1/chat/completions (embedded LLM
only; vLLM serves its own), GET /health, GET /playground (a page to try the voices). Engines are
loaded by the owner before the app serves.
"""

from __future__ import annotations

from typing import Any

from fastapi import FastAPI, Request
from fastapi.exceptions import RequestValidationError
from fastapi.responses import JSONResponse
from starlette.exceptions import HTTPException as StarletteHTTPException

from agent_core.llm.base import LanguageModel
from agent_core.stt.base import SpeechToText
from agent_core.tts.base import TextToSpeech, visible_voices
from modal_services.service.auth import ServiceAuth


def create_services_app(
    *,
    stt: SpeechToText | None = None,
    tts: TextToSpeech | None = None,
    llm: LanguageModel | None = None,
    llm_model_name: str = "parley",
    token: str | None = None,
    voice_aliases: dict[str, str] | None = None,
) -> FastAPI:
    """token: bearer token the routes require (None on Modal, where the proxy checks Modal-Key/Modal-Secret).
    voice_aliases: voice names OpenAI clients send (alloy) -> this engine's voices, explicit."""
    auth = ServiceAuth(token)
    app = FastAPI(title="Parley speech services")
    _openai_errors(app)

    @app.get("/health")
    async def health() -> dict[str, Any]:
        body: dict[str, Any] = {"status": "ok"}
        if stt is not None:
            body["stt"] = stt.name
        if tts is not None:
            # No auth here: the shared voices only, never a namespace's clones (GET /v1/voices has those)
            body.update(tts=tts.name, voices=visible_voices(tts.voice_names(), None), can_clone=tts.can_clone)
        if llm is not None:
            body["llm"] = llm_model_name
        return body

    if stt is not None:
        from modal_services.service.stt_routes import stt_router

        app.include_router(stt_router(stt, auth))
    if tts is not None:
        from modal_services.service.playground_routes import playground_router
        from modal_services.service.speech_routes import speech_router
        from modal_services.service.tts_routes import tts_router
        from modal_services.service.voice_aliases import VoiceAliases

        aliases = VoiceAliases(voice_aliases or {}, tts.voice_names())
        app.include_router(tts_router(tts, auth, aliases))
        app.include_router(speech_router(tts, auth, aliases))
        app.include_router(playground_router())
    if llm is not None:
        from modal_services.service.chat_routes import chat_router

        app.include_router(chat_router(llm, auth, llm_model_name))
    return app


def _openai_errors(app: FastAPI) -> None:
    """Errors in OpenAI's shape, so OpenAI clients show the message instead of a bare status code."""

    def body(status: int, message: str) -> JSONResponse:
        kind = "authentication_error" if status == 401 else "invalid_request_error" if status < 500 else "server_error"
        return JSONResponse({"error": {"message": message, "type": kind, "code": status}}, status_code=status)

    @app.exception_handler(StarletteHTTPException)
    async def http_error(request: Request, exc: StarletteHTTPException) -> JSONResponse:
        response = body(exc.status_code, str(exc.detail))
        response.headers.update(exc.headers or {})
        return response

    @app.exception_handler(RequestValidationError)
    async def invalid(request: Request, exc: RequestValidationError) -> JSONResponse:
        first = exc.errors()[0]
        where = ".".join(str(part) for part in first.get("loc", ())[1:])
        return body(422, f"{where}: {first.get('msg')}" if where else str(first.get("msg")))


def create_stt_app(stt: SpeechToText, *, token: str | None = None) -> FastAPI:
    return create_services_app(stt=stt, token=token)


def create_tts_app(tts: TextToSpeech, *, token: str | None = None) -> FastAPI:
    return create_services_app(tts=tts, token=token)


__all__ = ["ServiceAuth", "create_services_app", "create_stt_app", "create_tts_app"]
