"""Admission control: how many conversations this process carries at once, and a polite "busy" past it.

Beyond what the machine can carry, every caller would hear silence (with the embedded models on
a small CPU, three concurrent calls already left every reply late). So each channel asks for a
place before a conversation starts and gives it back at its end; without one, the phone says a
short busy message and hangs up, Discord's /join says the bot is busy, and a Realtime client gets
an error and a close. A place can be held for a short while before its conversation starts (a
phone call's webhook comes seconds before its media stream).
"""

from __future__ import annotations

import logging
import os
import time
from collections.abc import Callable

from prometheus_client import Counter, Gauge

log = logging.getLogger(__name__)

REFUSED = Counter("parley_admission_refused_total", "Conversations refused: the process was at capacity", ["channel"])
IN_USE = Gauge("parley_admission_in_use", "Conversations (and held places) this process carries now")

# Remote STT/LLM/TTS leave the process only audio plumbing: about this many calls per core
# stay real time (docs/benchmarks.md, "Phone: concurrent calls on one process").
REMOTE_CONVERSATIONS_PER_CORE = 40


def default_limit(embedded_models: bool, cores: int | None = None) -> int:
    """The rule: embedded models share the CPU with every call, so a few: one per two cores
    (bench/admission.py on 2 cores: a second concurrent call pushed voice-to-voice p99 to 1.8x
    the single call's); with remote model services, many (40 per core)."""
    cores = cores or os.cpu_count() or 1
    return max(1, cores // 2) if embedded_models else REMOTE_CONVERSATIONS_PER_CORE * cores


class Admission:
    def __init__(self, limit: int, *, clock: Callable[[], float] = time.monotonic) -> None:
        if limit < 1:
            raise ValueError("the conversation limit must be at least 1")
        self.limit = limit
        self._clock = clock
        self._active: set[str] = set()
        self._held: dict[str, float] = {}  # key -> until when

    @property
    def in_use(self) -> int:
        self._forget_expired()
        return len(self._active) + len(self._held)

    def _forget_expired(self) -> None:
        now = self._clock()
        self._held = {key: until for key, until in self._held.items() if until > now}

    def hold(self, key: str, channel: str, seconds: float) -> bool:
        """Reserve a place for a conversation that starts soon (False: at capacity, refused)."""
        if key in self._held or key in self._active:
            return True
        if self.in_use >= self.limit:
            return self._refuse(channel)
        self._held[key] = self._clock() + seconds
        IN_USE.set(self.in_use)
        return True

    def admit(self, key: str, channel: str) -> bool:
        """Start a conversation in its held place, or in a free one (False: at capacity, refused)."""
        self._forget_expired()
        if self._held.pop(key, None) is None and key not in self._active and self.in_use >= self.limit:
            return self._refuse(channel)
        self._active.add(key)
        IN_USE.set(self.in_use)
        return True

    def release(self, key: str) -> None:
        self._active.discard(key)
        self._held.pop(key, None)
        IN_USE.set(self.in_use)

    def _refuse(self, channel: str) -> bool:
        REFUSED.labels(channel).inc()
        log.warning("at capacity (%d conversations): a %s conversation is refused", self.limit, channel)
        return False
