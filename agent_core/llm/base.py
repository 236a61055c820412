"""The language-model seam: the OpenAI chat-completions streaming API.

Every backend produces OpenAI `chat.completion.chunk` objects (as dicts), and
`ChunkReader` turns them into text deltas and complete tool calls. So any
OpenAI-compatible server (vLLM, llama.cpp server, a hosted API) plugs in by
base URL, and the embedded llama.cpp model speaks the same shape in-process.
"""

from __future__ import annotations

from abc import ABC, abstractmethod
from collections.abc import AsyncGenerator
from contextlib import aclosing
from dataclasses import dataclass, field
from typing import Any

Message = dict[str, Any]  # an OpenAI chat message: {"role": ..., "content": ...}


@dataclass(frozen=True)
class TextDelta:
    text: str


@dataclass(frozen=True)
class ToolCall:
    id: str
    name: str
    arguments: str  # JSON text, as the model wrote it

    def as_message_part(self) -> dict[str, Any]:
        return {"id": self.id, "type": "function", "function": {"name": self.name, "arguments": self.arguments}}


LlmEvent = TextDelta | ToolCall
# Chat completions' tool_choice: "auto", "none", "required" or {"type": "function", "function": {"name": ...}}.
ToolChoice = str | dict[str, Any] | None


@dataclass
class _PartialCall:
    id: str = ""
    name: str = ""
    arguments: list[str] = field(default_factory=list)


class ChunkReader:
    """Accumulates streamed chunks; tool calls arrive in pieces keyed by index."""

    def __init__(self) -> None:
        self._calls: dict[int, _PartialCall] = {}

    def read(self, chunk: dict[str, Any]) -> list[LlmEvent]:
        events: list[LlmEvent] = []
        for choice in chunk.get("choices") or []:
            delta = choice.get("delta") or {}
            if delta.get("content"):
                events.append(TextDelta(delta["content"]))
            for part in delta.get("tool_calls") or []:
                call = self._calls.setdefault(part.get("index", 0), _PartialCall())
                call.id = part.get("id") or call.id
                function = part.get("function") or {}
                call.name = function.get("name") or call.name
                if function.get("arguments"):
                    call.arguments.append(function["arguments"])
        return events

    def finish(self) -> list[LlmEvent]:
        calls = [
            ToolCall(id=c.id or f"call_{i}", name=c.name, arguments="".join(c.arguments) or "{}")
            for i, c in sorted(self._calls.items())
            if c.name
        ]
        self._calls.clear()
        return list(calls)


class LanguageModel(ABC):
    name: str = "llm"
    # Whether the model can be offered tools; one that cannot is never sent them.
    supports_tools: bool = True

    async def load(self) -> None:
        """Load models or open connections; called once, before the first request."""

    @abstractmethod
    def chunks(
        self, messages: list[Message], tools: list[dict[str, Any]] | None, tool_choice: ToolChoice = None
    ) -> AsyncGenerator[dict[str, Any], None]:
        """Stream raw OpenAI chat-completion chunks as dicts; `tool_choice` as chat completions take it."""

    async def stream(
        self, messages: list[Message], tools: list[dict[str, Any]] | None = None, tool_choice: ToolChoice = None
    ) -> AsyncGenerator[LlmEvent, None]:
        reader = ChunkReader()
        # aclosing: when the consumer stops early (barge-in), the backend stops now, not at GC.
        async with aclosing(self.chunks(messages, tools, tool_choice)) as chunks:
            async for chunk in chunks:
                for event in reader.read(chunk):
                    yield event
        for event in reader.finish():
            yield event

    async def end_of_turn_probability(self, messages: list[Message], partial_user_text: str) -> float | None:
        """P that the user's message ends right after `partial_user_text`, by the model's own
        reading of the conversation so far (`messages`, without that message).

        None where the backend cannot say (an OpenAI chat API gives log-probabilities only for
        tokens it generates, not for a given continuation); the turn policy then goes by the
        other signals.
        """
        return None

    async def aclose(self) -> None:
        pass
