"""A hypothesis state machine: the pool against an exact model (idle sessions LIFO, as documented).

Single-threaded, so every step ends at quiescence and the bookkeeping identities must hold.
"""

from __future__ import annotations

from typing import Any

import pytest
from conftest import Factory, Session
from hypothesis import HealthCheck, settings
from hypothesis import strategies as st
from hypothesis.stateful import RuleBasedStateMachine, initialize, invariant, precondition, rule

from pooling import Lease, Pool, PoolClosed, PoolTimeout


class PoolMachine(RuleBasedStateMachine):
    def __init__(self) -> None:
        super().__init__()
        self.factory = Factory()
        self.pool: Pool[Session] | None = None
        self.pool_size = 0
        self.max_usage: int | None = None
        # The model.
        self.held: list[tuple[Lease[Session], Session, int]] = []  # (lease, session, generation)
        self.idle: list[Session] = []  # LIFO: the last one is handed out next
        self.usage: dict[int, int] = {}  # session number -> leases so far
        self.bad_reset: set[int] = set()  # sessions whose reset will fail
        self.destroyed: list[int] = []
        self.generation = 0
        self.with_reset = False

    @initialize(
        pool_size=st.integers(1, 4),
        max_usage=st.none() | st.integers(1, 3),
        with_reset=st.booleans(),
    )
    def make_pool(self, pool_size: int, max_usage: int | None, with_reset: bool) -> None:
        self.pool_size = pool_size
        self.max_usage = max_usage
        self.with_reset = with_reset
        options: dict[str, Any] = {"max_usage": max_usage}
        if with_reset:
            options["reset"] = self._reset
        self.pool = self.factory.make_pool(pool_size, **options)

    def _reset(self, session: Session) -> None:
        if session.number in self.bad_reset:
            raise RuntimeError("reset failed")

    @property
    def live(self) -> Pool[Session]:
        assert self.pool is not None
        return self.pool

    # ------------------------------------------------------------------ rules

    @rule()
    def get(self) -> None:
        if self.idle:
            expected: Session | None = self.idle.pop()
        elif len(self.held) < self.pool_size:
            expected = None  # a new one
        else:
            with pytest.raises(PoolTimeout):
                self.live.get_session(timeout=0)
            return
        created_before = len(self.factory.created)
        lease = self.live.get_session(timeout=0)
        session = lease.session
        if expected is None:
            assert len(self.factory.created) == created_before + 1
            assert session is self.factory.created[-1]
            self.usage[session.number] = 0
        else:
            assert session is expected, "not the most recently returned idle session"
        assert all(session is not s for _, s, _ in self.held), "a session leased twice"
        self.usage[session.number] += 1
        self.held.append((lease, session, self.generation))

    def _take(self, index: int) -> tuple[Lease[Session], Session, int]:
        return self.held.pop(index % len(self.held))

    @precondition(lambda self: self.held)
    @rule(index=st.integers(0, 10), reset_fails=st.booleans())
    def release(self, index: int, reset_fails: bool) -> None:
        lease, session, generation = self._take(index)
        if reset_fails:
            self.bad_reset.add(session.number)
        lease.close()
        self.bad_reset.discard(session.number)
        if (
            generation != self.generation
            or (self.max_usage is not None and self.usage[session.number] >= self.max_usage)
            or (reset_fails and self.with_reset)
        ):
            self.destroyed.append(session.number)
        else:
            self.idle.append(session)
        assert lease.released

    @precondition(lambda self: self.held)
    @rule(index=st.integers(0, 10))
    def invalidate(self, index: int) -> None:
        lease, session, _ = self._take(index)
        lease.invalidate()
        self.destroyed.append(session.number)

    @precondition(lambda self: self.held)
    @rule(index=st.integers(0, 10))
    def release_twice(self, index: int) -> None:
        lease = self.held[index % len(self.held)][0]
        self.release(index, reset_fails=False)
        lease.close()  # no effect

    @rule()
    def destroy_all(self) -> None:
        self.live.destroy_all_sessions()
        self.destroyed.extend(s.number for s in self.idle)
        self.idle.clear()
        self.generation += 1

    @rule()
    def stats_and_repr(self) -> None:
        stats = self.live.stats()
        assert f"[{len(self.held)} leased, {len(self.idle)} idle, 0 waiting]" in repr(self.live)
        assert stats.leases == sum(self.usage.values())

    # ------------------------------------------------------------------ invariants

    @invariant()
    def bookkeeping(self) -> None:
        if self.pool is None:
            return
        stats = self.live.stats()
        assert stats.size <= self.pool_size
        assert stats.in_use == len(self.held)
        assert stats.idle == len(self.idle)
        assert stats.size == stats.idle + stats.in_use
        assert stats.created - stats.destroyed == stats.size
        assert stats.waiting == 0
        assert stats.creating == 0
        assert self.factory.alive == stats.size
        assert sorted(s.number for s in self.factory.destroyed) == sorted(self.destroyed)
        assert self.factory.violations == []

    def teardown(self) -> None:
        if self.pool is None:
            return
        pool = self.pool
        pool.close()
        with pytest.raises(PoolClosed):
            pool.get_session(timeout=0)
        self.destroyed.extend(s.number for s in self.idle)
        self.idle.clear()
        for lease, session, _ in self.held:
            lease.close()
            self.destroyed.append(session.number)
        self.held.clear()
        stats = pool.stats()
        assert (stats.size, stats.idle, stats.in_use) == (0, 0, 0)
        assert stats.created == stats.destroyed
        assert sorted(s.number for s in self.factory.destroyed) == sorted(self.destroyed)
        assert self.factory.alive == 0
        assert self.factory.violations == []


PoolMachine.TestCase.settings = settings(
    max_examples=60,
    stateful_step_count=40,
    deadline=None,
    suppress_health_check=[HealthCheck.too_slow],
)
test_pool_against_model = PoolMachine.TestCase
