"""Post-call job counts and cost on /metrics, read from the jobs table.

Jobs run in other processes (`parley worker`, a Modal GPU function), so a counter they
incremented would never reach the server's /metrics. The jobs table is the one place every runner
writes to: the server reads its totals when scraped. One grouped query at most every few
seconds, awaited by the scrape before the exposition is rendered, so scrapes neither hammer the
database nor block the event loop; `collect()` only reads the last snapshot.

The values are gauges, not counters: they are totals of what the database holds now, and fall
when records are deleted.
"""

from __future__ import annotations

import asyncio
import logging
import time
from collections.abc import Callable, Iterator

from prometheus_client.core import CounterMetricFamily, GaugeMetricFamily
from prometheus_client.registry import Collector

from agent_core.storage.jobs import JobStore, JobTotal

log = logging.getLogger(__name__)

# Scrapes within this many seconds of the last read are answered from it.
MAX_AGE_S = 5.0
# A database that does not answer in time leaves the last snapshot in place (its age shows it).
QUERY_TIMEOUT_S = 3.0


class JobTotalsCollector(Collector):
    def __init__(self, jobs: JobStore, *, max_age_s: float = MAX_AGE_S,
                 clock: Callable[[], float] = time.monotonic) -> None:
        self.jobs = jobs
        self.max_age_s = max_age_s
        self._clock = clock
        self._totals: list[JobTotal] = []
        self._read_at: float | None = None  # when the snapshot was read; None before the first
        self._tried_at: float | None = None  # when the database was last asked, answered or not
        self._failures = 0
        self._lock = asyncio.Lock()

    async def refresh(self) -> None:
        """Read the totals again if the snapshot is older than max_age_s; never raises."""
        async with self._lock:  # concurrent scrapes share one query
            now = self._clock()
            if self._tried_at is not None and now - self._tried_at < self.max_age_s:
                return
            self._tried_at = now
            try:
                async with asyncio.timeout(QUERY_TIMEOUT_S):
                    self._totals = await self.jobs.totals()
                self._read_at = self._clock()
            except Exception as exc:  # /metrics keeps answering while the database is away
                self._failures += 1
                log.warning("job totals for /metrics could not be read (%s: %s); serving the last ones",
                            type(exc).__name__, exc)

    def collect(self) -> Iterator[GaugeMetricFamily | CounterMetricFamily]:
        count = GaugeMetricFamily("parley_jobs", "Post-call jobs in the database, by kind and status",
                                  labels=["kind", "status"])
        usd = GaugeMetricFamily("parley_jobs_cost_usd", "Recorded cost of post-call jobs in the database (USD)",
                                labels=["kind"])
        cpu = GaugeMetricFamily("parley_jobs_cpu_seconds", "CPU seconds of post-call jobs in the database",
                                labels=["kind"])
        gpu = GaugeMetricFamily("parley_jobs_gpu_seconds", "GPU seconds of post-call jobs in the database",
                                labels=["kind"])
        by_kind: dict[str, list[float]] = {}
        for total in self._totals:
            count.add_metric([total.kind, total.status], total.count)
            sums = by_kind.setdefault(total.kind, [0.0, 0.0, 0.0])
            for index, value in enumerate((total.usd, total.cpu_seconds, total.gpu_seconds)):
                sums[index] += value
        for kind, (dollars, cpu_s, gpu_s) in sorted(by_kind.items()):
            usd.add_metric([kind], dollars)
            cpu.add_metric([kind], cpu_s)
            gpu.add_metric([kind], gpu_s)
        yield from (count, usd, cpu, gpu)
        age = GaugeMetricFamily("parley_jobs_snapshot_age_seconds",
                                "Seconds since the job totals were read from the database (NaN: never)")
        age.add_metric([], float("nan") if self._read_at is None else self._clock() - self._read_at)
        yield age
        failures = CounterMetricFamily("parley_jobs_snapshot_failures",
                                       "Reads of the job totals that failed (the last snapshot was served)")
        failures.add_metric([], self._failures)
        yield failures
