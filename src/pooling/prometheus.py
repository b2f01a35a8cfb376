"""Prometheus metrics for pools: ``pip install "pooling[prometheus]"``.

    from prometheus_client import start_http_server
    from pooling.prometheus import PoolCollector

    collector = PoolCollector(pool)          # registers itself with the default registry
    start_http_server(8000)

Every figure of `Pool.stats` is exported, labelled with the pool's name: gauges for the live counts
(``pooling_size``, ``pooling_idle``, ``pooling_in_use``, ``pooling_waiting``, ...), counters for
the totals (``pooling_created_total``, ``pooling_timeouts_total``, ...) and histograms for the wait
and hold times (``pooling_wait_seconds``, ``pooling_hold_seconds``). Metrics are read from one
`stats()` snapshot per pool at scrape time: nothing is added to the checkout path.
"""

from __future__ import annotations

import math
import threading
import weakref
from collections.abc import Iterable, Iterator
from typing import Any

from prometheus_client.core import (
    REGISTRY,
    CounterMetricFamily,
    GaugeMetricFamily,
    HistogramMetricFamily,
)
from prometheus_client.registry import Collector, CollectorRegistry

from ._pool import Pool
from ._stats import PoolStats

__all__ = ["PoolCollector"]

_GAUGES = (
    ("pool_size", "Most sessions the pool may have alive at once."),
    ("size", "Sessions alive: being created, idle, leased or being destroyed."),
    ("idle", "Idle sessions, ready to be handed out."),
    ("in_use", "Sessions leased to callers."),
    ("waiting", "Callers waiting for a session."),
    ("creating", "Sessions being created."),
)
_COUNTERS = (
    ("created", "Sessions created."),
    ("destroyed", "Sessions destroyed."),
    ("create_errors", "Factory calls that raised."),
    ("check_failures", "Sessions that failed their check."),
    ("timeouts", "get_session calls that ran out of time."),
    ("rejected", "get_session calls rejected by max_waiting."),
    ("leases", "Leases handed out."),
    ("leaks", "Leases held longer than leak_timeout."),
)


def _buckets(histogram: tuple[tuple[float, int], ...]) -> list[tuple[str, float]]:
    """Per-bucket counts to Prometheus' cumulative ``le`` buckets."""
    total = 0
    out: list[tuple[str, float]] = []
    for bound, count in histogram:
        total += count
        out.append(("+Inf" if math.isinf(bound) else repr(float(bound)), float(total)))
    return out


class PoolCollector(Collector):
    """A Prometheus collector for one or more pools (held weakly: a collected pool drops out).

    Args:
        pools: pools to export; more can be added with `add`.
        registry: where to register, the default registry by default; ``None`` not to register.
        prefix: metric name prefix.
    """

    def __init__(
        self,
        *pools: Pool[Any],
        registry: CollectorRegistry | None = REGISTRY,
        prefix: str = "pooling",
    ) -> None:
        self._prefix = prefix
        self._lock = threading.Lock()
        self._pools: weakref.WeakSet[Pool[Any]] = weakref.WeakSet()
        for pool in pools:
            self.add(pool)
        if registry is not None:
            registry.register(self)

    def add(self, pool: Pool[Any]) -> None:
        """Export this pool too."""
        if not isinstance(pool, Pool):
            raise TypeError(f"pool must be a pooling.Pool, got {pool!r} ({type(pool).__name__})")
        with self._lock:
            self._pools.add(pool)

    def remove(self, pool: Pool[Any]) -> None:
        """Stop exporting this pool."""
        with self._lock:
            self._pools.discard(pool)

    def describe(self) -> Iterable[Any]:
        return []  # metrics are named dynamically per pool; the registry then skips the check

    def collect(self) -> Iterator[Any]:
        with self._lock:
            pools = list(self._pools)
        snapshots: list[PoolStats] = [pool.stats() for pool in pools]
        p = self._prefix
        for field, doc in _GAUGES:
            gauge = GaugeMetricFamily(f"{p}_{field}", doc, labels=["pool"])
            for s in snapshots:
                gauge.add_metric([s.name], float(getattr(s, field)))
            yield gauge
        for field, doc in _COUNTERS:
            counter = CounterMetricFamily(f"{p}_{field}", doc, labels=["pool"])
            for s in snapshots:
                counter.add_metric([s.name], float(getattr(s, field)))
            yield counter
        wait = HistogramMetricFamily(
            f"{p}_wait_seconds", "Time get_session calls that had to wait waited.", labels=["pool"]
        )
        hold = HistogramMetricFamily(f"{p}_hold_seconds", "Time leases were held.", labels=["pool"])
        for s in snapshots:
            wait.add_metric([s.name], _buckets(s.wait_histogram), s.wait_time_total)
            hold.add_metric([s.name], _buckets(s.hold_histogram), s.hold_time_total)
        yield wait
        yield hold
