"""Releases from the garbage collector (the lock contract in Pool._init_state) and interrupted
waiters (KeyboardInterrupt from a signal handler while get_session() waits)."""

from __future__ import annotations

import gc
import signal
import sys
import threading
from collections.abc import Callable, Iterator
from typing import Any

import pytest
from conftest import DEADLINE, Factory, Session, Worker, wait_until, wait_waiting

from pooling import Lease, Pool

pytestmark = pytest.mark.skipif(sys.implementation.name != "cpython", reason="CPython finalizer timing")


@pytest.fixture
def no_auto_gc() -> Iterator[None]:
    """Only the test's own gc.collect() calls collect: a cycle is freed exactly when intended."""
    was_enabled = gc.isenabled()
    gc.disable()
    try:
        yield
    finally:
        if was_enabled:
            gc.enable()


def drop_in_a_cycle(lease: Lease[Any]) -> None:
    """Make ``lease`` reachable only from a reference cycle (the caller drops its own reference)."""
    cycle: list[Any] = [lease]
    cycle.append(cycle)


def cycle_lease(pool: Pool[Session]) -> Session:
    """Lease a session and leave the lease in a reference cycle; returns the session."""
    lease = pool.get_session(timeout=0)
    session = lease.session
    drop_in_a_cycle(lease)
    return session


class GCInLock:
    """Wraps a pool's lock: when armed for a thread, runs ``gc.collect()`` right after that thread's
    ``skip + 1``-th acquisition, i.e. inside a critical section of the pool, as a collection
    triggered by an allocation there would (any allocation, in any thread, may trigger one)."""

    def __init__(self, inner: Any) -> None:
        self.inner = inner
        self.armed_for: int | None = None
        self.skip = 0
        self.collections = 0

    def arm(self, skip: int = 0) -> None:
        self.skip = skip
        self.armed_for = threading.get_ident()

    def acquire(self, blocking: bool = True, timeout: float = -1) -> bool:
        got = self.inner.acquire(blocking, timeout)
        if got and self.armed_for == threading.get_ident():
            if self.skip:
                self.skip -= 1
            else:
                self.armed_for = None
                gc.collect()
                self.collections += 1
        return got

    def release(self) -> None:
        self.inner.release()

    def locked(self) -> bool:
        return bool(self.inner.locked())

    def __enter__(self) -> bool:
        return self.acquire()

    def __exit__(self, *exc: object) -> None:
        self.release()


def wrap_lock(pool: Pool[Any]) -> GCInLock:
    wrapper = GCInLock(pool._lock)
    pool._lock = wrapper  # type: ignore[assignment]
    return wrapper


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
    # Once the lock is released, the session is back.
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
def test_gc_in_another_thread_serves_a_waiter(kind: str, factory: Factory, no_auto_gc: None) -> None:
    pool = factory.make_pool(1, **POOL_KINDS[kind])
    session = cycle_lease(pool)
    waiter = Worker(lambda: pool.get_session(timeout=DEADLINE))
    wait_waiting(pool, 1)
    Worker(gc.collect, name="collector").result()
    lease = waiter.result()
    assert lease.session is session
    lease.close()
    pool.close()


@pytest.mark.timeout(30)
@pytest.mark.parametrize("kind", POOL_KINDS)
def test_gc_in_another_thread_holding_the_lock_serves_a_waiter(
    kind: str, factory: Factory, no_auto_gc: None
) -> None:
    pool = factory.make_pool(1, **POOL_KINDS[kind])
    session = cycle_lease(pool)
    waiter = Worker(lambda: pool.get_session(timeout=DEADLINE))
    wait_waiting(pool, 1)

    def collect_under_lock() -> None:
        with pool._lock:
            gc.collect()

    Worker(collect_under_lock, name="collector").result()
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
    assert other.session is session  # the collected lease's session was taken back and reused
    assert factory.create_calls == 1
    stats = pool.stats()
    assert (stats.in_use, stats.idle, stats.size) == (1, 0, 1), stats
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


# --------------------------------------------------------------------------- interrupted waiters


class Interrupter:
    """Sends SIGUSR1 to the main thread once ``n`` callers wait; the handler runs ``action`` (in
    the main thread, inside get_session's wait) and raises KeyboardInterrupt."""

    def __init__(self, pool: Pool[Any], n: int, action: Callable[[], None] = lambda: None) -> None:
        self.fired = False

        def handler(signum: int, frame: Any) -> None:
            self.fired = True
            action()
            raise KeyboardInterrupt

        self.old = signal.signal(signal.SIGUSR1, handler)
        main = threading.main_thread().ident
        assert main is not None

        def send() -> None:
            wait_waiting(pool, n)
            signal.pthread_kill(main, signal.SIGUSR1)

        self.sender = Worker(send, name="interrupter")

    def restore(self) -> None:
        self.sender.result()
        signal.signal(signal.SIGUSR1, self.old)


needs_signals = pytest.mark.skipif(
    not hasattr(signal, "pthread_kill") or not hasattr(signal, "SIGUSR1"), reason="POSIX signals"
)


@needs_signals
@pytest.mark.timeout(30)
def test_interrupted_waiter_leaves_no_phantom_waiter(factory: Factory) -> None:
    assert threading.current_thread() is threading.main_thread()
    pool = factory.make_pool(1)
    held = pool.get_session()
    interrupter = Interrupter(pool, 1)
    try:
        with pytest.raises(KeyboardInterrupt):
            pool.get_session(timeout=DEADLINE)
    finally:
        interrupter.restore()
    assert interrupter.fired
    assert pool.stats().waiting == 0
    held.close()  # must go to idle, not to the abandoned waiter
    stats = pool.stats()
    assert (stats.idle, stats.in_use, stats.size) == (1, 0, 1)
    with pool.get_session(timeout=0) as conn:
        assert conn is factory.created[0]
    pool.close()


@needs_signals
@pytest.mark.timeout(30)
def test_interrupted_waiter_gives_back_a_session_handed_to_it(factory: Factory) -> None:
    pool = factory.make_pool(1)
    held = pool.get_session()
    # The handler returns the session (handed to the waiting main thread), then interrupts it.
    interrupter = Interrupter(pool, 1, action=held.close)
    try:
        with pytest.raises(KeyboardInterrupt):
            pool.get_session(timeout=DEADLINE)
    finally:
        interrupter.restore()
    stats = pool.stats()
    assert (stats.waiting, stats.idle, stats.in_use, stats.size) == (0, 1, 0, 1), stats
    with pool.get_session(timeout=0) as conn:  # no lost session
        assert conn is factory.created[0]
    pool.close()


@needs_signals
@pytest.mark.timeout(30)
def test_interrupted_waiter_gives_back_a_slot_granted_to_it(factory: Factory) -> None:
    pool = factory.make_pool(1)
    held = pool.get_session()
    # invalidate() frees the slot, which is granted to the waiting main thread; then interrupt.
    interrupter = Interrupter(pool, 1, action=held.invalidate)
    try:
        with pytest.raises(KeyboardInterrupt):
            pool.get_session(timeout=DEADLINE)
    finally:
        interrupter.restore()
    stats = pool.stats()
    assert (stats.waiting, stats.size, stats.creating) == (0, 0, 0), stats
    with pool.get_session(timeout=0):  # no lost slot
        pass
    assert factory.create_calls == 2
    pool.close()


@needs_signals
@pytest.mark.timeout(30)
def test_interrupted_waiter_keeps_the_order_of_the_others(factory: Factory) -> None:
    pool = factory.make_pool(1)
    held = pool.get_session()
    first = Worker(lambda: pool.get_session(timeout=DEADLINE), name="first")
    wait_waiting(pool, 1)
    interrupter = Interrupter(pool, 2)
    try:
        with pytest.raises(KeyboardInterrupt):
            pool.get_session(timeout=DEADLINE)
    finally:
        interrupter.restore()
    assert pool.stats().waiting == 1
    held.close()
    first.result().close()
    assert pool.stats().waiting == 0
    pool.close()


@needs_signals
@pytest.mark.timeout(30)
def test_gc_while_an_interrupted_waiter_leaves_does_not_strand_a_release(
    factory: Factory, no_auto_gc: None
) -> None:
    """The interrupted waiter's clean-up runs a critical section; a collection there (of a lease
    that holds the only session) must still reach the other waiter."""
    pool = factory.make_pool(1)
    session = cycle_lease(pool)
    other = Worker(lambda: pool.get_session(timeout=None), name="other-waiter")
    wait_waiting(pool, 1)
    lock = wrap_lock(pool)
    interrupter = Interrupter(pool, 2, action=lock.arm)  # collect in the next critical section
    try:
        with pytest.raises(KeyboardInterrupt):
            pool.get_session(timeout=DEADLINE)
    finally:
        interrupter.restore()
    assert lock.collections == 1
    try:
        assert other.done.wait(3), f"the other waiter was not served; the release is stranded: {pool!r}"
        assert other.result().session is session
    finally:
        pool.close()
        other.done.wait(DEADLINE)
