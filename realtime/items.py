"""Conversation items a client creates, and the transcription of a user's audio item.

Accepted: messages (user `input_text` / `input_audio`, assistant and system text), and
`function_call` / `function_call_output` items (the client's answer to a tool call).
"""

from __future__ import annotations

import base64
import binascii
import logging
from collections.abc import Awaitable, Callable
from typing import Any

from agent_core.audio.frames import AudioFrame
from agent_core.audio.resample import resample
from agent_core.stt.base import STT_SAMPLE_RATE, SttStream
from realtime.audio_formats import AudioFormat
from realtime.conversation import Item
from realtime.protocol import ProtocolError, new_id

log = logging.getLogger(__name__)
_TEXT_PARTS = {"user": ("input_text", "input_audio"), "system": ("input_text",),
               "assistant": ("output_text", "text", "output_audio", "audio")}


def parse_item(raw: Any, input_format: AudioFormat) -> tuple[Item, AudioFrame | None]:
    """A client's item -> (the stored item, its audio at 16 kHz to transcribe, if any)."""
    if not isinstance(raw, dict):
        raise ProtocolError("invalid_value", "item must be an object", param="item")
    kind = raw.get("type")
    wire: dict[str, Any] = {"id": raw.get("id") or new_id("item"), "object": "realtime.item", "type": kind,
                            "status": "completed"}
    if kind == "function_call_output":
        if not isinstance(raw.get("call_id"), str) or not isinstance(raw.get("output"), str):
            raise ProtocolError("invalid_value", "function_call_output needs call_id and output strings", param="item")
        return Item({**wire, "call_id": raw["call_id"], "output": raw["output"]}), None
    if kind == "function_call":
        if not raw.get("name") or not raw.get("call_id"):
            raise ProtocolError("invalid_value", "function_call needs name and call_id", param="item")
        return Item({**wire, "name": raw["name"], "call_id": raw["call_id"],
                     "arguments": raw.get("arguments") or "{}"}), None
    role = raw.get("role")
    if kind != "message" or role not in _TEXT_PARTS:
        raise ProtocolError("invalid_value", "item must be a message (user, assistant, system), function_call "
                            "or function_call_output", param="item.type")
    content, audio = [], None
    for index, part in enumerate(raw.get("content") or []):
        part_type = part.get("type") if isinstance(part, dict) else None
        if part_type not in _TEXT_PARTS[role]:
            raise ProtocolError("invalid_value", f"a {role} message cannot hold {part_type!r} content",
                                param=f"item.content[{index}].type")
        if part_type == "input_audio":
            if audio is not None:
                raise ProtocolError("invalid_value", "one input_audio part per item", param=f"item.content[{index}]")
            audio = _decode_audio(part.get("audio"), input_format, f"item.content[{index}].audio")
            content.append({"type": "input_audio", "transcript": None})
        elif "audio" in part_type:
            content.append({"type": "output_audio", "transcript": str(part.get("transcript") or "")})
        else:
            text_type = "output_text" if role == "assistant" else "input_text"
            content.append({"type": text_type, "text": str(part.get("text") or "")})
    if not content:
        raise ProtocolError("invalid_value", "a message needs at least one content part", param="item.content")
    return Item({**wire, "role": role, "content": content}), audio


def _decode_audio(data: Any, input_format: AudioFormat, param: str) -> AudioFrame:
    try:
        payload = base64.b64decode(data or "", validate=True)
    except (binascii.Error, TypeError, ValueError):
        raise ProtocolError("invalid_audio", "audio must be base64", param=param) from None
    if not payload:
        raise ProtocolError("invalid_audio", "input_audio needs audio", param=param)
    return resample(input_format.decode(payload), STT_SAMPLE_RATE)


async def transcribe_item_audio(item: Item, utterance: SttStream | None,
                                send: Callable[[dict[str, Any]], Awaitable[None]], *, seconds: float,
                                report: bool) -> None:
    """Fill the item's `transcript`; with transcription on, tell the client as OpenAI does."""
    where = {"item_id": item.id, "content_index": 0}
    try:
        if utterance is None:
            raise RuntimeError("the STT stream failed to open at speech onset")
        text = (await utterance.finish()).strip()
    except Exception as error:
        log.warning("transcription of %s failed: %s", item.id, error)
        if report:
            await send({**where, "type": "conversation.item.input_audio_transcription.failed",
                        "error": {"type": "server_error", "code": "transcription_failed", "message": str(error)}})
        return
    item.wire["content"][0]["transcript"] = text
    if report:
        # Parley's STT backends give the whole utterance at once: one delta, then completed.
        await send({**where, "type": "conversation.item.input_audio_transcription.delta", "delta": text})
        await send({**where, "type": "conversation.item.input_audio_transcription.completed", "transcript": text,
                    "usage": {"type": "duration", "seconds": round(seconds, 3)}})
