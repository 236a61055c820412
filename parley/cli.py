"""The `parley` command."""

from __future__ import annotations

import asyncio
import faulthandler
import json
import logging
import sys
from pathlib import Path
from typing import Annotated

import typer
from rich.console import Console
from rich.table import Table

from parley.deploy import deploy
from parley.jobs_cli import jobs, run_worker
from parley.services_cli import services

app = typer.Typer(help="Parley: an open voice bot platform.", no_args_is_help=True, add_completion=False)
console = Console(stderr=True)
app.add_typer(services, name="services")
app.add_typer(jobs, name="jobs")


def fail(message: str, code: int = 2) -> typer.Exit:
    console.print(f"[red]error:[/red] {message}", soft_wrap=True)
    return typer.Exit(code)


@app.callback()
def main(
    verbose: Annotated[bool, typer.Option("--verbose", "-v", help="Log debug details.")] = False,
    log_json: Annotated[
        bool, typer.Option("--log-json", envvar="PARLEY_LOG_JSON", help="Log JSON lines (with call/guild ids).")
    ] = False,
) -> None:
    from pydantic import ValidationError
    from rich.markup import escape

    from agent_core import logs
    from agent_core.settings import Settings, invalid_settings_message, secret_values

    # A native crash (a model library built for another CPU) then still names the Python frame.
    # (The process's own stderr: a captured sys.stderr may have no file descriptor.)
    faulthandler.enable(file=sys.__stderr__ or sys.stderr)  # (None: the interpreter has no stderr of its own)
    try:
        # Values that must never reach a log line, whatever code logs them: every secret setting.
        secrets = secret_values(Settings())
    except ValidationError as exc:
        raise fail(escape(invalid_settings_message(exc))) from exc
    logs.configure(level=logging.DEBUG if verbose else logging.WARNING, json_lines=log_json, secrets=secrets)


@app.command()
def doctor(
    as_json: Annotated[bool, typer.Option("--json", help="Print the results as JSON.")] = False,
) -> None:
    """Load each embedded model in its own process and run one tiny inference; say what to fix."""
    from parley.doctor import results_json, run_checks

    results = run_checks()
    if as_json:
        print(results_json(results))
    else:
        table = Table(title="Embedded models")
        for column in ("model", "status", "time", "detail / fix"):
            table.add_column(column)
        for result in results:
            status = "[green]OK[/green]" if result.ok else "[red]failed[/red]"
            detail = result.detail if result.ok else f"{result.detail}\n[bold]fix:[/bold] {result.fix}"
            table.add_row(result.model, status, f"{result.seconds:.1f} s", detail)
        console.print(table)
    if not all(result.ok for result in results):
        raise typer.Exit(1)


@app.command()
def worker(
    once: Annotated[bool, typer.Option("--once", help="Run the due jobs, then exit.")] = False,
) -> None:
    """Run post-call jobs (transcript, summary) from the database: `parley serve` starts one itself."""
    run_worker(once)


@app.command()
def demo(
    input_wav: Annotated[
        Path | None, typer.Option("--input", help="The caller's question as a WAV file (default: a spoken question).")
    ] = None,
    output: Annotated[Path, typer.Option("--output", help="Where to write the reply the caller heard.")] = Path(
        "reply.wav"
    ),
    as_json: Annotated[bool, typer.Option("--json", help="Print one JSON object instead of tables.")] = False,
    persona_name: Annotated[str | None, typer.Option("--persona", help="Persona from config/personas.")] = None,
    in_process: Annotated[
        bool, typer.Option("--in-process", help="Skip the phone path: talk to the Session directly.")
    ] = False,
) -> None:
    """One spoken conversation turn on the embedded models: a simulated phone call to a local server."""
    from agent_core.audio.wav import WavFormatError, read_wav, write_wav
    from agent_core.demo import DEFAULT_QUESTION, default_question
    from agent_core.persona import PersonaError, load_persona
    from agent_core.settings import Settings
    from parley.phone_demo import run_demo

    settings = Settings()
    if persona_name:
        settings.persona = persona_name
    try:
        load_persona(settings.persona, settings.personas_dir)
        question = read_wav(input_wav) if input_wav else None
    except (PersonaError, WavFormatError, FileNotFoundError) as exc:
        raise fail(str(exc)) from exc
    if question is None:
        console.print(f"Caller asks (a recorded question): [italic]{DEFAULT_QUESTION}[/italic]")
        question = default_question()

    result = asyncio.run(run_demo(settings, question, in_process=in_process, status=console.status))
    write_wav(output, result.reply_audio)
    if as_json:
        print(json.dumps(result.as_json()))
        return
    console.print(f"[bold]Caller said:[/bold] {result.transcript}")
    console.print(f"[bold]Parley said:[/bold] {result.reply_text}")
    console.print(f"Reply audio: {result.reply_audio.duration_s:.2f} s written to {output}")
    table = Table(title="Latency of this turn")
    table.add_column("stage")
    table.add_column("ms", justify="right")
    for stage, value in result.latency_ms.items():
        table.add_row(stage.replace("_", " "), "-" if value is None else f"{value:.0f}")
    Console().print(table)


@app.command()
def serve() -> None:
    """Run the server: Twilio webhooks and media streams (PARLEY_HOST, PARLEY_PORT, PARLEY_PUBLIC_URL)."""
    import uvicorn

    from agent_core.providers import build_providers
    from agent_core.settings import Settings
    from parley.server import create_app

    settings = Settings()
    if not settings.public_url:
        console.print(
            "[yellow]note:[/yellow] PARLEY_PUBLIC_URL is not set: webhook signatures are checked against the URL "
            "each request arrived at. Behind a tunnel or proxy, set it (e.g. https://<your-tunnel>.example)",
            soft_wrap=True,
        )
    if settings.discord.bot_token:
        console.print("DISCORD_TOKEN is set: the Discord bot runs too")
    app_ = create_app(settings, build_providers(settings), run_discord=True)
    # Post-call jobs run in a process of their own, so they never take CPU from a live call's audio path.
    worker = None
    if settings.jobs.runner == "local":
        import subprocess

        worker = subprocess.Popen([sys.executable, "-m", "parley.cli", "worker"])
        console.print(f"post-call worker started (pid {worker.pid}; PARLEY_JOBS__RUNNER=none to run it elsewhere)")
    console.print(f"Parley listening on http://{settings.host}:{settings.port} (talk page: /)")
    try:
        uvicorn.run(app_, host=settings.host, port=settings.port, log_level="info", ws_max_size=1 << 20)
    finally:
        if worker is not None:
            worker.terminate()
            worker.wait(timeout=15)


@app.command()
def phone(
    server: Annotated[str, typer.Argument(help="Base URL of a running `parley serve`.")] = "http://127.0.0.1:8080",
    input_wav: Annotated[
        Path | None, typer.Option("--input", help="What the caller says (WAV; default: a spoken question).")
    ] = None,
    barge_in: Annotated[Path | None, typer.Option("--barge-in", help="A second WAV spoken over the bot.")] = None,
    barge_in_after: Annotated[
        float, typer.Option("--barge-in-after", help="Seconds into the bot's reply to start the barge-in.")
    ] = 1.0,
    heard: Annotated[Path, typer.Option("--heard", help="Write what the caller heard here.")] = Path("heard.wav"),
    fast: Annotated[bool, typer.Option("--fast", help="Send the caller's words faster than real time.")] = False,
    as_json: Annotated[bool, typer.Option("--json", help="Print one JSON object.")] = False,
    public_url: Annotated[
        str | None, typer.Option("--public-url", help="The URL the server signs webhooks for (default: server).")
    ] = None,
) -> None:
    """Simulate a Twilio phone call against a Parley server (signs with TWILIO_AUTH_TOKEN)."""
    from agent_core.audio.wav import WavFormatError, read_wav, write_wav
    from agent_core.demo import default_question
    from agent_core.settings import Settings
    from telephony.simulator import TwilioSimulator

    settings = Settings()
    twilio = settings.twilio
    try:
        caller = read_wav(input_wav) if input_wav else default_question()
        interruption = read_wav(barge_in) if barge_in else None
    except (WavFormatError, FileNotFoundError) as exc:
        raise fail(str(exc)) from exc
    simulator = TwilioSimulator(
        server,
        auth_token=twilio.auth_token.get_secret_value() if twilio.auth_token else "",
        public_url=public_url or settings.public_url or server,
        admin_token=settings.admin_token.get_secret_value() if settings.admin_token else None,
        fast=fast,
    )
    try:
        report = asyncio.run(simulator.call(caller, barge_in=interruption, barge_in_after_s=barge_in_after))
    except Exception as exc:  # refused webhook, closed stream, no server
        raise fail(f"the call failed: {exc}", 1) from exc
    write_wav(heard, report.heard)
    if as_json:
        print(json.dumps(report.as_json()))
        return
    summary = report.as_json()
    console.print(f"Call {report.call_sid}: heard {summary['heard_seconds']} s (written to {heard})")
    console.print(f"Reply started {report.reply_latency_ms} ms after the caller's last sound")
    if report.barge_in_to_clear_ms is not None:
        console.print(f"Barge-in: the server cleared playback {report.barge_in_to_clear_ms} ms after the caller spoke")
    for turn in summary["transcript"]:
        console.print(f"[bold]{turn['speaker']}:[/bold] {turn['text']}" + (" [dim](interrupted)[/dim]" if turn["interrupted"] else ""))
    if not summary["transcript"]:
        console.print("[dim]Set PARLEY_ADMIN_TOKEN (same as the server's) to see the transcript.[/dim]")


@app.command(name="discord")
def discord_bot() -> None:
    """Run the Discord bot (DISCORD_TOKEN). `parley serve` runs it too when the token is set."""
    import discord

    from agent_core.conversations import Conversations
    from agent_core.providers import build_providers
    from agent_core.settings import Settings
    from agent_core.storage import Database
    from bots.bot import ParleyBot

    settings = Settings()
    token = settings.discord.bot_token
    if not token:
        raise fail("DISCORD_TOKEN is not set: create a bot application and copy its token (README, section Discord)")
    db = Database.for_data_dir(settings.data_dir, settings.database_url)
    conversations = Conversations(settings, build_providers(settings), db)
    bot = ParleyBot(conversations)

    async def run() -> None:
        try:
            async with bot:
                await bot.start(token)
        finally:
            await conversations.aclose()  # the records of the last conversations land before exit
            await db.close()

    try:
        asyncio.run(run())
    except discord.LoginFailure as exc:
        raise fail("Discord refused DISCORD_TOKEN (wrong, or reset in the developer portal)", 3) from exc
    except discord.PrivilegedIntentsRequired as exc:
        raise fail(f"Discord refused a gateway intent: {exc}", 3) from exc
    except (OSError, discord.HTTPException) as exc:
        raise fail(f"could not reach Discord: {exc}", 1) from exc
    except KeyboardInterrupt:
        pass


@app.command()
def call(number: Annotated[str, typer.Argument(help="The number to call, E.164 (+15551234567).")]) -> None:
    """Place an outbound call through Twilio; when answered, it talks to this server's agent."""
    from agent_core.settings import Settings
    from telephony.rest import MissingCredentialsError, TwilioRest

    settings = Settings()
    twilio = settings.twilio
    if not settings.public_url:
        raise fail("PARLEY_PUBLIC_URL is not set: Twilio fetches the call's instructions from this server")
    if not twilio.phone_number:
        raise fail("TWILIO_PHONE_NUMBER is not set: the caller ID must be a number you own on Twilio")
    try:
        rest = TwilioRest(twilio.account_sid, twilio.auth_token.get_secret_value() if twilio.auth_token else None)
    except MissingCredentialsError as exc:
        raise fail(str(exc)) from exc
    base = settings.public_url.rstrip("/")
    try:
        sid = asyncio.run(
            rest.place_call(
                to=number,
                from_=twilio.phone_number,
                answer_url=f"{base}/twilio/voice",
                status_callback=f"{base}/twilio/status",
            )
        )
    except Exception as exc:
        raise fail(f"Twilio refused the call: {exc}", 1) from exc
    console.print(f"Calling {number}: call {sid}")


app.command(name="deploy")(deploy)

if __name__ == "__main__":
    app()
