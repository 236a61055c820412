"""Realtime items -> the LLM's history; truncation keeps only what was heard."""

from __future__ import annotations

import pytest

from agent_core.playback import Segment
from realtime.conversation import Conversation, Item
from realtime.protocol import ProtocolError


def spoken(item_id: str, sentences: list[tuple[str, float]]) -> Item:
    """An assistant item whose sentences produced these seconds of 24 kHz audio."""
    segments = [Segment(text, 24000, produced_samples=int(s * 24000), played_samples=int(s * 24000), complete=True)
                for text, s in sentences]
    text = " ".join(t for t, _ in sentences)
    return Item({"id": item_id, "type": "message", "role": "assistant", "status": "completed",
                 "content": [{"type": "output_audio", "transcript": text}]}, sentences=segments)


def test_truncation_keeps_whole_sentences_heard_and_the_heard_share_of_the_cut_one():
    conversation = Conversation()
    conversation.add(spoken("item_a", [("One two three.", 1.5), ("Four five six seven.", 2.0)]))
    conversation.truncate("item_a", 0, 2500)  # all of the first sentence, half of the second
    assert conversation.messages() == [{"role": "assistant", "content": "One two three. Four five"}]
    with pytest.raises(ProtocolError) as refused:
        conversation.truncate("item_a", 0, 3600)  # longer than the audio
    assert refused.value.param == "audio_end_ms"


def test_parallel_function_calls_share_one_assistant_message_and_items_can_be_placed():
    conversation = Conversation()
    conversation.add(Item({"id": "u", "type": "message", "role": "user",
                           "content": [{"type": "input_audio", "transcript": "Weather and time?"}]}))
    for call in ("c1", "c2"):
        conversation.add(Item({"id": f"f{call}", "type": "function_call", "call_id": call, "name": call,
                               "arguments": "{}"}))
    conversation.add(Item({"id": "o1", "type": "function_call_output", "call_id": "c1", "output": "sunny"}))
    conversation.add(Item({"id": "sys", "type": "message", "role": "system",
                           "content": [{"type": "input_text", "text": "Be brief."}]}), previous_item_id="root")
    messages = conversation.messages()
    assert messages[0] == {"role": "system", "content": "Be brief."}
    assert messages[1] == {"role": "user", "content": "Weather and time?"}
    assert [c["id"] for c in messages[2]["tool_calls"]] == ["c1", "c2"]
    assert messages[3] == {"role": "tool", "tool_call_id": "c1", "content": "sunny"}
    with pytest.raises(ProtocolError):
        conversation.add(Item({"id": "u", "type": "message", "role": "user", "content": []}))
