"""Interruptions: a BaseException (KeyboardInterrupt from a signal handler, gevent's Timeout,
SystemExit...) raised while the pool waits or runs a user callback must propagate, and must leave
no phantom waiter, lost slot or forgotten session behind."""

from __future__ import annotations

import signal
import sys
import threading
from collections.abc import Callable
from typing import Any

import pytest
from conftest import DEADLINE, Factory, Session, Worker, cycle_lease, wait_until, wait_waiting, wrap_lock

from pooling import Pool, PoolTimeout

pytestmark = pytest.mark.skipif(sys.implementation.name != "cpython", reason="CPython signal timing")


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


def interrupt_waiting_get(
    pool: Pool[Any], wait: float | None, action: Callable[[], None] = lambda: None
) -> None:
    """Call get_session(timeout=wait) in the main thread, interrupt it once it waits (the signal
    handler runs ``action`` first), and check that the KeyboardInterrupt came through."""
    interrupter = Interrupter(pool, 1, action=action)
    try:
        with pytest.raises(KeyboardInterrupt):
            pool.get_session(timeout=wait)
    finally:
        interrupter.restore()
    assert interrupter.fired


# A wait with a deadline, and one without (which the pool waits for on a path of its own).
WAITS = pytest.mark.parametrize("wait", [DEADLINE, None], ids=["deadline", "forever"])


@WAITS
@needs_signals
@pytest.mark.timeout(30)
def test_interrupted_waiter_leaves_no_phantom_waiter(factory: Factory, wait: float | None) -> None:
    assert threading.current_thread() is threading.main_thread()
    pool = factory.make_pool(1)
    held = pool.get_session()
    interrupt_waiting_get(pool, wait)
    assert pool.stats().waiting == 0
    held.close()  # must go to idle, not to the abandoned waiter
    stats = pool.stats()
    assert (stats.idle, stats.in_use, stats.size) == (1, 0, 1)
    with pool.get_session(timeout=0) as conn:
        assert conn is factory.created[0]
    pool.close()


@WAITS
@needs_signals
@pytest.mark.timeout(30)
def test_interrupted_waiter_gives_back_a_session_handed_to_it(factory: Factory, wait: float | None) -> None:
    pool = factory.make_pool(1)
    held = pool.get_session()
    # The handler returns the session (handed to the waiting main thread), then interrupts it.
    interrupt_waiting_get(pool, wait, action=held.close)
    stats = pool.stats()
    assert (stats.waiting, stats.idle, stats.in_use, stats.size) == (0, 1, 0, 1), stats
    with pool.get_session(timeout=0) as conn:  # no lost session
        assert conn is factory.created[0]
    pool.close()


@WAITS
@needs_signals
@pytest.mark.timeout(30)
def test_interrupted_waiter_gives_back_a_slot_granted_to_it(factory: Factory, wait: float | None) -> None:
    pool = factory.make_pool(1)
    held = pool.get_session()
    # invalidate() frees the slot, which is granted to the waiting main thread; then interrupt.
    interrupt_waiting_get(pool, wait, action=held.invalidate)
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


# ------------------------------------------------------------- BaseException from user callbacks


class Cancelled(BaseException):
    """Stands for gevent.Timeout, trio.Cancelled and other BaseExceptions (not Exceptions)."""


def interrupt_once(error: BaseException) -> Callable[..., None]:
    state = {"raised": False}

    def callback(*args: Any) -> None:
        if not state["raised"]:
            state["raised"] = True
            raise error

    return callback


def assert_pool_recovered(pool: Pool[Session], factory: Factory) -> None:
    stats = pool.stats()
    assert stats.waiting == 0
    assert stats.creating == 0
    assert stats.size == stats.idle + stats.in_use, stats
    assert stats.created - stats.destroyed == stats.size, stats
    assert factory.alive == stats.size, f"{factory.alive} sessions alive, the pool knows {stats.size}"
    try:
        lease = pool.get_session(timeout=0.1)  # pool_size 1: the slot must not be lost
    except PoolTimeout:
        pytest.fail(f"the only slot was lost: {pool!r}")
    lease.close()


CALLBACKS = {
    # option -> what to do with a fresh pool of 1 to have that callback run
    "check": lambda pool: (pool.get_session().close(), pool.get_session()),
    "reset": lambda pool: pool.get_session().close(),
    "destroy_factory": lambda pool: pool.get_session().invalidate(),
    "on_create": lambda pool: pool.get_session(),
    "on_checkout": lambda pool: pool.get_session(),
    "on_checkin": lambda pool: pool.get_session().close(),
    "on_destroy": lambda pool: pool.get_session().invalidate(),
}


@pytest.mark.timeout(30)
@pytest.mark.parametrize("error", [KeyboardInterrupt(), Cancelled()], ids=["KeyboardInterrupt", "Cancelled"])
@pytest.mark.parametrize("option", CALLBACKS)
def test_base_exception_from_a_callback_propagates_and_loses_nothing(
    option: str, error: BaseException, factory: Factory
) -> None:
    callback = interrupt_once(error)
    if option == "destroy_factory":
        destroy = factory.destroy

        def destroyer(session: Session) -> None:
            destroy(session)
            callback(session)

        pool = Pool(1, factory.create, destroy_factory=destroyer)
    else:
        pool = factory.make_pool(1, **{option: callback})
    with pytest.raises(type(error)):
        CALLBACKS[option](pool)
    assert_pool_recovered(pool, factory)
    pool.close()
    assert factory.alive == 0


@pytest.mark.timeout(30)
def test_base_exception_from_a_factory_frees_the_slot(factory: Factory) -> None:
    pool = factory.make_pool(1)
    factory.error = Cancelled()
    factory.fail_next = 1
    with pytest.raises(Cancelled):
        pool.get_session()
    assert_pool_recovered(pool, factory)
    pool.close()


@pytest.mark.timeout(30)
def test_base_exception_from_the_destroyer_of_a_session_that_failed_its_check(factory: Factory) -> None:
    # The check says "dead" (an Exception); destroying the dead session is then interrupted.
    destroy_calls = {"n": 0}

    def destroyer(session: Session) -> None:
        factory.destroy(session)
        destroy_calls["n"] += 1
        if destroy_calls["n"] == 1:
            raise Cancelled

    dead: set[int] = set()

    def check(session: Session) -> None:
        if session.number in dead:
            raise ConnectionError("gone")

    pool = Pool(1, factory.create, destroy_factory=destroyer, check=check)
    lease = pool.get_session()
    dead.add(lease.session.number)
    lease.close()
    with pytest.raises(Cancelled):
        pool.get_session()
    assert_pool_recovered(pool, factory)
    pool.close()
    assert factory.alive == 0


@pytest.mark.timeout(30)
def test_base_exception_from_a_destroyer_during_destroy_all_loses_no_slot(factory: Factory) -> None:
    calls = {"n": 0}

    def destroyer(session: Session) -> None:
        factory.destroy(session)
        calls["n"] += 1
        if calls["n"] == 1:
            raise Cancelled

    pool = Pool(3, factory.create, destroy_factory=destroyer)
    leases = [pool.get_session() for _ in range(3)]
    for lease in leases:
        lease.close()
    with pytest.raises(Cancelled):
        pool.destroy_all_sessions()
    # Whatever was not destroyed is still accounted for, and the pool reaches full size again.
    stats = pool.stats()
    assert factory.alive == stats.size, f"{factory.alive} alive, the pool counts {stats.size}: {stats}"
    try:
        again = [pool.get_session(timeout=0.1) for _ in range(3)]
    except PoolTimeout:
        pytest.fail(f"slots were lost: {pool!r}")
    for lease in again:
        lease.close()
    pool.close()
    assert factory.alive == 0


@pytest.mark.timeout(30)
@pytest.mark.filterwarnings("ignore::pytest.PytestUnhandledThreadExceptionWarning")
def test_base_exception_from_on_create_in_the_maintainer_loses_no_slot(factory: Factory) -> None:
    pool = factory.make_pool(2, min_idle=1, on_create=interrupt_once(Cancelled()))
    wait_until(lambda: pool.stats().idle == 1, "min_idle filled despite the interrupted hook", 3)
    stats = pool.stats()
    assert stats.creating == 0, stats
    assert factory.alive == stats.size, f"{factory.alive} alive, the pool counts {stats.size}"
    pool.close()
    wait_until(lambda: factory.alive == 0, "all destroyed")
