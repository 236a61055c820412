"""The LLM side of a reply: stream tokens into sentences, run tool calls in between.

The model's text is split into speakable sentences as it streams, so the TTS
can start on sentence one while the model writes sentence two. Tool calls are
run and their results fed back for up to `max_tool_rounds` rounds.
"""

from __future__ import annotations

import asyncio
from contextlib import aclosing

from agent_core.errors import provider_stage
from agent_core.events import TurnEvents
from agent_core.llm.base import LanguageModel, Message, TextDelta, ToolCall
from agent_core.playback import SpokenReply
from agent_core.text import SentenceSplitter
from agent_core.tools import ToolRegistry


class Thinker:
    def __init__(
        self,
        llm: LanguageModel,
        tools: ToolRegistry,
        *,
        first_token_timeout_s: float,
        token_gap_timeout_s: float,
        max_tool_rounds: int,
        language: str = "en",
    ) -> None:
        self.llm = llm
        self.tools = tools
        self.first_token_timeout_s = first_token_timeout_s
        self.token_gap_timeout_s = token_gap_timeout_s
        self.max_tool_rounds = max_tool_rounds
        # The reply's language: how numbers, dates and abbreviations are spoken.
        self.language = language

    async def think(
        self,
        reply: SpokenReply,
        messages: list[Message],
        history: list[Message],
        sentences: asyncio.Queue[str | None],
        events: TurnEvents,
    ) -> None:
        """Write the reply into `sentences`; tool exchanges are appended to `history` too."""
        splitter = SentenceSplitter(language=self.language)
        schemas = self.tools.schemas() if self.tools else None
        loop = asyncio.get_running_loop()
        for _ in range(self.max_tool_rounds + 1):
            calls: list[ToolCall] = []
            round_text = ""
            with provider_stage("llm", "timed out waiting for tokens"):
                stream = self.llm.stream(messages, schemas)
                async with asyncio.timeout(self.first_token_timeout_s) as deadline, aclosing(stream):
                    async for event in stream:
                        deadline.reschedule(loop.time() + self.token_gap_timeout_s)
                        if not reply.text and not calls and not round_text:
                            events.llm_first_token()
                        if isinstance(event, TextDelta):
                            round_text += event.text
                            reply.text += event.text
                            for sentence in splitter.push(event.text):
                                sentences.put_nowait(sentence)
                        else:
                            calls.append(event)
            if not calls:
                break
            await self._run_tools(messages, history, round_text, calls, events)
        for sentence in splitter.flush():
            sentences.put_nowait(sentence)

    async def _run_tools(
        self, messages: list[Message], history: list[Message], text: str, calls: list[ToolCall], events: TurnEvents
    ) -> None:
        request: Message = {"role": "assistant", "content": text or None, "tool_calls": [c.as_message_part() for c in calls]}
        messages.append(request)
        history.append(request)
        for call in calls:
            result = await self.tools.call(call)
            events.tool_invoked(call.name, call.arguments, result)
            answer: Message = {"role": "tool", "tool_call_id": call.id, "content": result}
            messages.append(answer)
            history.append(answer)
