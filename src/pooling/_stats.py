"""`PoolStats`, the frozen snapshot returned by `Pool.stats()`, and the histogram it carries."""

from __future__ import annotations

import bisect
from dataclasses import dataclass

__all__ = ["FIRST_BOUND", "HISTOGRAM_BOUNDS", "Histogram", "PoolStats", "bucket_of"]

#: Upper bounds (seconds) of the wait- and hold-time histogram buckets; the last bucket is +inf.
HISTOGRAM_BOUNDS: tuple[float, ...] = (0.001, 0.005, 0.01, 0.05, 0.1, 0.5, 1.0, 5.0, float("inf"))


#: Where the first bucket ends; the hot paths test it inline before bisecting.
FIRST_BOUND = HISTOGRAM_BOUNDS[0]


def bucket_of(seconds: float) -> int:
    """The index of the bucket a duration falls in (most fall in the first: no bisect then)."""
    return 0 if seconds <= FIRST_BOUND else bisect.bisect_left(HISTOGRAM_BOUNDS, seconds)


class Histogram:
    """Count, sum, max and bucket counts of durations. Not thread-safe: guarded by the pool's lock."""

    __slots__ = ("buckets", "count", "max", "sum")

    def __init__(self) -> None:
        self.count = 0
        self.sum = 0.0
        self.max = 0.0
        self.buckets = [0] * len(HISTOGRAM_BOUNDS)

    def observe(self, seconds: float) -> None:
        self.count += 1
        self.sum += seconds
        if seconds > self.max:  # noqa: PLR1730 - cheaper than max() on the hot paths
            self.max = seconds
        self.buckets[bucket_of(seconds)] += 1

    def merge(self, buckets: list[int], total: float, maximum: float) -> None:
        self.count += sum(buckets)
        self.sum += total
        self.max = max(self.max, maximum)
        for i, n in enumerate(buckets):
            self.buckets[i] += n

    def snapshot(self) -> tuple[tuple[float, int], ...]:
        return tuple(zip(HISTOGRAM_BOUNDS, self.buckets, strict=True))


@dataclass(frozen=True)
class PoolStats:
    """A consistent snapshot of a pool's state and counters, taken under the pool's lock.

    Durations are in seconds. Histograms are tuples of ``(upper_bound, count)`` pairs, one per
    bucket (not cumulative), the last bound being ``inf``.
    """

    name: str
    #: Most sessions that may be alive at once.
    pool_size: int
    #: Sessions alive now: being created, idle, leased or being destroyed.
    size: int
    #: Sessions idle in the pool, ready to be handed out.
    idle: int
    #: Sessions leased to callers (including ones being handed to a waiter).
    in_use: int
    #: Callers waiting for a session.
    waiting: int
    #: Sessions being created by a factory call right now.
    creating: int
    #: Factory calls that returned a session, since the pool was made.
    created: int
    #: Sessions destroyed (destroyer returned or raised).
    destroyed: int
    #: Factory calls that raised.
    create_errors: int
    #: `check` calls that raised (the session was destroyed).
    check_failures: int
    #: `get_session` calls that ended in `PoolTimeout`.
    timeouts: int
    #: `get_session` calls rejected by `max_waiting` (`PoolExhausted`).
    rejected: int
    #: Leases handed out.
    leases: int
    #: Leases held longer than `leak_timeout`.
    leaks: int
    #: `get_session` calls that had to wait, and how long they waited (served or not).
    wait_count: int
    wait_time_total: float
    wait_time_max: float
    wait_histogram: tuple[tuple[float, int], ...]
    #: Leases returned, and how long they were held.
    hold_count: int
    hold_time_total: float
    hold_time_max: float
    hold_histogram: tuple[tuple[float, int], ...]

    @property
    def wait_time_mean(self) -> float:
        """Mean wait of the calls that waited (0.0 when none did)."""
        return self.wait_time_total / self.wait_count if self.wait_count else 0.0

    @property
    def hold_time_mean(self) -> float:
        """Mean time a lease was held (0.0 when none was returned)."""
        return self.hold_time_total / self.hold_count if self.hold_count else 0.0
