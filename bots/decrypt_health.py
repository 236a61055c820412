"""How many of the voice packets others send us fail to decrypt, per minute.

A live server shows trouble here first (a key change gone wrong, a stale
SSRC map, a davey build that cannot talk to real clients), so the counts go
to /metrics and /status, and a minute in which more than 5% of packets fail
logs one warning line.
"""

from __future__ import annotations

import logging
import time
from collections import Counter
from collections.abc import Callable

from prometheus_client import Counter as MetricCounter
from prometheus_client import Gauge

log = logging.getLogger(__name__)

DECRYPT_FAILURES = MetricCounter(
    "parley_discord_decrypt_failures_total", "Discord voice packets from others that could not be decrypted", ["reason"]
)
DECRYPT_FAILURE_RATIO = Gauge(
    "parley_discord_decrypt_failure_ratio", "Share of Discord voice packets that failed to decrypt in the last minute",
    ["guild"],
)
# What counts as a failure: a packet someone sent us whose audio we could not open.
FAILURE_REASONS = ("transport_failed", "dave_failed", "unmapped_ssrc", "unencrypted")
WINDOW_S = 60.0
WARN_RATIO = 0.05  # a few failures around key changes are normal; a twentieth of a minute is not


class DecryptHealth:
    def __init__(self, guild_id: int, *, clock: Callable[[], float] = time.monotonic) -> None:
        self.guild = str(guild_id)
        self._clock = clock
        self._window_start = clock()
        self._window: Counter[str] = Counter()  # "ok" plus each failure reason, this minute
        self.last_minute_ratio: float | None = None  # None until a whole minute with packets has passed
        self.warnings = 0

    def opened(self) -> None:
        self._roll()
        self._window["ok"] += 1

    def failed(self, reason: str) -> None:
        self._roll()
        self._window[reason] += 1
        DECRYPT_FAILURES.labels(reason).inc()

    def ratio(self) -> float | None:
        """The last whole minute's failure ratio, or this minute's while none has finished."""
        self._roll()
        if self.last_minute_ratio is not None:
            return self.last_minute_ratio
        return _ratio(self._window)

    def _roll(self) -> None:
        now = self._clock()
        if now - self._window_start < WINDOW_S:
            return
        ratio = _ratio(self._window)
        if ratio is not None:
            self.last_minute_ratio = ratio
            DECRYPT_FAILURE_RATIO.labels(self.guild).set(ratio)
            if ratio > WARN_RATIO:
                self.warnings += 1
                failures = {r: n for r, n in self._window.items() if r != "ok"}
                log.warning(
                    "Discord voice in guild %s: %.1f%% of %d packets failed to decrypt in the last minute %s",
                    self.guild, 100 * ratio, sum(self._window.values()), failures,
                )
        self._window.clear()
        # whole minutes only: an idle hour is one empty window, not sixty
        self._window_start += WINDOW_S * ((now - self._window_start) // WINDOW_S)

    def close(self) -> None:
        try:
            DECRYPT_FAILURE_RATIO.remove(self.guild)
        except KeyError:  # no whole minute was measured
            pass


def _ratio(window: Counter[str]) -> float | None:
    total = sum(window.values())
    return None if total == 0 else (total - window["ok"]) / total

