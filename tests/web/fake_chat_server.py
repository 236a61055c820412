"""An OpenAI-compatible chat-completions server that answers from a script: the LLM edge, faked.

The first request that offers tools gets a streamed tool call; a request holding a tool result
gets text built from it. Every request body is kept for the test to read.
"""

from __future__ import annotations

import json
from collections.abc import AsyncIterator
from contextlib import asynccontextmanager
from typing import Any

from fastapi import FastAPI, Request
from fastapi.responses import StreamingResponse

from parley.local_server import running_server


def _chunk(delta: dict[str, Any]) -> str:
    body = {"id": "chatcmpl-fake", "object": "chat.completion.chunk", "created": 0, "model": "fake",
            "choices": [{"index": 0, "delta": delta, "finish_reason": None}]}
    return f"data: {json.dumps(body)}\n\n"


def _answer(messages: list[dict[str, Any]], tools: list[dict[str, Any]] | None) -> list[str]:
    results = [m for m in messages if m["role"] == "tool"]
    if results:
        text = f"The weather says {json.loads(results[-1]['content'])['forecast']}."
        return [_chunk({"role": "assistant", "content": word + " "}) for word in text.split()]
    if tools:
        # Streamed in pieces, as real servers do: id and name first, then the arguments in parts.
        return [_chunk({"role": "assistant", "tool_calls": [{"index": 0, "id": "call_weather_1", "type": "function",
                                                               "function": {"name": "get_weather", "arguments": ""}}]}),
                _chunk({"tool_calls": [{"index": 0, "function": {"arguments": '{"city": '}}]}),
                _chunk({"tool_calls": [{"index": 0, "function": {"arguments": '"Paris"}'}}]})]
    return [_chunk({"role": "assistant", "content": "Hello there."})]


@asynccontextmanager
async def fake_chat_server(requests: list[dict[str, Any]]) -> AsyncIterator[str]:
    """Yields the server's OpenAI base URL (`.../v1`); appends each request body to `requests`."""
    app = FastAPI()

    @app.post("/v1/chat/completions")
    async def completions(request: Request) -> StreamingResponse:
        body = await request.json()
        requests.append(body)
        chunks = [*_answer(body["messages"], body.get("tools")), "data: [DONE]\n\n"]
        return StreamingResponse(iter(chunks), media_type="text/event-stream")

    async with running_server(app) as url:
        yield url + "/v1"
