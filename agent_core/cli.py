"""The `parley` command."""

from __future__ import annotations

import asyncio
import json
import logging
from pathlib import Path
from typing import Annotated

import typer
from rich.console import Console
from rich.table import Table

app = typer.Typer(help="Parley: an open voice bot platform.", no_args_is_help=True, add_completion=False)
console = Console(stderr=True)


@app.callback()
def main(verbose: Annotated[bool, typer.Option("--verbose", "-v", help="Log debug details.")] = False) -> None:
    logging.basicConfig(
        level=logging.DEBUG if verbose else logging.WARNING,
        format="%(asctime)s %(levelname)s %(name)s: %(message)s",
    )


@app.command()
def demo(
    input_wav: Annotated[
        Path | None, typer.Option("--input", help="The caller's question as a WAV file (default: a spoken question).")
    ] = None,
    output: Annotated[Path, typer.Option("--output", help="Where to write the spoken reply.")] = Path("reply.wav"),
    as_json: Annotated[bool, typer.Option("--json", help="Print one JSON object instead of tables.")] = False,
    persona_name: Annotated[str | None, typer.Option("--persona", help="Persona from config/personas.")] = None,
) -> None:
    """Run one spoken conversation turn on the embedded models, in-process."""
    from agent_core.audio.wav import WavFormatError, read_wav, write_wav
    from agent_core.demo import DEFAULT_QUESTION, default_question, run_demo
    from agent_core.persona import PersonaError, load_persona
    from agent_core.providers import build_providers
    from agent_core.settings import Settings

    settings = Settings()
    try:
        persona = load_persona(persona_name or settings.persona, settings.personas_dir)
        question = read_wav(input_wav) if input_wav else None
    except (PersonaError, WavFormatError, FileNotFoundError) as exc:
        console.print(f"[red]error:[/red] {exc}", soft_wrap=True)
        raise typer.Exit(2) from exc

    async def run():
        providers = build_providers(settings)
        with console.status("Loading the embedded models (speech, language, voice)...") as status:
            await providers.load(lambda name: status.update(f"Loaded {name}..."))
        caller = question
        if caller is None:
            console.print(f"Caller asks (in the embedded voice): [italic]{DEFAULT_QUESTION}[/italic]")
            caller = default_question()
        try:
            with console.status("The caller is speaking; Parley listens and answers..."):
                return await run_demo(providers, persona, caller, settings.session)
        finally:
            await providers.aclose()

    result = asyncio.run(run())
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


if __name__ == "__main__":
    app()
