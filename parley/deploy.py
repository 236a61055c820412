"""`parley deploy`: put STT, TTS, the LLM and the orchestrator on Modal, then print the settings
that point an agent core at them.

The Modal work itself is Modal's own CLI (`modal deploy`, `modal run`) in a subprocess, so what
is deployed is exactly what `modal deploy -m modal_services.app` would deploy by hand.
"""

from __future__ import annotations

import importlib.util
import os
import subprocess
import sys
import tomllib
from collections.abc import Mapping
from pathlib import Path
from typing import Annotated

import typer
from rich.console import Console
from rich.markup import escape

MODULE = "modal_services.app"
console = Console(stderr=True)


def modal_installed() -> bool:
    return importlib.util.find_spec("modal") is not None


def modal_token_configured(environ: Mapping[str, str] = os.environ) -> bool:
    """A token in MODAL_TOKEN_ID/MODAL_TOKEN_SECRET, or in a profile of ~/.modal.toml (where
    `modal token new` writes it; MODAL_CONFIG_PATH moves it). Only presence is checked."""
    if environ.get("MODAL_TOKEN_ID") and environ.get("MODAL_TOKEN_SECRET"):
        return True
    path = Path(environ.get("MODAL_CONFIG_PATH") or Path.home() / ".modal.toml")
    try:
        config = tomllib.loads(path.read_text())
    except (OSError, tomllib.TOMLDecodeError):
        return False
    return any(
        isinstance(profile, dict) and profile.get("token_id") and profile.get("token_secret")
        for profile in config.values()
    )


def modal_command(subcommand: str, *args: str, environment: str | None = None) -> list[str]:
    """Modal's CLI from this interpreter (the one `parley[modal]` was installed into). Options go
    before the target: `modal run` hands whatever follows it to the function."""
    env = ["--env", environment] if environment else []
    return [sys.executable, "-m", "modal", subcommand, *env, *args]


def deploy_command(environment: str | None = None) -> list[str]:
    return modal_command("deploy", "-m", MODULE, environment=environment)


def download_command(environment: str | None = None) -> list[str]:
    return modal_command("run", "-m", f"{MODULE}::download_weights", environment=environment)


def run_subprocess(command: list[str]) -> int:
    """The one edge to the outside world; tests replace it."""
    return subprocess.run(command, check=False).returncode


def lookup_urls(app_name: str, environment: str | None) -> dict[str, str | None]:
    from modal_services.urls import lookup_web_urls

    return lookup_web_urls(app_name, environment)


def settings_block(urls: Mapping[str, str | None], llm_model: str) -> str:
    """The `.env` lines for an agent core that uses the deployed services. Placeholders, never
    values, for the credentials."""
    from modal_services.urls import agent_core_env

    lines = [f"{key}={value}" for key, value in agent_core_env(urls, llm_model).items()]
    lines += [
        "# A proxy auth token pair (Modal dashboard > Settings > Proxy Auth Tokens):",
        "PARLEY_SERVICES__MODAL_KEY=wk-...",
        "PARLEY_SERVICES__MODAL_SECRET=ws-...",
    ]
    return "\n".join(lines)


def fail(message: str, code: int = 2) -> typer.Exit:
    console.print(f"[red]error:[/red] {escape(message)}", soft_wrap=True)
    return typer.Exit(code)


def deploy(
    download_weights: Annotated[
        bool,
        typer.Option("--download-weights", help="First copy the model weights from the Hugging Face hub to the Volume."),
    ] = False,
    environment: Annotated[
        str | None, typer.Option("--env", "-e", help="Modal environment (default: your profile's).")
    ] = None,
) -> None:
    """Deploy Parley on Modal (GPU STT, TTS and LLM, CPU orchestrator); scaling from PARLEY_MODAL_*."""
    if not modal_installed():
        raise fail("the Modal client is not installed: pip install 'parley[modal]'")
    if not modal_token_configured():
        raise fail(
            "no Modal token: run `modal token new` (or set MODAL_TOKEN_ID and MODAL_TOKEN_SECRET); "
            "README, section Deploy on Modal"
        )
    from pydantic import ValidationError

    from agent_core.settings import Settings, invalid_settings_message

    try:
        settings = Settings().deploy
    except ValidationError as exc:
        raise fail(invalid_settings_message(exc)) from exc
    steps = [("Downloading model weights to the Volume", download_command(environment))] if download_weights else []
    steps.append((f"Deploying the Modal app {settings.app_name!r}", deploy_command(environment)))
    for title, command in steps:
        console.print(f"[bold]{title}[/bold]: {escape(' '.join(command[2:]))}", soft_wrap=True)
        code = run_subprocess(command)
        if code != 0:
            raise fail(f"`{' '.join(command[2:])}` failed (exit {code})", 1)

    try:
        urls = lookup_urls(settings.app_name, environment)
    except Exception as exc:  # deployed, but the lookup failed: say so, the deploy stands
        raise fail(f"deployed, but the web URLs could not be read back: {exc}", 1) from exc
    for part, url in urls.items():
        console.print(f"  {part:<13} {url or '[yellow]no web URL[/yellow]'}", soft_wrap=True)
    console.print("\nPoint an agent core at these services (.env, or the parley-orchestrator secret):")
    print(settings_block(urls, settings.llm.model))
    if orchestrator := urls.get("orchestrator"):
        base = orchestrator.rstrip("/")
        console.print(
            f"\nTwilio number > Voice: a call comes in > {base}/twilio/voice (POST); "
            f"call status changes > {base}/twilio/status",
            soft_wrap=True,
        )
