"""A call is answered even when its record cannot be written."""

from __future__ import annotations

from agent_core.testing import ScriptedStt
from tests.telephony.kit import phone_line


async def test_a_database_fault_at_call_start_does_not_silence_the_caller(tmp_path, jfk_opening):
    async with phone_line(tmp_path, stt=ScriptedStt(["What is the capital of France?"])) as line:
        async def broken(**_kw):
            raise RuntimeError("database is locked")

        line.db.start_conversation = broken  # type: ignore[method-assign]
        report = await line.simulator(fast=True).call(jfk_opening)
    assert report.media_received > 0 and report.reply_latency_ms is not None  # the caller heard the reply
    assert line.llm.requests[-1][-1]["content"] == "What is the capital of France?"


async def test_without_a_public_url_the_server_answers_at_the_url_it_was_called_on(tmp_path, jfk_opening):
    """`parley serve` + `parley phone` on one machine, no PARLEY_PUBLIC_URL: signed and streamed as is."""
    async with phone_line(tmp_path, stt=ScriptedStt(["What is the capital of France?"])) as line:
        line.phone.settings.public_url = None
        report = await line.simulator(fast=True).call(jfk_opening)
    assert report.media_received > 0 and report.reply_latency_ms is not None
    assert line.phone.refusals == 0
