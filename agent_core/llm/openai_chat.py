"""Any OpenAI-compatible chat server (vLLM, llama.cpp server, a hosted API)."""

from __future__ import annotations

from collections.abc import AsyncGenerator
from typing import TYPE_CHECKING, Any, cast

from openai import AsyncOpenAI, Timeout

from agent_core.llm.base import LanguageModel, Message, ToolChoice

if TYPE_CHECKING:
    from openai import AsyncStream
    from openai.types.chat import ChatCompletionChunk, ChatCompletionMessageParam


class OpenAiChatLlm(LanguageModel):
    name = "openai"

    def __init__(
        self,
        *,
        base_url: str,
        model: str,
        api_key: str = "not-needed",
        temperature: float = 0.3,
        max_tokens: int = 200,
        connect_timeout_s: float = 3.0,
        read_timeout_s: float = 10.0,
        extra_headers: dict[str, str] | None = None,
    ) -> None:
        self.model = model
        self.temperature = temperature
        self.max_tokens = max_tokens
        self._client = AsyncOpenAI(
            base_url=base_url,
            api_key=api_key,
            timeout=Timeout(read_timeout_s, connect=connect_timeout_s),
            max_retries=1,
            default_headers=extra_headers,
        )

    async def chunks(
        self, messages: list[Message], tools: list[dict[str, Any]] | None, tool_choice: ToolChoice = None
    ) -> AsyncGenerator[dict[str, Any], None]:
        kwargs: dict[str, Any] = {}
        if tools:
            kwargs["tools"] = tools
            if tool_choice is not None:
                kwargs["tool_choice"] = tool_choice
        # stream=True: a stream of chunks (through **kwargs the type checker cannot pick that overload).
        stream = cast("AsyncStream[ChatCompletionChunk]", await self._client.chat.completions.create(
            model=self.model,
            # Our messages are OpenAI chat messages: the shape the SDK's TypedDicts describe.
            messages=cast("list[ChatCompletionMessageParam]", messages),
            stream=True,
            temperature=self.temperature,
            max_tokens=self.max_tokens,
            **kwargs,
        ))
        try:
            async for chunk in stream:
                yield chunk.model_dump(exclude_none=True)
        finally:
            await stream.close()

    async def aclose(self) -> None:
        await self._client.close()
