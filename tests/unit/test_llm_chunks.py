"""OpenAI chat-completion chunks -> text deltas and whole tool calls."""

from agent_core.llm.base import ChunkReader, TextDelta, ToolCall


def delta(**fields):
    return {"choices": [{"index": 0, "delta": fields}]}


def test_text_deltas_pass_through_in_order():
    reader = ChunkReader()
    events = reader.read(delta(role="assistant")) + reader.read(delta(content="Hel")) + reader.read(delta(content="lo"))
    assert events == [TextDelta("Hel"), TextDelta("lo")]
    assert reader.finish() == []


def test_tool_call_arguments_streamed_in_pieces_are_joined():
    reader = ChunkReader()
    pieces = [
        delta(tool_calls=[{"index": 0, "id": "call_9", "type": "function", "function": {"name": "transfer_call", "arguments": ""}}]),
        delta(tool_calls=[{"index": 0, "function": {"arguments": '{"to": '}}]),
        delta(tool_calls=[{"index": 0, "function": {"arguments": '"+15551234567"}'}}]),
        delta(tool_calls=[{"index": 1, "id": "call_10", "function": {"name": "hang_up", "arguments": "{}"}}]),
    ]
    for piece in pieces:
        assert reader.read(piece) == []
    assert reader.finish() == [
        ToolCall("call_9", "transfer_call", '{"to": "+15551234567"}'),
        ToolCall("call_10", "hang_up", "{}"),
    ]


def test_empty_and_odd_chunks_are_harmless():
    reader = ChunkReader()
    assert reader.read({}) == []
    assert reader.read({"choices": []}) == []
    assert reader.read({"choices": [{"delta": None, "finish_reason": "stop"}]}) == []
    assert reader.finish() == []


def test_tool_call_message_shape_is_openai():
    call = ToolCall("c1", "hang_up", "{}")
    assert call.as_message_part() == {"id": "c1", "type": "function", "function": {"name": "hang_up", "arguments": "{}"}}
