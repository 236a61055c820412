"""The per-minute decrypt failure accounting: one warning when more than 5% of a minute's packets fail."""

from __future__ import annotations

import logging

from prometheus_client import REGISTRY

from bots.decrypt_health import DecryptHealth


class Clock:
    def __init__(self) -> None:
        self.now = 1000.0

    def __call__(self) -> float:
        return self.now


def packets(health: DecryptHealth, *, ok: int, failed: int, reason: str = "dave_failed") -> None:
    for _ in range(ok):
        health.opened()
    for _ in range(failed):
        health.failed(reason)


def warnings(caplog) -> list[str]:
    return [r.getMessage() for r in caplog.records if r.name == "bots.decrypt_health" and r.levelno == logging.WARNING]


def test_a_minute_above_five_percent_logs_one_warning_with_the_reasons(caplog):
    clock = Clock()
    health = DecryptHealth(7001, clock=clock)
    packets(health, ok=90, failed=6)  # 6 of 96: 6.25%
    packets(health, ok=0, failed=1, reason="unmapped_ssrc")  # 7 of 97
    assert warnings(caplog) == []  # nothing until the minute is over
    clock.now += 60.0
    health.opened()  # the first packet of the next minute closes the last one
    [line] = warnings(caplog)
    assert "guild 7001" in line and "7.2% of 97 packets" in line
    assert "'dave_failed': 6" in line and "'unmapped_ssrc': 1" in line
    assert health.warnings == 1
    assert health.ratio() == 7 / 97
    assert REGISTRY.get_sample_value("parley_discord_decrypt_failure_ratio", {"guild": "7001"}) == 7 / 97
    health.close()


def test_a_minute_at_or_below_five_percent_stays_quiet(caplog):
    clock = Clock()
    health = DecryptHealth(7002, clock=clock)
    packets(health, ok=95, failed=5)  # exactly 5%: a few failures around key changes are normal
    clock.now += 61.0
    health.opened()
    assert warnings(caplog) == [] and health.warnings == 0
    assert health.ratio() == 0.05
    health.close()


def test_each_bad_minute_warns_once_and_idle_time_is_one_empty_window(caplog):
    clock = Clock()
    health = DecryptHealth(7003, clock=clock)
    packets(health, ok=10, failed=10)
    clock.now += 30.0
    packets(health, ok=0, failed=10)  # same minute: still one warning to come
    clock.now += 30.0
    packets(health, ok=20, failed=0)  # next minute, healthy
    assert health.warnings == 1
    clock.now += 3600.0  # an idle hour
    health.opened()
    assert health.warnings == 1 and health.ratio() == 0.0  # the healthy minute, not an empty hour
    packets(health, ok=1, failed=1)
    clock.now += 60.0
    health.opened()
    assert health.warnings == 2 and len(warnings(caplog)) == 2
    health.close()


def test_failures_count_by_reason_on_metrics():
    def total(reason: str) -> float:
        return REGISTRY.get_sample_value("parley_discord_decrypt_failures_total", {"reason": reason}) or 0.0

    before = total("transport_failed")
    health = DecryptHealth(7004, clock=Clock())
    packets(health, ok=3, failed=2, reason="transport_failed")
    assert total("transport_failed") == before + 2
    assert health.ratio() == 2 / 5  # no whole minute yet: this minute's ratio
    health.close()
