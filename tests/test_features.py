"""Leak detection, waiter limit, resize, creation back-off, lifetime jitter, hooks, discard_on."""

from __future__ import annotations

import logging
import threading
import time
from collections.abc import Callable
from typing import Any

import pytest

from pooling import DestroyReason, Pool, PoolError, PoolExhausted, PoolTimeout

DEADLINE = 10.0


def wait_until(predicate: Callable[[], bool], what: str) -> None:
    """Poll a condition with a generous deadline (never used to order threads, only to observe)."""
    end = time.monotonic() + DEADLINE
    while not predicate():
        if time.monotonic() > end:
            raise AssertionError(f"timed out waiting until {what}")
        time.sleep(0.001)


class Factory:
    """Hands out distinct sessions, records destroys; `fail` makes the next creations raise."""

    def __init__(self) -> None:
        self.lock = threading.Lock()
        self.created: list[object] = []
        self.destroyed: list[object] = []
        self.fail = 0
        self.attempts = 0

    def create(self) -> object:
        with self.lock:
            self.attempts += 1
            if self.fail:
                self.fail -= 1
                raise ConnectionError(f"server down (attempt {self.attempts})")
            session = object()
            self.created.append(session)
            return session

    def destroy(self, session: object) -> None:
        with self.lock:
            self.destroyed.append(session)


def start_waiter(pool: Pool[Any], results: list[Any], timeout: float | None = None) -> threading.Thread:
    def run() -> None:
        try:
            lease = pool.get_session(timeout=timeout)
            results.append(lease)
        except BaseException as exc:
            results.append(exc)

    thread = threading.Thread(target=run, daemon=True)
    thread.start()
    return thread


# -- leak detection ----------------------------------------------------------------------------


@pytest.mark.timeout(30)
def test_leak_is_logged_with_the_stack_where_it_was_taken(caplog: pytest.LogCaptureFixture) -> None:
    caplog.set_level(logging.WARNING, logger="pooling")
    pool = Pool(2, object, leak_timeout=0.05, name="leaky")

    def take_and_forget() -> Any:
        return pool.get_session()

    lease = take_and_forget()
    wait_until(lambda: any("leased for" in r.getMessage() for r in caplog.records), "the leak was logged")
    assert pool.stats().leaks == 1
    warning = next(r for r in caplog.records if "leased for" in r.getMessage())
    message = warning.getMessage()
    assert "'leaky'" in message
    assert "take_and_forget" in message  # the stack where the lease was taken
    assert __file__ in message
    lease.close()
    assert any("finally returned" in r.getMessage() for r in caplog.records)
    assert pool.stats().leaks == 1
    pool.close()


def test_no_leak_reported_for_short_leases(caplog: pytest.LogCaptureFixture) -> None:
    pool = Pool(1, object, leak_timeout=60)
    for _ in range(100):
        with pool.get_session():
            pass
    assert pool.stats().leaks == 0
    assert not [r for r in caplog.records if "leased for" in r.getMessage()]
    pool.close()


# -- waiter limit --------------------------------------------------------------------------------


@pytest.mark.timeout(30)
def test_max_waiting_rejects_at_once_and_says_how_many_wait() -> None:
    pool = Pool(1, object, max_waiting=2)
    held = pool.get_session()
    results: list[Any] = []
    threads = [start_waiter(pool, results) for _ in range(2)]
    wait_until(lambda: pool.stats().waiting == 2, "two callers wait")
    started = time.monotonic()
    with pytest.raises(PoolExhausted, match="2 callers are already waiting") as info:
        pool.get_session(timeout=30)
    assert time.monotonic() - started < 5  # at once, not after the 30 s timeout
    assert isinstance(info.value, PoolError)
    assert pool.stats().rejected == 1
    held.close()
    wait_until(lambda: len(results) == 1, "the first waiter is served")
    results[0].close()
    for thread in threads:
        thread.join(DEADLINE)
    assert all(not isinstance(r, BaseException) for r in results)
    pool.close()


# -- resize ----------------------------------------------------------------------------------------


@pytest.mark.timeout(30)
def test_growing_wakes_waiters() -> None:
    factory = Factory()
    pool = Pool(1, factory.create, factory.destroy)
    held = pool.get_session()
    results: list[Any] = []
    threads = [start_waiter(pool, results) for _ in range(2)]
    wait_until(lambda: pool.stats().waiting == 2, "two callers wait")
    pool.resize(3)
    for thread in threads:
        thread.join(DEADLINE)
    assert len(results) == 2 and all(not isinstance(r, BaseException) for r in results)
    assert pool.stats().size == 3
    for lease in [held, *results]:
        lease.close()
    pool.close()


def test_shrinking_retires_idle_now_and_leased_on_return_never_breaking_a_lease() -> None:
    factory = Factory()
    pool = Pool(4, factory.create, factory.destroy)
    leases = [pool.get_session() for _ in range(4)]
    leases[0].close()
    leases[1].close()  # two idle, two leased
    pool.resize(1)
    stats = pool.stats()
    assert stats.pool_size == 1
    assert stats.idle == 0  # both idle ones were destroyed at once
    assert len(factory.destroyed) == 2
    # the two leases in use still work
    assert leases[2].session is not None and leases[3].session is not None
    leases[2].close()  # over the new size: destroyed on return
    assert pool.stats().size == 1
    leases[3].close()  # the pool is now at its size: pooled
    stats = pool.stats()
    assert (stats.size, stats.idle) == (1, 1)
    with pytest.raises(PoolTimeout):
        keep = pool.get_session()
        pool.get_session(timeout=0)
    keep.close()
    pool.close()


@pytest.mark.parametrize("bad", [0, -1, 1.5, "2", None, True])
def test_resize_rejects_bad_sizes(bad: Any) -> None:
    pool = Pool(2, object)
    with pytest.raises((TypeError, ValueError), match="pool_size"):
        pool.resize(bad)
    assert pool.pool_size == 2


def test_resize_below_min_idle_is_refused() -> None:
    pool = Pool(4, object, min_idle=2)
    with pytest.raises(ValueError, match="min_idle"):
        pool.resize(1)
    pool.close()


# -- creation back-off ------------------------------------------------------------------------


@pytest.mark.timeout(30)
def test_backoff_spares_a_down_server_and_resets_after_success() -> None:
    factory = Factory()
    factory.fail = 10**6  # the server is down
    pool = Pool(4, factory.create, factory.destroy, backoff_initial=0.05, backoff_max=0.2)
    with pytest.raises(ConnectionError):
        pool.get_session()  # the first caller tries, and gets the driver's error
    # Within the back-off window, callers do not hammer the server: they wait for their deadline
    # and get (a copy of) the last creation error.
    attempts = factory.attempts
    for _ in range(20):
        with pytest.raises(ConnectionError, match="server down"):
            pool.get_session(timeout=0)
    assert factory.attempts == attempts
    # Over a longer time, attempts are spaced by the growing window, one at a time.
    end = time.monotonic() + 1.0
    calls = 0
    while time.monotonic() < end:
        calls += 1
        with pytest.raises(ConnectionError):
            pool.get_session(timeout=0.05)
    assert calls > 10
    assert factory.attempts - attempts <= 12  # 1 s / (>= 0.1 s windows after the first ones)
    # The server comes back: the next attempt succeeds and the back-off is over at once.
    factory.fail = 0
    lease = pool.get_session(timeout=2)
    leases = [pool.get_session(timeout=0) for _ in range(3)]  # no back-off any more
    assert pool.stats().size == 4
    for each in [lease, *leases]:
        each.close()
    pool.close()


@pytest.mark.timeout(30)
def test_waiters_during_backoff_are_served_when_creation_works_again() -> None:
    factory = Factory()
    factory.fail = 1
    pool = Pool(2, factory.create, factory.destroy, backoff_initial=0.05, backoff_max=0.05)
    with pytest.raises(ConnectionError):
        pool.get_session()
    results: list[Any] = []
    threads = [start_waiter(pool, results, timeout=DEADLINE) for _ in range(2)]
    for thread in threads:
        thread.join(DEADLINE + 5)
    assert len(results) == 2 and all(not isinstance(r, BaseException) for r in results), results
    for lease in results:
        lease.close()
    pool.close()


def test_backoff_zero_turns_it_off() -> None:
    factory = Factory()
    factory.fail = 2
    pool = Pool(1, factory.create, factory.destroy, backoff_initial=0, backoff_max=0)
    for _ in range(2):
        with pytest.raises(ConnectionError):
            pool.get_session(timeout=0)
    pool.get_session(timeout=0).close()  # tried at once, no window
    assert factory.attempts == 3
    pool.close()


# -- lifetime jitter -----------------------------------------------------------------------------


def test_lifetimes_are_spread_but_never_longer_than_max_lifetime() -> None:
    pool = Pool(50, object, max_lifetime=100.0, lifetime_jitter=0.2)
    leases = [pool.get_session() for _ in range(50)]
    lifetimes = [lease._held[0].expires_at - lease._held[0].created_at for lease in leases]
    assert all(80.0 <= t <= 100.0 for t in lifetimes)
    assert len({round(t, 6) for t in lifetimes}) > 40  # spread, not all equal
    for lease in leases:
        lease.close()
    pool.close()


def test_lifetime_jitter_is_validated() -> None:
    with pytest.raises(ValueError, match="lifetime_jitter"):
        Pool(1, object, lifetime_jitter=1.0)


# -- hooks -------------------------------------------------------------------------------------------


def test_hooks_see_every_event_with_destroy_reasons() -> None:
    events: list[tuple[str, Any]] = []
    factory = Factory()
    pool = Pool(
        2,
        factory.create,
        factory.destroy,
        max_usage=2,
        on_create=lambda s: events.append(("create", s)),
        on_checkout=lambda s: events.append(("checkout", s)),
        on_checkin=lambda s: events.append(("checkin", s)),
        on_destroy=lambda s, reason: events.append(("destroy", reason)),
    )
    lease = pool.get_session()
    session = lease.session
    lease.close()
    pool.get_session().close()  # second use: used up on return
    pool.get_session().invalidate()
    pool.get_session().close()
    pool.close()
    kinds = [kind for kind, _ in events]
    assert kinds[:3] == ["create", "checkout", "checkin"]
    assert events[0][1] is session
    reasons = [value for kind, value in events if kind == "destroy"]
    assert reasons == [DestroyReason.USED_UP, DestroyReason.INVALIDATED, DestroyReason.CLOSED]
    assert all(isinstance(r, DestroyReason) for r in reasons)


def test_a_failing_hook_is_logged_and_never_breaks_the_pool(caplog: pytest.LogCaptureFixture) -> None:
    def boom(*_: Any) -> None:
        raise RuntimeError("hook failed")

    pool = Pool(1, object, on_create=boom, on_checkout=boom, on_checkin=boom, on_destroy=boom)
    for _ in range(3):
        with pool.get_session() as session:
            assert session is not None
    pool.close()
    assert pool.stats().size == 0
    logged = [r for r in caplog.records if "hook raised" in r.getMessage()]
    assert {r.getMessage().split("the ")[1].split(" hook")[0] for r in logged} == {
        "on_create",
        "on_checkout",
        "on_checkin",
        "on_destroy",
    }


# -- discard_on --------------------------------------------------------------------------------------


def test_discard_on_destroys_the_session_a_with_block_failed_with() -> None:
    factory = Factory()
    pool = Pool(1, factory.create, factory.destroy, discard_on=lambda e: isinstance(e, ConnectionError))
    with pytest.raises(ConnectionError), pool.get_session() as first:
        raise ConnectionError("connection lost")
    assert factory.destroyed == [first]
    with pytest.raises(ValueError), pool.get_session() as second:
        raise ValueError("not a connection problem")
    assert factory.destroyed == [first]  # pooled again
    with pool.get_session() as third:
        assert third is second
    pool.close()


def test_a_failing_discard_on_keeps_the_blocks_own_error() -> None:
    def broken(exc: BaseException) -> bool:
        raise RuntimeError("predicate bug")

    pool = Pool(1, object, discard_on=broken)
    with pytest.raises(KeyError), pool.get_session():
        raise KeyError("own error")
    assert pool.stats().idle == 1
    pool.close()


@pytest.mark.timeout(30)
def test_a_waiter_with_no_timeout_gets_a_slot_a_failed_creation_left_free() -> None:
    """W1 and W2 wait with no timeout on a full pool. A slot frees up; W1, the oldest, tries to
    create and fails (back-off starts). The slot is free again, and W2 must get it once the back-off
    window ends, not sleep until some lease comes back."""
    factory = Factory()
    pool = Pool(2, factory.create, factory.destroy, backoff_initial=0.05, backoff_max=0.05)
    keep = pool.get_session()
    other = pool.get_session()
    results: list[Any] = []
    w1 = start_waiter(pool, results)
    wait_until(lambda: pool.stats().waiting == 1, "W1 waits")
    w2 = start_waiter(pool, results)
    wait_until(lambda: pool.stats().waiting == 2, "W2 waits")
    factory.fail = 1  # W1's attempt fails
    other.invalidate()  # frees a slot: W1 gets the right to create
    w1.join(DEADLINE)
    w2.join(DEADLINE)
    assert not w1.is_alive() and not w2.is_alive(), f"a waiter was left asleep: {pool!r}"
    assert isinstance(results[0], ConnectionError)  # W1's own attempt
    assert not isinstance(results[1], BaseException)  # W2 got the slot after the back-off
    results[1].close()
    keep.close()
    pool.close()
