"""A database that is down during a call costs the caller nothing, and the record nothing."""

from __future__ import annotations

import asyncio

from agent_core.storage.jobs import JobStore
from agent_core.testing import ScriptedLlm, ScriptedStt
from tests.postgres_server import PostgresServer
from tests.telephony.kit import phone_line


async def test_a_call_during_a_database_outage_is_answered_and_recorded_once_it_is_back(tmp_path, jfk_opening):
    server = PostgresServer()
    server.start()
    try:
        url = await server.new_database()
        llm = ScriptedLlm(["Paris is the capital."])
        async with phone_line(tmp_path, database_url=url, llm=llm, stt=ScriptedStt(["what is the capital of france"])) as line:
            await asyncio.to_thread(server.pause)  # the database goes down after the server started
            report = await line.simulator(fast=True).call(jfk_opening, quiet_after_reply_s=1.0)
            assert report.heard_after(report.caller_spoke_at_s).duration_s > 0.3  # the caller was answered
            assert line.phone.conversations.records.pending > 0  # and what they said is waiting, not lost

            await asyncio.to_thread(server.start)  # back
            await asyncio.wait_for(line.phone.conversations.records.flush(), 60)
            record = await line.db.get_conversation(channel="phone", external_id=report.call_sid)
            assert record is not None
            jobs = await JobStore(line.db).for_conversation(record.id)
        assert record is not None and record.status == "completed"
        assert [(t.role, t.text) for t in record.turns] == [
            ("user", "what is the capital of france"),
            ("assistant", "Paris is the capital."),
        ]
        assert sorted(job.kind for job in jobs) == ["summary", "transcript"]  # queued once the record was
    finally:
        server.stop()
