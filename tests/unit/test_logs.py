"""Log lines say which call they are about, come as JSON on request, and never carry secrets."""

from __future__ import annotations

import asyncio
import io
import json
import logging

import pytest

from agent_core import logs


@pytest.fixture
def captured():
    stream = io.StringIO()
    root = logging.getLogger()
    saved = root.handlers[:], root.level
    logs.configure(level=logging.INFO, json_lines=True, secrets=["tw-auth-0123456789", None, "abc"])
    root.handlers[0].setStream(stream)
    yield stream
    root.handlers[:], _ = saved
    root.setLevel(saved[1])


async def test_fields_follow_the_call_into_tasks_it_starts(captured):
    log = logging.getLogger("parley.test")

    async def call(sid):
        logs.bind(call_sid=sid)

        async def deep_inside_the_session():
            log.info("turn %d done", 1)

        await asyncio.create_task(deep_inside_the_session())

    await asyncio.gather(call("CA1"), call("CA2"))
    log.info("outside any call")
    lines = [json.loads(line) for line in captured.getvalue().splitlines()]
    assert [(line["message"], line.get("call_sid")) for line in lines] == [
        ("turn 1 done", "CA1"), ("turn 1 done", "CA2"), ("outside any call", None)
    ]
    assert lines[0]["level"] == "info" and lines[0]["logger"] == "parley.test" and lines[0]["ts"].endswith("+00:00")


def test_secrets_are_scrubbed_from_messages_and_arguments(captured):
    log = logging.getLogger("parley.test")
    log.warning("request with token tw-auth-0123456789 failed")
    log.warning("auth=%s", "tw-auth-0123456789")
    log.warning("abc is too short to be a secret")
    text = captured.getvalue()
    assert "tw-auth-0123456789" not in text
    assert text.count("***") == 2 and "abc is too short" in text


def test_text_lines_append_the_fields(captured):
    root = logging.getLogger()
    root.handlers[0].setFormatter(logs.TextFormatter("%(levelname)s %(message)s"))
    token = logs.bind(guild_id=42)
    logging.getLogger("x").warning("joined")
    logs.unbind(token)
    assert captured.getvalue().strip() == "WARNING joined guild_id=42"
