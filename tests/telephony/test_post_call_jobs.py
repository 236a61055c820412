"""Post-call jobs: queued when a call ends, run by a worker outside the call, retried, never lost."""

from __future__ import annotations

import asyncio
import json
import os
import subprocess
import sys
from pathlib import Path

import httpx
import pytest
from pydantic import SecretStr

from agent_core.audio.frames import AudioFrame
from agent_core.providers import Providers
from agent_core.settings import JobSettings
from agent_core.storage.jobs import DONE, FAILED, QUEUED, JobStore
from agent_core.storage.tables import JobRow
from agent_core.testing import ScriptedLlm, ScriptedStt
from agent_core.webhooks import signature_matches
from parley.local_server import free_port
from parley.worker import JobWorker
from tests.integration.conftest import words
from tests.telephony.kit import phone_line

ROOT = Path(__file__).resolve().parents[2]


class HeardTranscriber:
    """Stands in for Whisper: says how much audio it was given."""

    name = "stand-in"

    def __init__(self) -> None:
        self.heard: list[AudioFrame] = []

    async def transcribe(self, frame: AudioFrame, language: str | None = None) -> str:
        self.heard.append(frame)
        return f"{frame.duration_s:.1f} seconds of audio"


async def finished_call(line, jfk_opening) -> tuple[str, int]:
    report = await line.simulator().call(jfk_opening, quiet_after_reply_s=0.5)
    await line.phone.conversations.records.flush()
    record = await line.db.get_conversation(channel="phone", external_id=report.call_sid)
    assert record is not None
    return report.call_sid, record.id


async def api(line, path: str) -> dict:
    async with httpx.AsyncClient() as http:
        reply = await http.get(f"{line.url}{path}", headers={"Authorization": f"Bearer {line.admin_token}"})
    assert reply.status_code == 200, reply.text
    return reply.json()


async def test_a_worker_runs_the_transcript_and_summary_of_a_finished_call(tmp_path, jfk_opening):
    llm = ScriptedLlm(lambda messages: "A caller asked about France." if "Summarize" in messages[0]["content"] else "Paris.")
    async with phone_line(tmp_path, llm=llm, stt=ScriptedStt(["What is the capital of France?"])) as line:
        call_sid, conversation_id = await finished_call(line, jfk_opening)
        queued = (await api(line, f"/api/calls/{call_sid}"))["jobs"]
        assert [(j["kind"], j["status"]) for j in queued] == [("transcript", QUEUED), ("summary", QUEUED)]

        transcriber = HeardTranscriber()
        worker = JobWorker(line.phone.settings, line.db, Providers(stt=line.stt, llm=llm, tts=line.tts), transcriber)
        finished = [await worker.run_once(), await worker.run_once()]
        assert await worker.run_once() is None  # nothing else is due
        call = await api(line, f"/api/calls/{call_sid}")
        job = await api(line, f"/api/jobs/{finished[0].id}")
    assert [j["status"] for j in call["jobs"]] == [DONE, DONE]
    transcript, summary = call["jobs"]
    # The caller's side of the recording, at 16 kHz: the 2.6 s they spoke and the call around it.
    assert transcriber.heard[0].sample_rate == 16000 and transcriber.heard[0].duration_s > 2.6
    assert transcript["result"]["text"].endswith("seconds of audio") and transcript["attempts"] == 1
    assert summary["result"]["summary"] == call["summary"] == "A caller asked about France."
    assert job["id"] == transcript["id"] and job["cost"]["cpu_seconds"] >= 0 and "usd" in job["cost"]
    assert call["cost"]["usd"] == pytest.approx(transcript["cost"]["usd"] + summary["cost"]["usd"])
    assert conversation_id == call["id"]


class BrokenTranscriber(HeardTranscriber):
    async def transcribe(self, frame: AudioFrame, language: str | None = None) -> str:
        raise ConnectionError("the GPU service is down")


async def test_a_failing_job_is_retried_with_backoff_then_failed_with_its_reason(database_url, tmp_path, jfk_opening):
    async with phone_line(tmp_path, database_url=database_url, stt=ScriptedStt(["Hello."])) as line:
        _, conversation_id = await finished_call(line, jfk_opening)
        store = JobStore(line.db)
        worker = JobWorker(line.phone.settings, line.db, Providers(stt=line.stt, llm=line.llm, tts=line.tts),
                           BrokenTranscriber())
        first = await worker.run_once()
        assert first is not None and first.kind == "transcript"
        assert first.status == QUEUED and first.attempts == 1 and "GPU service is down" in (first.error or "")
        assert first.next_attempt_at > first.started_at  # backing off: not due again at once
        summary = await worker.run_once()  # meanwhile the other job runs
        assert summary is not None and summary.kind == "summary" and summary.status == DONE
        assert await worker.run_once() is None
        for _ in range(first.max_attempts - 1):
            await backoff_passes(line.db, first.id)
            last = await worker.run_once()
        assert last is not None and last.status == FAILED and last.attempts == first.max_attempts
        assert last.error == "ConnectionError: the GPU service is down"
        again = await store.retry(first.id)  # an operator's retry once the cause is fixed
        assert again.status == QUEUED
        assert [j.kind for j in await store.for_conversation(conversation_id)] == ["transcript", "summary"]


async def backoff_passes(db, job_id: int) -> None:
    """Time passing, without waiting for it: the job is due again."""
    async with db.transaction() as session:
        row = await session.get(JobRow, job_id)
        row.next_attempt_at = row.created_at


async def test_two_workers_never_run_the_same_job(database_url, tmp_path, jfk_opening):
    async with phone_line(tmp_path, database_url=database_url, stt=ScriptedStt(["Hello."])) as line:
        await finished_call(line, jfk_opening)
        store = JobStore(line.db)
        claimed = await asyncio.gather(*(store.claim(f"worker-{i}") for i in range(4)))
    taken = [job.id for job in claimed if job is not None]
    assert len(taken) == 2 and len(set(taken)) == 2


@pytest.mark.models
async def test_parley_worker_transcribes_the_callers_real_speech_and_it_all_survives_a_restart(tmp_path, jfk_opening):
    async with phone_line(tmp_path, stt=ScriptedStt(["And so my fellow Americans."])) as line:
        call_sid, _ = await finished_call(line, jfk_opening)
    # The worker is a process of its own, as `parley serve` starts it, on the same data directory.
    env = {**os.environ, "PARLEY_DATA_DIR": str(tmp_path)}
    done = await asyncio.to_thread(subprocess.run, [sys.executable, "-m", "parley.cli", "worker", "--once"],
                                   cwd=ROOT, env=env, capture_output=True, text=True, timeout=300)
    assert done.returncode == 0, done.stderr
    async with phone_line(tmp_path) as restarted:  # a new server process on the same database
        call = await api(restarted, f"/api/calls/{call_sid}")
    transcript = next(job for job in call["jobs"] if job["kind"] == "transcript")
    assert transcript["status"] == DONE and transcript["result"]["model"] == "whisper"
    assert "and so my fellow america" in words(transcript["result"]["text"])  # through 8 kHz mu-law
    assert [t["text"] for t in call["turns"]][0] == "And so my fellow Americans."


class WebhookReceiver:
    """A customer's endpoint on a local port; it can be down."""

    def __init__(self) -> None:
        self.received: list[tuple[bytes, str | None]] = []
        self.port = free_port()
        self._server: asyncio.AbstractServer | None = None

    async def handle(self, reader: asyncio.StreamReader, writer: asyncio.StreamWriter) -> None:
        head = (await reader.readuntil(b"\r\n\r\n")).decode()
        headers = dict(line.split(": ", 1) for line in head.split("\r\n")[1:] if ": " in line)
        lowered = {k.lower(): v for k, v in headers.items()}
        body = await reader.readexactly(int(lowered["content-length"]))
        self.received.append((body, lowered.get("x-parley-signature")))
        writer.write(b"HTTP/1.1 204 No Content\r\nContent-Length: 0\r\nConnection: close\r\n\r\n")
        await writer.drain()
        writer.close()

    async def start(self) -> None:
        self._server = await asyncio.start_server(self.handle, "127.0.0.1", self.port)

    async def stop(self) -> None:
        if self._server is not None:
            self._server.close()
            await self._server.wait_closed()


async def test_the_signed_webhook_reaches_a_receiver_that_was_down_at_first(tmp_path, jfk_opening):
    receiver = WebhookReceiver()
    secret = "whsec-test"
    async with phone_line(tmp_path, stt=ScriptedStt(["Hello."])) as line:
        call_sid, conversation_id = await finished_call(line, jfk_opening)
        settings = line.phone.settings.model_copy(update={"jobs": JobSettings(
            webhook_url=f"http://127.0.0.1:{receiver.port}/parley", webhook_secret=SecretStr(secret))})
        worker = JobWorker(settings, line.db, Providers(stt=line.stt, llm=line.llm, tts=line.tts), HeardTranscriber())
        await worker.run_once(), await worker.run_once()  # transcript and summary: the webhook is queued
        down = await worker.run_once()
        assert down is not None and down.kind == "webhook" and down.status == QUEUED
        assert "unreachable" in (down.error or "")  # the attempt is recorded, with why it failed
        await receiver.start()
        try:
            await backoff_passes(line.db, down.id)
            delivered = await worker.run_once()
        finally:
            await receiver.stop()
    assert delivered is not None and delivered.status == DONE and delivered.attempts == 2
    [(body, signature)] = receiver.received
    assert signature_matches(body, secret, signature) and not signature_matches(body, "other", signature)
    payload = json.loads(body)
    assert payload["event"] == "conversation.jobs_finished"
    assert payload["conversation"]["external_id"] == call_sid and payload["conversation"]["id"] == conversation_id
    assert sorted((j["kind"], j["status"]) for j in payload["jobs"]) == [("summary", DONE), ("transcript", DONE)]
    assert payload["recording_url"].endswith(f"/api/calls/{call_sid}/recording")


async def test_a_dispatcher_starts_each_calls_jobs_once_they_are_in_the_database(tmp_path, jfk_opening):
    """On Modal the orchestrator spawns a GPU function per call; it then runs only that call's jobs."""
    dispatched: list[tuple[int, list[str]]] = []

    async def spawn(conversation_id: int) -> None:  # stands in for Modal's Function.spawn
        jobs = await JobStore(line.db).for_conversation(conversation_id)
        dispatched.append((conversation_id, [job.kind for job in jobs]))

    async with phone_line(tmp_path, stt=ScriptedStt(["Hello.", "Hello again."]), dispatch_jobs=spawn) as line:
        _, first = await finished_call(line, jfk_opening)
        _, second = await finished_call(line, jfk_opening)
        for _ in range(100):
            if len(dispatched) == 2:
                break
            await asyncio.sleep(0.05)
        worker = JobWorker(line.phone.settings, line.db, Providers(stt=line.stt, llm=line.llm, tts=line.tts),
                           HeardTranscriber())
        ran = [await worker.run_once(second), await worker.run_once(second), await worker.run_once(second)]
        untouched = await JobStore(line.db).for_conversation(first)
    assert dispatched == [(first, ["transcript", "summary"]), (second, ["transcript", "summary"])]
    assert [job.conversation_id for job in ran if job] == [second, second] and ran[2] is None
    assert [job.status for job in untouched] == [QUEUED, QUEUED]  # the other call's jobs wait for their own
