"""A short summary of a finished conversation, written by the LLM after it ended."""

from __future__ import annotations

from agent_core.llm.base import LanguageModel
from agent_core.storage import TurnRecord

SUMMARY_PROMPT = "Summarize this conversation in one short sentence."


async def summarize(llm: LanguageModel, turns: list[TurnRecord]) -> str:
    lines = [f"{t.speaker}: {t.text}" for t in turns if t.role in ("user", "assistant") and t.text]
    if not lines:
        return "Nothing was said."
    messages = [
        {"role": "system", "content": SUMMARY_PROMPT},
        {"role": "user", "content": "\n".join(lines[-40:])},
    ]
    text = "".join([event.text async for event in llm.stream(messages) if hasattr(event, "text")])
    return text.strip() or "No summary."
