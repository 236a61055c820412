"""Logging: who a line is about (call, guild), JSON lines for log pipelines, and secrets scrubbed.

`bind(call_sid=...)` puts fields in a context variable: every task started
after it (the Session's, the stream's) inherits them, so a log line from deep
inside the agent core still says which call it belongs to.
"""

from __future__ import annotations

import json
import logging
from collections.abc import Iterable
from contextvars import ContextVar, Token
from datetime import UTC, datetime
from typing import Any

_fields: ContextVar[dict[str, Any]] = ContextVar("parley_log_fields", default={})  # noqa: B039 (never mutated)


def bind(**fields: Any) -> Token[dict[str, Any]]:
    """Add fields (call_sid, guild_id, ...) to every log line from this task and the tasks it starts."""
    return _fields.set({**_fields.get(), **{k: v for k, v in fields.items() if v is not None}})


def unbind(token: Token[dict[str, Any]]) -> None:
    _fields.reset(token)


class ContextFilter(logging.Filter):
    def filter(self, record: logging.LogRecord) -> bool:
        record.parley_fields = _fields.get()
        return True


class SecretScrubber(logging.Filter):
    """Replaces known secret values wherever they would appear in a line (message or arguments)."""

    def __init__(self, secrets: Iterable[str | None]) -> None:
        super().__init__()
        self.secrets = sorted({s for s in secrets if s and len(s) >= 6}, key=len, reverse=True)

    def filter(self, record: logging.LogRecord) -> bool:
        if self.secrets:
            message = record.getMessage()
            for secret in self.secrets:
                message = message.replace(secret, "***")
            record.msg, record.args = message, None
        return True


class JsonFormatter(logging.Formatter):
    def format(self, record: logging.LogRecord) -> str:
        line: dict[str, Any] = {
            "ts": datetime.fromtimestamp(record.created, UTC).isoformat(timespec="milliseconds"),
            "level": record.levelname.lower(),
            "logger": record.name,
            "message": record.getMessage(),
            **getattr(record, "parley_fields", {}),
        }
        if record.exc_info:
            line["exception"] = self.formatException(record.exc_info)
        return json.dumps(line, default=str)


class TextFormatter(logging.Formatter):
    def format(self, record: logging.LogRecord) -> str:
        text = super().format(record)
        fields = getattr(record, "parley_fields", {})
        return text + "".join(f" {k}={v}" for k, v in fields.items()) if fields else text


def configure(*, level: int, json_lines: bool, secrets: Iterable[str | None] = ()) -> None:
    handler = logging.StreamHandler()
    handler.addFilter(ContextFilter())
    handler.addFilter(SecretScrubber(secrets))
    handler.setFormatter(JsonFormatter() if json_lines else TextFormatter("%(asctime)s %(levelname)s %(name)s: %(message)s"))
    root = logging.getLogger()
    root.handlers[:] = [handler]
    root.setLevel(level)
