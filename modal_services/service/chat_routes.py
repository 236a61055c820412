"""OpenAI-compatible chat completions over the embedded LLM, for `parley services serve`.

On a GPU, `vllm serve` provides this API itself; locally this route gives the
agent core's `openai` backend the same thing to talk to. Sampling settings are
the model's own (the embedded SmolLM2 needs a low temperature to stay on topic).
"""

from __future__ import annotations

import json
import logging
import time
import uuid
from collections.abc import AsyncGenerator
from contextlib import aclosing
from typing import Any

from fastapi import APIRouter, Depends, HTTPException
from fastapi.responses import StreamingResponse
from pydantic import BaseModel, Field

from agent_core.llm.base import LanguageModel
from modal_services.service.auth import ServiceAuth

log = logging.getLogger(__name__)


class ChatRequest(BaseModel):
    model: str = "parley"
    messages: list[dict[str, Any]] = Field(min_length=1)
    stream: bool = False
    tools: list[dict[str, Any]] | None = None


def chat_router(llm: LanguageModel, auth: ServiceAuth, model_name: str) -> APIRouter:
    router = APIRouter(dependencies=[Depends(auth.check_request)])

    @router.get("/v1/models")
    async def models() -> dict[str, Any]:
        return {"object": "list", "data": [{"id": model_name, "object": "model", "owned_by": "parley"}]}

    @router.post("/v1/chat/completions", response_model=None)
    async def completions(request: ChatRequest) -> StreamingResponse | dict[str, Any]:
        chunks = llm.chunks(request.messages, request.tools)
        try:  # a failure before the first chunk is a clean 502, not a broken stream
            first = await anext(chunks)
        except StopAsyncIteration:
            first = None
        except Exception as exc:
            await chunks.aclose()
            log.exception("chat completion failed")
            raise HTTPException(502, f"the model failed: {exc}") from exc
        if request.stream:
            return StreamingResponse(_sse(first, chunks), media_type="text/event-stream")
        return await _collect(first, chunks, model_name)

    return router


async def _sse(first: dict[str, Any] | None, chunks: AsyncGenerator[dict[str, Any], None]) -> AsyncGenerator[str, None]:
    async with aclosing(chunks):
        if first is not None:
            yield f"data: {json.dumps(first)}\n\n"
        async for chunk in chunks:
            yield f"data: {json.dumps(chunk)}\n\n"
    yield "data: [DONE]\n\n"


async def _collect(first: dict[str, Any] | None, chunks: AsyncGenerator[dict[str, Any], None], model: str) -> dict[str, Any]:
    text: list[str] = []
    finish = "stop"

    def read(chunk: dict[str, Any]) -> None:
        nonlocal finish
        for choice in chunk.get("choices") or []:
            text.append((choice.get("delta") or {}).get("content") or "")
            finish = choice.get("finish_reason") or finish

    if first is not None:
        read(first)
    async with aclosing(chunks):
        async for chunk in chunks:
            read(chunk)
    return {
        "id": f"chatcmpl-{uuid.uuid4().hex[:24]}",
        "object": "chat.completion",
        "created": int(time.time()),
        "model": model,
        "choices": [{"index": 0, "message": {"role": "assistant", "content": "".join(text)}, "finish_reason": finish}],
    }
