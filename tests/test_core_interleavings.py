"""Deterministic interleavings of the lock-free fast paths ("publish, then re-check").

A thread is paused at a chosen line of a pool method (with sys.settrace: no sleeps, no luck)
while the main thread queues a waiter, closes the pool, destroys all sessions or resizes it; then
the paused thread goes on. Whatever the interleaving, the documented behaviour must hold: a waiter
is served, a closed pool destroys what comes back, a discarded session is never handed out.

The pause points are found by their source text; if the implementation changed so that a point
no longer exists, that test is skipped (the behaviour is still covered by the other tests).
"""

from __future__ import annotations

import inspect
import sys
import threading
from collections.abc import Callable
from typing import Any

import pytest
from conftest import DEADLINE, Factory, Session, Worker, wait_until, wait_waiting

from pooling import DestroyReason, Pool, PoolClosed

pytestmark = [
    pytest.mark.timeout(30),
    pytest.mark.skipif(sys.implementation.name != "cpython", reason="sys.settrace line events"),
]


class PauseAt:
    """Pause the thread that runs `run`'s function when it reaches the first line of ``func``
    containing ``fragment`` (before that line executes), until `go` is called."""

    def __init__(self, func: Callable[..., Any], fragment: str) -> None:
        lines, first = inspect.getsourcelines(func)
        matches = [first + i for i, text in enumerate(lines) if fragment in text]
        if not matches:
            pytest.skip(f"{func.__qualname__} has no line with {fragment!r} any more")
        self.code = func.__code__
        self.line = matches[0]
        self.reached = threading.Event()
        self._go = threading.Event()

    def _local(self, frame: Any, event: str, arg: Any) -> Any:
        if event == "line" and frame.f_lineno == self.line and not self.reached.is_set():
            self.reached.set()
            self._go.wait(DEADLINE)
        return self._local

    def _global(self, frame: Any, event: str, arg: Any) -> Any:
        return self._local if frame.f_code is self.code else None

    def run(self, fn: Callable[[], Any], name: str = "paused") -> Worker:
        def traced() -> Any:
            sys.settrace(self._global)
            try:
                return fn()
            finally:
                sys.settrace(None)

        worker = Worker(traced, name=name)
        if not self.reached.wait(DEADLINE):
            self._go.set()
            worker.result()
            pytest.skip(f"line {self.line} of {self.code.co_name} was not reached on this path")
        return worker

    def go(self) -> None:
        self._go.set()


def destroyed_with(reasons: list[tuple[Session, DestroyReason]]) -> Callable[[Session, DestroyReason], None]:
    def on_destroy(session: Session, reason: DestroyReason) -> None:
        reasons.append((session, reason))

    return on_destroy


# ------------------------------------------------------------------ a release on the fast path


def test_release_publishing_while_a_waiter_queues_serves_the_waiter(factory: Factory) -> None:
    # The releaser saw nobody waiting, then a waiter queued before the session was published.
    pool = factory.make_pool(1)
    lease = pool.get_session()
    session = lease.session
    pause = PauseAt(Pool._give_back, "self._idle.append(entry)")
    releaser = pause.run(lease.close, "releaser")
    waiter = Worker(lambda: pool.get_session(timeout=DEADLINE), name="waiter")
    wait_waiting(pool, 1)
    pause.go()
    releaser.result()
    got = waiter.result()  # must not wait forever with the session idle
    assert got.session is session
    stats = pool.stats()
    assert (stats.idle, stats.in_use, stats.waiting) == (0, 1, 0)
    got.close()
    pool.close()


def test_waiter_queueing_after_a_release_published_is_served(factory: Factory) -> None:
    # The session is published (idle) but the releaser has not re-checked yet when the waiter comes.
    pool = factory.make_pool(1)
    lease = pool.get_session()
    session = lease.session
    pause = PauseAt(Pool._give_back, "if self._waiters or not self._fast_return")
    releaser = pause.run(lease.close, "releaser")
    waiter = Worker(lambda: pool.get_session(timeout=DEADLINE), name="waiter")
    got = waiter.result()
    assert got.session is session
    pause.go()
    releaser.result()
    stats = pool.stats()
    assert (stats.idle, stats.in_use, stats.waiting, stats.size) == (0, 1, 0, 1)
    got.close()
    pool.close()


@pytest.mark.parametrize(
    "fragment", ["self._idle.append(entry)", "if self._waiters or not self._fast_return"]
)
def test_release_racing_close_destroys_the_session(factory: Factory, fragment: str) -> None:
    reasons: list[tuple[Session, DestroyReason]] = []
    pool = factory.make_pool(2, on_destroy=destroyed_with(reasons))
    lease = pool.get_session()
    session = lease.session
    pause = PauseAt(Pool._give_back, fragment)
    releaser = pause.run(lease.close, "releaser")
    pool.close()
    pause.go()
    releaser.result()
    assert factory.destroyed == [session]
    assert reasons == [(session, DestroyReason.CLOSED)]
    stats = pool.stats()
    assert (stats.size, stats.idle, stats.in_use) == (0, 0, 0), stats
    with pytest.raises(PoolClosed):
        pool.get_session(timeout=0)


@pytest.mark.parametrize(
    "fragment", ["self._idle.append(entry)", "if self._waiters or not self._fast_return"]
)
def test_release_racing_destroy_all_never_pools_the_stale_session(factory: Factory, fragment: str) -> None:
    reasons: list[tuple[Session, DestroyReason]] = []
    pool = factory.make_pool(2, on_destroy=destroyed_with(reasons))
    lease = pool.get_session()
    session = lease.session
    pause = PauseAt(Pool._give_back, fragment)
    releaser = pause.run(lease.close, "releaser")
    pool.destroy_all_sessions()
    if fragment.startswith("if"):
        # Published but not yet re-checked: a checkout now must not get the stale session.
        with pool.get_session(timeout=0) as conn:
            assert conn is not session
    pause.go()
    releaser.result()
    assert (session, DestroyReason.DISCARDED) in reasons
    wait_until(lambda: pool.stats().idle == pool.stats().size, "quiescent")
    with pool.get_session(timeout=0) as conn:
        assert conn is not session
    stats = pool.stats()
    assert stats.created - stats.destroyed == stats.size
    assert factory.alive == stats.size
    pool.close()


def test_release_racing_a_shrink_retires_the_excess(factory: Factory) -> None:
    reasons: list[tuple[Session, DestroyReason]] = []
    pool = factory.make_pool(2, on_destroy=destroyed_with(reasons))
    a, b = pool.get_session(), pool.get_session()
    pause = PauseAt(Pool._give_back, "self._idle.append(entry)")
    releaser = pause.run(a.close, "releaser")
    pool.resize(1)
    pause.go()
    releaser.result()
    assert [r for _, r in reasons] == [DestroyReason.RESIZED]
    b.close()
    stats = pool.stats()
    assert (stats.size, stats.idle) == (1, 1), stats
    assert factory.alive == 1
    pool.close()


# ------------------------------------------------------------------ a checkout on the fast path


def test_checkout_racing_destroy_all_never_hands_out_the_stale_session(factory: Factory) -> None:
    reasons: list[tuple[Session, DestroyReason]] = []
    pool = factory.make_pool(2, on_destroy=destroyed_with(reasons))
    pool.get_session().close()
    old = factory.created[0]
    pause = PauseAt(Pool.get_session, "now = _monotonic()")  # right after the lock-free pop
    taker = pause.run(pool.get_session, "taker")
    pool.destroy_all_sessions()
    pause.go()
    lease = taker.result()
    assert lease.session is not old
    assert reasons == [(old, DestroyReason.DISCARDED)]
    lease.close()
    assert factory.alive == pool.stats().size == 1
    pool.close()


def test_checkout_racing_close_loses_nothing(factory: Factory) -> None:
    pool = factory.make_pool(2)
    pool.get_session().close()
    pause = PauseAt(Pool.get_session, "now = _monotonic()")
    taker = pause.run(pool.get_session, "taker")
    pool.close()
    pause.go()
    error = taker.exception()
    if error is None:  # overlapping close(): a lease is acceptable, but it must come back to die
        taker.value.close()
    else:
        assert isinstance(error, PoolClosed)
    assert factory.alive == 0
    assert pool.stats().size == 0
