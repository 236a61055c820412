"""The conversation as Realtime items, and the chat history the LLM sees from them.

Items are kept in their wire shape, in order. A spoken assistant item also keeps its sentences
with how much audio each produced, so `conversation.item.truncate` can keep in the history only
the words the listener heard before `audio_end_ms`, counted the way the Session counts them.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Any

from agent_core.llm.base import Message
from agent_core.playback import Segment
from realtime.protocol import ProtocolError, new_id


@dataclass
class Item:
    wire: dict[str, Any]  # the item as the client sees it (GA shape)
    sentences: list[Segment] = field(default_factory=list)  # spoken assistant items only
    output_rate: int = 24000  # the rate `sentences` count samples at
    latency_ms: dict[str, int] = field(default_factory=dict)  # an assistant item's response latencies

    @property
    def id(self) -> str:
        return self.wire["id"]

    @property
    def audio_ms(self) -> int:
        return sum(s.produced_samples for s in self.sentences) * 1000 // self.output_rate


class Conversation:
    def __init__(self) -> None:
        self.id = new_id("conv")
        self.items: list[Item] = []

    def get(self, item_id: object, param: str = "item_id") -> Item:
        """The item a client named (anything a client sent: an unknown id is its error)."""
        for item in self.items:
            if item.id == item_id:
                return item
        raise ProtocolError("item_not_found", f"no conversation item {item_id!r}", param=param)

    def add(self, item: Item, previous_item_id: str | None = None) -> str | None:
        """Insert after `previous_item_id` (or at the end); returns the id of the item before it."""
        if any(i.id == item.id for i in self.items):
            raise ProtocolError("duplicate_item_id", f"an item {item.id!r} already exists", param="item.id")
        if previous_item_id == "root":
            self.items.insert(0, item)
            return None
        if previous_item_id is not None:
            index = self.items.index(self.get(previous_item_id, "previous_item_id"))
            self.items.insert(index + 1, item)
            return previous_item_id
        before = self.items[-1].id if self.items else None
        self.items.append(item)
        return before

    def delete(self, item_id: object) -> None:
        self.items.remove(self.get(item_id))

    def truncate(self, item_id: object, content_index: object, audio_end_ms: object) -> None:
        """The listener heard `item_id` up to `audio_end_ms`: drop the rest of its text and audio."""
        item = self.get(item_id)
        if item.wire.get("role") != "assistant" or not item.sentences:
            raise ProtocolError("invalid_value", "only spoken assistant items can be truncated", param="item_id")
        if item.wire.get("status") == "in_progress":
            # Its audio is still being made: what was heard is only known once it stops.
            raise ProtocolError("invalid_value", "the item is still being spoken: cancel its response first",
                                param="item_id")
        if content_index != 0:
            raise ProtocolError("invalid_value", "content_index must be 0", param="content_index")
        if not isinstance(audio_end_ms, int) or not 0 <= audio_end_ms <= item.audio_ms:
            raise ProtocolError("invalid_value", f"audio_end_ms must be 0-{item.audio_ms}, the item's audio length",
                                param="audio_end_ms")
        heard_samples = audio_end_ms * item.output_rate // 1000
        for sentence in item.sentences:
            sentence.played_samples = min(sentence.produced_samples, heard_samples)
            heard_samples -= sentence.played_samples
        heard = " ".join(words for s in item.sentences if (words := s.heard_words()))
        item.wire["content"][0]["transcript"] = heard
        item.wire["status"] = "incomplete"

    def messages(self) -> list[Message]:
        """Chat-completions history, oldest first."""
        messages: list[Message] = []
        for item in self.items:
            wire = item.wire
            if wire["type"] == "message":
                text = " ".join(t for part in wire.get("content") or [] if (t := part_text(part)))
                if text.strip():
                    role = wire["role"] if wire["role"] in ("user", "assistant", "system") else "user"
                    messages.append({"role": role, "content": text})
            elif wire["type"] == "function_call":
                call = {"id": wire["call_id"], "type": "function",
                        "function": {"name": wire["name"], "arguments": wire.get("arguments") or "{}"}}
                last = messages[-1] if messages else None
                if last is not None and last["role"] == "assistant" and "tool_calls" in last:
                    last["tool_calls"].append(call)  # parallel calls share one assistant message
                else:
                    messages.append({"role": "assistant", "content": None, "tool_calls": [call]})
            elif wire["type"] == "function_call_output":
                messages.append({"role": "tool", "tool_call_id": wire["call_id"], "content": wire.get("output", "")})
        return messages


def part_text(part: dict[str, Any]) -> str | None:
    if part.get("type") in ("input_text", "output_text", "text"):
        return part.get("text")
    return part.get("transcript")  # input_audio / output_audio: what was said, as text
