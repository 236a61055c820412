"""`parley services serve`: the speech services on the embedded models, with the routes Modal serves.

Point a Parley server at it with PARLEY_STT__BACKEND=remote, PARLEY_STT__URL=http://host:8090 (and the
same for TTS, plus PARLEY_LLM__BACKEND=openai, PARLEY_LLM__BASE_URL=http://host:8090/v1): one box
runs the models, others run the calls.
"""

from __future__ import annotations

from typing import Annotated

import typer
from fastapi import FastAPI
from rich.console import Console

from agent_core.access import is_loopback_host
from agent_core.providers import Providers, build_providers
from agent_core.settings import Settings

services = typer.Typer(help="Speech services (STT, TTS, LLM) for remote Parley servers.", no_args_is_help=True)
console = Console(stderr=True)


def embedded_providers(settings: Settings) -> Providers:
    """The embedded Whisper, SmolLM2 and TTS voice, whatever backends `settings` name for the client side."""
    local = settings.model_copy(
        update={
            "stt": settings.stt.model_copy(update={"backend": "local"}),
            "llm": settings.llm.model_copy(update={"backend": "local"}),
            "tts": settings.tts.model_copy(update={"backend": "local"}),
        }
    )
    return build_providers(local)


def services_app(providers: Providers, *, token: str | None, voice_aliases: dict[str, str] | None = None) -> FastAPI:
    from modal_services.service import create_services_app

    return create_services_app(
        stt=providers.stt, tts=providers.tts, llm=providers.llm, llm_model_name="SmolLM2-135M-Instruct", token=token,
        voice_aliases=voice_aliases,
    )


@services.command("serve")
def serve(
    host: Annotated[str, typer.Option(help="Address to listen on.")] = "127.0.0.1",
    port: Annotated[int, typer.Option(help="Port to listen on.")] = 8090,
) -> None:
    """Serve STT, TTS and an OpenAI-compatible chat API on the embedded models (token: PARLEY_SERVICES__TOKEN)."""
    import asyncio

    import uvicorn

    settings = Settings()
    token = settings.services.token.get_secret_value() if settings.services.token else None
    if token is None and not is_loopback_host(host):
        console.print(f"[red]error:[/red] set PARLEY_SERVICES__TOKEN before serving on {host}: the models would be open to anyone")
        raise typer.Exit(2)
    providers = embedded_providers(settings)
    console.print("loading the embedded models ...")
    asyncio.run(providers.load(on_loaded=lambda name: console.print(f"  {name} ready")))
    console.print(f"Parley services on http://{host}:{port} (STT, TTS, /v1/chat/completions)")
    app = services_app(providers, token=token, voice_aliases=settings.tts.voice_aliases)
    uvicorn.run(app, host=host, port=port, log_level="info", ws_max_size=1 << 20)
