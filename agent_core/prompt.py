"""What the model sees of a conversation: the system prompt and a window of recent messages."""

from __future__ import annotations

from agent_core.llm.base import Message

# History kept beyond the window, as a multiple of it: older messages would only cost memory
# (a Discord channel may talk for days).
KEPT_WINDOWS = 4


def prompt_messages(system_prompt: str, history: list[Message], window: int) -> list[Message]:
    """The prompt for the next reply; trims `history` in place to KEPT_WINDOWS windows."""
    excess = len(history) - KEPT_WINDOWS * window
    if excess > 0:
        del history[:excess]
    recent = history[-window:]
    while recent and recent[0]["role"] == "tool":  # never start on an orphaned tool result
        recent = recent[1:]
    return [{"role": "system", "content": system_prompt}, *recent]
