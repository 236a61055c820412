"""GET /metrics scraped like Prometheus does, around real calls, refusals and barge-ins."""

from __future__ import annotations

import asyncio
import json
import math

import httpx
import pytest
import websockets
from prometheus_client.parser import text_string_to_metric_families

from agent_core.job_metrics import JobTotalsCollector
from agent_core.providers import Providers
from agent_core.storage import Database
from agent_core.storage.jobs import JobStore
from agent_core.testing import ScriptedLlm, ScriptedStt, ScriptedTts
from parley.local_server import free_port
from parley.worker import JobWorker
from tests.telephony.kit import phone_line
from tests.telephony.test_calls import raw_stream
from tests.telephony.test_post_call_jobs import HeardTranscriber, finished_call


async def scrape(line) -> dict[tuple[str, tuple], float]:
    async with httpx.AsyncClient() as http:
        response = await http.get(line.url + "/metrics", headers={"Authorization": f"Bearer {line.admin_token}"})
    assert response.status_code == 200 and response.headers["content-type"].startswith("text/plain")
    samples = {}
    for family in text_string_to_metric_families(response.text):
        for s in family.samples:
            samples[(s.name, tuple(sorted(s.labels.items())))] = s.value
    return samples


def value(samples, name, **labels) -> float:
    return samples.get((name, tuple(sorted(labels.items()))), 0.0)


async def test_metrics_follow_calls_refusals_and_barge_ins(tmp_path, jfk_opening):
    long_reply = "This is the first sentence of a long answer. Here is a second sentence that goes on and on."
    llm = ScriptedLlm([long_reply, "Okay."])
    stt = ScriptedStt(["Tell me a story.", "Stop."])
    async with phone_line(tmp_path, stt=stt, llm=llm, tts=ScriptedTts(seconds_per_word=0.3)) as line:
        before = await scrape(line)
        async with httpx.AsyncClient() as http:
            refused = await http.post(line.url + "/twilio/voice", data={"CallSid": "CAx"})  # unsigned
            assert refused.status_code == 403
            assert (await http.get(line.url + "/metrics")).status_code == 401  # the admin token guards it
        await line.simulator().call(jfk_opening, barge_in=jfk_opening, barge_in_after_s=1.0)
        after = await scrape(line)

    def grew(name, **labels):
        return value(after, name, **labels) - value(before, name, **labels)

    assert grew("parley_voice_to_voice_seconds_count", channel="phone") >= 1
    assert grew("parley_stt_final_seconds_count", channel="phone") >= 1
    assert grew("parley_llm_first_token_seconds_count", channel="phone") >= 1
    assert grew("parley_tts_first_audio_seconds_count", channel="phone") >= 1
    assert grew("parley_barge_in_reaction_seconds_count", channel="phone") == 1
    assert 0 < grew("parley_barge_in_reaction_seconds_sum", channel="phone") < 2.0
    assert grew("parley_refusals_total", reason="bad_signature") == 1
    assert grew("parley_refusals_total", reason="bad_admin_token") == 1
    # The call is over: it no longer counts as active.
    assert value(after, "parley_active_sessions", channel="phone") == value(before, "parley_active_sessions", channel="phone")


async def test_malformed_frames_and_provider_errors_are_counted(tmp_path, jfk_opening):
    stt = ScriptedStt(error=RuntimeError("stt down"))
    async with phone_line(tmp_path, stt=stt) as line:
        before = await scrape(line)
        await line.simulator(fast=True).call(jfk_opening)  # the turn ends in an apology
        url, start = await raw_stream(line, "CA" + "5" * 32)
        async with websockets.connect(url, max_queue=None) as ws:
            await ws.send(json.dumps(start))
            for junk in ("not json", "{}", "[1]", '{"event": "media"}', '{"event": "mark"}'):
                await ws.send(junk)
            await ws.send(json.dumps({"event": "stop", "streamSid": start["streamSid"], "stop": {}}))
            await asyncio.sleep(0.2)
        after = await scrape(line)
    assert value(after, "parley_provider_errors_total", channel="phone", stage="stt") - value(
        before, "parley_provider_errors_total", channel="phone", stage="stt"
    ) >= 1
    assert value(after, "parley_frames_malformed_total", channel="phone") - value(
        before, "parley_frames_malformed_total", channel="phone"
    ) == 5


def test_the_grafana_dashboard_only_queries_metrics_that_exist():
    import re
    from pathlib import Path

    from prometheus_client import REGISTRY, generate_latest

    import agent_core.telemetry  # noqa: F401  registers the metrics

    dashboard = (Path(__file__).resolve().parents[2] / "docs" / "grafana-dashboard.json").read_text()
    queried = {re.sub(r"_(bucket|total)$", "", name) for name in re.findall(r"parley_[a-z_]+", dashboard)}
    exposed = {family.name for family in REGISTRY.collect()}
    assert queried and queried <= exposed, queried - exposed
    assert b"parley_voice_to_voice_seconds_bucket" in generate_latest()


async def test_job_counts_and_cost_from_the_worker_reach_the_servers_metrics(database_url, tmp_path, jfk_opening):
    """The worker is another process in production: what it records reaches /metrics through the database."""
    async with phone_line(tmp_path, database_url=database_url, stt=ScriptedStt(["Hello."])) as line:
        await finished_call(line, jfk_opening)
        totals = line.app.state.job_totals
        totals.max_age_s = 3600  # however long the jobs take, the next scrape is within the cache's age
        queued = await scrape(line)
        worker = JobWorker(line.phone.settings, line.db, Providers(stt=line.stt, llm=line.llm, tts=line.tts),
                           HeardTranscriber())
        ran = [await worker.run_once(), await worker.run_once()]
        cached = await scrape(line)  # within a few seconds of the last read: the same snapshot, no query
        totals.max_age_s = 0
        after = await scrape(line)
    for samples in (queued, cached):
        assert value(samples, "parley_jobs", kind="transcript", status="queued") == 1
        assert value(samples, "parley_jobs", kind="summary", status="queued") == 1
        assert value(samples, "parley_jobs_cost_usd", kind="transcript") == 0
    assert value(after, "parley_jobs", kind="transcript", status="done") == 1
    assert value(after, "parley_jobs", kind="summary", status="done") == 1
    assert ("parley_jobs", (("kind", "transcript"), ("status", "queued"))) not in after
    for job in ran:
        assert job is not None and job.cost is not None
        assert value(after, "parley_jobs_cost_usd", kind=job.kind) == pytest.approx(job.cost["usd"])
        assert value(after, "parley_jobs_cpu_seconds", kind=job.kind) == pytest.approx(job.cost["cpu_seconds"])
        assert value(after, "parley_jobs_gpu_seconds", kind=job.kind) == 0
    assert 0 <= value(after, "parley_jobs_snapshot_age_seconds") < 5


async def test_job_metrics_keep_answering_while_the_database_is_down(tmp_path):
    nobody = f"postgresql+asyncpg://parley:parley@127.0.0.1:{free_port()}/parley"  # nothing listens there
    collector = JobTotalsCollector(JobStore(Database(nobody)), max_age_s=0)
    await collector.refresh()  # logs, does not raise
    samples = {s.name: s.value for family in collector.collect() for s in family.samples}
    assert samples["parley_jobs_snapshot_failures_total"] == 1
    assert math.isnan(samples["parley_jobs_snapshot_age_seconds"])  # never read: no totals to trust
