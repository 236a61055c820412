"""Wire-level pieces of the OpenAI Realtime API (GA): ids, errors, and the beta names.

Client events may use the beta names (the beta and GA protocols share most client event names;
the differences are listed here). A client that connects with `OpenAI-Beta: realtime=v1` gets
server events under their beta names too; everyone else gets GA names.
"""

from __future__ import annotations

import uuid
from typing import Any


class ProtocolError(Exception):
    """A client event Parley refuses: sent back as an `error` event; the connection stays open."""

    def __init__(self, code: str, message: str, *, param: str | None = None,
                 error_type: str = "invalid_request_error") -> None:
        super().__init__(message)
        self.code, self.message, self.param, self.error_type = code, message, param, error_type


def new_id(prefix: str) -> str:
    """Ids shaped like OpenAI's (`event_...`, `item_...`, `resp_...`, `call_...`)."""
    return f"{prefix}_{uuid.uuid4().hex[:20]}"


def error_event(error: ProtocolError, client_event_id: str | None) -> dict[str, Any]:
    return {"type": "error", "error": {
        "type": error.error_type, "code": error.code, "message": error.message, "param": error.param,
        "event_id": client_event_id,  # the client event that caused it, as OpenAI reports it
    }}


# Beta client event name -> GA name (only the ones that differ).
CLIENT_ALIASES: dict[str, str] = {
    "transcription_session.update": "session.update",
}

# GA server event name -> beta name, for clients that asked for the beta protocol.
BETA_SERVER_NAMES: dict[str, str] = {
    "conversation.item.added": "conversation.item.created",
    "response.output_audio.delta": "response.audio.delta",
    "response.output_audio.done": "response.audio.done",
    "response.output_audio_transcript.delta": "response.audio_transcript.delta",
    "response.output_audio_transcript.done": "response.audio_transcript.done",
    "response.output_text.delta": "response.text.delta",
    "response.output_text.done": "response.text.done",
}
# GA server events the beta protocol does not have.
BETA_SILENT = {"conversation.item.done"}


def wants_beta(headers: Any) -> bool:
    return "realtime=v1" in (headers.get("openai-beta") or "")
