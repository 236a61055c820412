"""The wire protocol between the agent core and a Parley speech service (docs/services.md).

Both ends import these models: the remote backends build requests with them and
the service apps validate what arrives with them, so a malformed message gets a
clear error instead of a stack trace.

STT WebSocket `/v1/stt/stream`, one utterance at a time per connection:
  client: {"type": "start", "id", "sample_rate", "language"}, then binary PCM (s16le mono),
          {"type": "pause", "id"}, {"type": "finish", "id"} or {"type": "cancel", "id"}
  server: {"type": "partial", "id", "text"}, {"type": "pause_probability", "id", "value"},
          {"type": "final", "id", "text"}, {"type": "error", "id", "message"}

TTS WebSocket `/v1/tts/stream`, one request at a time per connection:
  client: {"type": "speak", "id", "text", "voice", "sample_rate", "style"}, {"type": "cancel", "id"}
  server: {"type": "start", "id", "sample_rate"}, binary PCM chunks (s16le mono),
          {"type": "done", "id", "cancelled"}, {"type": "error", "id", "message"}
"""

from __future__ import annotations

import json
from typing import Annotated, Literal

from pydantic import BaseModel, ConfigDict, Field, TypeAdapter

from agent_core.tts.base import SpeechStyle

STT_PATH = "/v1/stt/stream"
TTS_PATH = "/v1/tts/stream"
MAX_TEXT_CHARS = 4096  # OpenAI's limit for /v1/audio/speech, used for every speak request


class _Message(BaseModel):
    model_config = ConfigDict(extra="forbid")
    id: str = Field(min_length=1, max_length=64)


class SttStart(_Message):
    type: Literal["start"]
    sample_rate: int = Field(16000, ge=8000, le=48000)
    language: str | None = None


class SttControl(_Message):
    type: Literal["pause", "finish", "cancel"]


class TtsSpeak(_Message):
    type: Literal["speak"]
    text: str = Field(min_length=1, max_length=MAX_TEXT_CHARS)
    voice: str | None = None
    # The rate the client wants; None: the engine's own (sent back in "start").
    sample_rate: int | None = Field(None, ge=8000, le=48000)
    style: SpeechStyle | None = None


class TtsCancel(_Message):
    type: Literal["cancel"]


SttRequest = TypeAdapter(Annotated[SttStart | SttControl, Field(discriminator="type")])
TtsRequest = TypeAdapter(Annotated[TtsSpeak | TtsCancel, Field(discriminator="type")])


def message_id(text: str) -> str | None:
    """The `id` of a message that failed validation, if it has a readable one, for the error reply."""
    try:
        value = json.loads(text).get("id")
    except (ValueError, AttributeError):
        return None
    return value if isinstance(value, str) else None
