"""`parley worker` and `parley jobs list | show | retry`: post-call jobs from the command line."""

from __future__ import annotations

import asyncio
import json
import time
from collections.abc import Awaitable, Callable
from typing import Annotated, TypeVar

import typer
from rich.console import Console
from rich.progress import Progress, SpinnerColumn, TextColumn
from rich.table import Table

from agent_core.settings import Settings
from agent_core.storage import Database
from agent_core.storage.jobs import DONE, FAILED, JobRecord, JobStore

T = TypeVar("T")
jobs = typer.Typer(help="Post-call jobs (transcript, summary): list, inspect, retry.", no_args_is_help=True)
console = Console(stderr=True)


def _database(settings: Settings) -> Database:
    return Database.for_data_dir(settings.data_dir, settings.database_url)


def run_worker(once: bool = False) -> None:
    """Load the models and run due jobs until stopped (or, with `once`, until none is due)."""
    from agent_core.providers import build_providers
    from agent_core.stt.whisper_local import WhisperStt
    from parley.worker import JobWorker

    settings = Settings()

    async def main() -> None:
        db = _database(settings)
        await db.migrate()
        providers = build_providers(settings)
        # The transcript job reads whole recordings: the embedded Whisper, whatever the live STT is.
        whisper = WhisperStt(model=settings.stt.model, cache_dir=settings.models_dir, language=settings.stt.language)
        await asyncio.gather(providers.llm.load(), whisper.load())
        worker = JobWorker(settings, db, providers, whisper)
        try:
            if once:
                while (job := await worker.run_once()) is not None:
                    console.print(f"job {job.id} ({job.kind}): {job.status}")
            else:
                console.print(f"parley worker {worker.name}: waiting for jobs")
                await worker.run_forever()
        finally:
            await asyncio.gather(providers.llm.aclose(), whisper.aclose())
            await db.close()

    asyncio.run(main())


def _table(records: list[JobRecord]) -> Table:
    table = Table(title="Post-call jobs")
    for column in ("id", "conversation", "kind", "status", "attempts", "finished", "cost (USD)", "error"):
        table.add_column(column)
    for job in records:
        colour = {DONE: "green", FAILED: "red"}.get(job.status, "yellow")
        table.add_row(str(job.id), str(job.conversation_id), job.kind, f"[{colour}]{job.status}[/{colour}]",
                      f"{job.attempts}/{job.max_attempts}", job.finished_at.isoformat(timespec="seconds")
                      if job.finished_at else "", f"{(job.cost or {}).get('usd', 0):.6f}", (job.error or "")[:60])
    return table


def _with_store(action: Callable[[JobStore], Awaitable[T]]) -> T:
    async def main() -> T:
        db = _database(Settings())
        await db.migrate()
        try:
            return await action(JobStore(db))
        finally:
            await db.close()

    return asyncio.run(main())


@jobs.command("list")
def list_jobs(
    status: Annotated[str | None, typer.Option(help="queued, running, done or failed")] = None,
    limit: Annotated[int, typer.Option(help="How many, newest first.")] = 50,
    as_json: Annotated[bool, typer.Option("--json")] = False,
) -> None:
    """The newest jobs."""
    records = _with_store(lambda store: store.recent(status, limit))
    if as_json:
        print(json.dumps([r.model_dump(mode="json") for r in records]))
    else:
        console.print(_table(records))


@jobs.command("show")
def show(job_id: int, wait: Annotated[bool, typer.Option(help="Wait until it is done or failed.")] = False) -> None:
    """One job, whole (result, error, cost); --wait shows progress until it ends."""
    record = _with_store(lambda store: store.get(job_id))
    if record is None:
        console.print(f"[red]error:[/red] no job with id {job_id}")
        raise typer.Exit(2)
    if wait and record.status not in (DONE, FAILED):
        with Progress(SpinnerColumn(), TextColumn("{task.description}"), console=console) as progress:
            task = progress.add_task(f"job {job_id}: {record.status}")
            while record.status not in (DONE, FAILED):
                time.sleep(1)
                record = _with_store(lambda store: store.get(job_id)) or record
                progress.update(task, description=f"job {job_id}: {record.status} (attempt {record.attempts})")
    print(record.model_dump_json(indent=2))


@jobs.command("retry")
def retry(job_id: int) -> None:
    """Queue a job again now (e.g. a failed one, once its cause is fixed)."""
    try:
        record = _with_store(lambda store: store.retry(job_id))
    except KeyError:
        console.print(f"[red]error:[/red] no job with id {job_id}")
        raise typer.Exit(2) from None
    console.print(f"job {record.id} ({record.kind}) queued again")
