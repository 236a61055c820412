"""A Realtime conversation as the record's session events, once the connection is over.

The client drives a Realtime conversation: it may truncate a reply to what its listener heard, or
delete items, after the response is done. So its record is written from the items as they stand
when the socket closes, in conversation order: what the user said, what the agent said (and
whether it was cut short), and each tool call with its output.
"""

from __future__ import annotations

import time
from collections.abc import Iterator

from agent_core import events as ev
from agent_core.metrics import TurnLatency
from realtime.conversation import Conversation, part_text

USER = "user"
# The response latencies the record keeps, by TurnLatency's names.
_LATENCIES = ("llm_first_token", "tts_first_audio", "voice_to_voice")


def record_events(conversation: Conversation) -> Iterator[ev.SessionEvent]:
    now, turn = time.monotonic(), 0
    outputs = {i.wire.get("call_id"): str(i.wire.get("output", "")) for i in conversation.items
               if i.wire["type"] == "function_call_output"}
    for item in conversation.items:
        wire = item.wire
        if wire["type"] == "message":
            text = " ".join(t for part in wire.get("content") or [] if (t := part_text(part))).strip()
            if not text:
                continue
            if wire["role"] == "assistant":
                latency = TurnLatency(turn, **{k: float(v) for k, v in item.latency_ms.items() if k in _LATENCIES})
                yield ev.ReplyFinished(t=now, turn=turn, text=text, heard_text=text,
                                       interrupted=wire.get("status") == "incomplete", latency=latency)
            elif wire["role"] == "user":
                turn += 1
                yield ev.TranscriptFinal(t=now, turn=turn, speaker=USER, text=text)
        elif wire["type"] == "function_call":
            yield ev.ToolInvoked(t=now, turn=turn, name=str(wire.get("name")), arguments=str(wire.get("arguments")),
                                 result=outputs.get(wire.get("call_id"), ""))
