"""Releases from the garbage collector: the lock contract in Pool._init_state (a finalizer may
run in any thread, even one holding the pool's lock, and nothing it releases may be stranded)."""

from __future__ import annotations

import gc
import sys
import threading

import pytest
from conftest import DEADLINE, Factory, Worker, cycle_lease, wait_until, wait_waiting, wrap_lock

from pooling import _finalizer

pytestmark = pytest.mark.skipif(sys.implementation.name != "cpython", reason="CPython finalizer timing")


# Plain pools release lock-free; a reset hook sends releases through the locked path.
POOL_KINDS = {"plain": {}, "with-reset": {"reset": lambda s: None}}


# ---------------------------------------------------------------------------- GC under the lock


@pytest.mark.timeout(30)
@pytest.mark.parametrize("kind", POOL_KINDS)
def test_gc_while_this_thread_holds_the_pool_lock_does_not_deadlock(
    kind: str, factory: Factory, no_auto_gc: None
) -> None:
    pool = factory.make_pool(1, **POOL_KINDS[kind])
    session = cycle_lease(pool)
    with pool._lock:
        assert gc.collect() > 0  # the lease's finalizer runs here, in a thread holding the lock
    # Once the lock is released, the session is back (with a reset hook, the finalizer thread
    # gives it back: a finalizer runs no user code).
    assert _finalizer.flush(DEADLINE)
    stats = pool.stats()
    assert (stats.in_use, stats.idle, stats.size) == (0, 1, 1), stats
    assert "[0 leased, 1 idle, 0 waiting]" in repr(pool)
    with pool.get_session(timeout=1) as conn:
        assert conn is session
    pool.close()
    assert factory.destroyed == [session]


@pytest.mark.timeout(30)
@pytest.mark.parametrize("kind", POOL_KINDS)
def test_gc_under_the_lock_then_a_checkout_gets_the_session(
    kind: str, factory: Factory, no_auto_gc: None
) -> None:
    pool = factory.make_pool(1, **POOL_KINDS[kind])
    session = cycle_lease(pool)
    with pool._lock:
        gc.collect()
    with pool.get_session(timeout=1) as conn:
        assert conn is session
    assert pool.stats().in_use == 0
    pool.close()


@pytest.mark.timeout(30)
@pytest.mark.parametrize("kind", POOL_KINDS)
@pytest.mark.parametrize("under_lock", [False, True], ids=["lock-free", "lock-held"])
def test_gc_in_another_thread_serves_a_waiter(
    kind: str, under_lock: bool, factory: Factory, no_auto_gc: None
) -> None:
    pool = factory.make_pool(1, **POOL_KINDS[kind])
    session = cycle_lease(pool)
    waiter = Worker(lambda: pool.get_session(timeout=DEADLINE))
    wait_waiting(pool, 1)

    def collect() -> None:
        if under_lock:  # the finalizer cannot take the lock: the session must not be stranded
            with pool._lock:
                gc.collect()
        else:
            gc.collect()

    Worker(collect, name="collector").result()
    if under_lock:
        pool.stats()  # any later use of the pool settles what the finalizer left
    lease = waiter.result()
    assert lease.session is session
    lease.close()
    pool.close()


@pytest.mark.timeout(30)
@pytest.mark.parametrize("kind", POOL_KINDS)
def test_gc_inside_a_checkout_critical_section(kind: str, factory: Factory, no_auto_gc: None) -> None:
    pool = factory.make_pool(2, **POOL_KINDS[kind])
    session = cycle_lease(pool)
    lock = wrap_lock(pool)
    lock.arm()
    other = pool.get_session(timeout=0)  # collects inside the first critical section of the call
    assert lock.collections == 1
    if kind == "plain":
        # published idle by the finalizer itself: taken back and reused at once
        assert other.session is session
        assert factory.create_calls == 1
        stats = pool.stats()
        assert (stats.in_use, stats.idle, stats.size) == (1, 0, 1), stats
    else:
        # with a reset hook, the finalizer thread gives it back: nothing is lost, nothing blocks
        assert _finalizer.flush(DEADLINE)
        stats = pool.stats()
        assert (stats.in_use, stats.idle, stats.size) == (1, 1, 2), stats
        with pool.get_session(timeout=0) as again:
            assert again is session
    other.close()
    pool.close()


@pytest.mark.timeout(30)
@pytest.mark.parametrize("kind", POOL_KINDS)
def test_gc_inside_the_creation_critical_section_does_not_strand_a_release(
    kind: str, factory: Factory, no_auto_gc: None
) -> None:
    """Lock contract: whoever holds the lock drains the inbox, or re-checks it after releasing.
    Here the collection runs in the critical section that records a new session (after the
    factory returned): the collected lease's session must reach the waiter at once."""
    pool = factory.make_pool(2, **POOL_KINDS[kind])
    session = cycle_lease(pool)
    lock = wrap_lock(pool)
    factory.gate = threading.Event()
    factory.on_create_hook = lambda s: lock.arm()  # the creator's next acquisition collects
    creator = Worker(pool.get_session, name="creator")
    assert factory.entered.acquire(timeout=DEADLINE)
    waiter = Worker(lambda: pool.get_session(timeout=None), name="waiter")  # the pool is full
    wait_waiting(pool, 1)
    factory.gate.set()
    created = creator.result()
    assert lock.collections == 1
    try:
        assert waiter.done.wait(3), f"the waiter was not served; the release is stranded: {pool!r}"
        assert waiter.result().session is session
    finally:
        pool.close()  # wakes the waiter in any case
        waiter.done.wait(DEADLINE)
        created.close()


@pytest.mark.timeout(30)
def test_gc_inside_a_lease_release_critical_section(factory: Factory, no_auto_gc: None) -> None:
    pool = factory.make_pool(2, reset=lambda s: None)
    session = cycle_lease(pool)
    other = pool.get_session(timeout=0)
    waiter = Worker(lambda: pool.get_session(timeout=None), name="waiter")
    wait_waiting(pool, 1)
    lock = wrap_lock(pool)
    lock.arm()
    other.close()  # its critical section collects the other lease too
    assert lock.collections == 1
    got = waiter.result()
    assert got.session in (session, factory.created[1])
    wait_until(lambda: pool.stats().idle == 1, "the other session idle")
    got.close()
    pool.close()
