"""Checkout: the pool_size bound under contention, timeouts, FIFO fairness, parallel creation."""

from __future__ import annotations

import queue
import random
import re
import sys
import threading
import time
from typing import Any

import pytest
from conftest import DEADLINE, Factory, PingSession, Session, Worker, wait_until, wait_waiting

from pooling import Lease, Pool, PoolError, PoolExhausted, PoolTimeout, _finalizer

# ------------------------------------------------------------------------- the pool_size bound


@pytest.mark.timeout(30)
@pytest.mark.parametrize("churn", [False, True], ids=["plain", "with-invalidate-and-hooks"])
def test_never_more_than_pool_size_alive_under_contention(churn: bool) -> None:
    pool_size, threads, rounds = 4, 32, 150
    factory = Factory()
    options: dict[str, Any] = {}
    if churn:
        # Exercise the general (locked) paths too: check, reset, max_usage.
        options = {"check": lambda s: None, "reset": lambda s: None, "max_usage": 5}
    pool = factory.make_pool(pool_size, **options)
    holders: dict[int, str] = {}  # id(session) -> thread name
    holders_lock = threading.Lock()
    violations: list[str] = []
    start = threading.Barrier(threads)

    def work() -> None:
        name = threading.current_thread().name
        rng = random.Random(name)
        start.wait(DEADLINE)
        for _ in range(rounds):
            lease = pool.get_session(timeout=DEADLINE)
            session = lease.session
            with holders_lock:
                other = holders.get(id(session))
                if other is not None:
                    violations.append(f"{session!r} held by {other} and {name} at once")
                holders[id(session)] = name
                if factory.alive > pool_size:
                    violations.append(f"{factory.alive} sessions alive > pool_size {pool_size}")
            if pool.stats().size > pool_size:
                violations.append(f"stats().size > pool_size: {pool.stats()}")
            session.cursor()  # use it
            with holders_lock:
                del holders[id(session)]
            if churn and rng.random() < 0.1:
                lease.invalidate()
            else:
                lease.close()

    old_interval = sys.getswitchinterval()
    sys.setswitchinterval(1e-5)  # preempt often: interleave the lock-free paths as much as possible
    try:
        workers = [Worker(work, name=f"w{i}") for i in range(threads)]
        for worker in workers:
            worker.result(timeout=25)
    finally:
        sys.setswitchinterval(old_interval)
    assert violations == []
    assert factory.violations == []
    assert factory.max_alive <= pool_size
    stats = pool.stats()
    assert stats.size <= pool_size
    assert stats.in_use == 0
    assert stats.waiting == 0
    assert stats.idle == stats.size
    assert stats.created - stats.destroyed == stats.size
    assert stats.leases == threads * rounds
    assert stats.hold_count == threads * rounds
    if churn:
        assert stats.destroyed > 0
    pool.close()
    assert factory.alive == 0
    assert sorted(s.number for s in factory.destroyed) == sorted(s.number for s in factory.created)


# ----------------------------------------------------------------------------------- timeouts


def test_timeout_zero_raises_at_once_when_full(factory: Factory) -> None:
    pool = factory.make_pool(2, name="full-pool")
    a, b = pool.get_session(), pool.get_session()
    started = time.monotonic()
    with pytest.raises(PoolTimeout) as excinfo:
        pool.get_session(timeout=0)
    assert time.monotonic() - started < 1.0
    error = excinfo.value
    assert isinstance(error, PoolError)
    assert isinstance(error, TimeoutError)
    assert isinstance(error, queue.Empty)
    assert "full-pool" in str(error)
    stats = pool.stats()
    assert stats.timeouts == 1
    assert stats.waiting == 0
    assert stats.size == 2
    assert factory.create_calls == 2  # no attempt to exceed pool_size
    a.close()
    b.close()
    pool.close()


def test_pool_default_timeout_zero(factory: Factory) -> None:
    pool = factory.make_pool(1, timeout=0)
    held = pool.get_session()
    with pytest.raises(PoolTimeout):
        pool.get_session()
    held.close()
    pool.get_session().close()
    pool.close()


def test_pool_timeout_is_catchable_as_queue_empty_like_0_1(factory: Factory) -> None:
    pool = factory.make_pool(1)
    held = pool.get_session()
    try:
        pool.get_session(timeout=0)
    except queue.Empty:
        pass
    else:  # pragma: no cover - the assertion
        pytest.fail("no queue.Empty")
    held.close()
    pool.close()


@pytest.mark.timeout(30)
def test_timeout_x_waits_about_x_and_message_names_pool_and_time(factory: Factory) -> None:
    pool = factory.make_pool(1, name="slow-pool")
    held = pool.get_session()
    started = time.monotonic()
    with pytest.raises(PoolTimeout) as excinfo:
        pool.get_session(timeout=0.2)
    elapsed = time.monotonic() - started
    assert 0.19 <= elapsed < 2.0
    message = str(excinfo.value)
    assert "slow-pool" in message
    match = re.search(r"(\d+\.\d+)\s*s", message)
    assert match, message
    assert 0.19 <= float(match.group(1)) < 2.0
    stats = pool.stats()
    assert stats.waiting == 0  # the timed-out waiter left the queue
    assert stats.timeouts == 1
    held.close()
    assert pool.stats().idle == 1  # returned to idle, not to a phantom waiter
    pool.close()


def test_wait_figures_count_timed_out_waits_too(factory: Factory) -> None:
    # PoolStats documents wait_count as "get_session calls that had to wait ... (served or not)".
    pool = factory.make_pool(1)
    held = pool.get_session()
    with pytest.raises(PoolTimeout):
        pool.get_session(timeout=0.02)
    stats = pool.stats()
    assert stats.wait_count == 1
    assert stats.wait_time_total >= 0.019
    assert sum(n for _, n in stats.wait_histogram) == 1
    held.close()
    pool.close()


@pytest.mark.timeout(30)
def test_timeout_none_waits_until_release(factory: Factory) -> None:
    pool = factory.make_pool(1)
    held = pool.get_session()
    session = held.session
    waiter = Worker(lambda: pool.get_session(timeout=None))
    wait_waiting(pool, 1)
    assert not waiter.done.is_set()
    held.close()
    lease = waiter.result()
    assert lease.session is session
    stats = pool.stats()
    assert stats.waiting == 0
    assert stats.wait_count == 1
    assert stats.in_use == 1
    lease.close()
    pool.close()


@pytest.mark.timeout(30)
def test_default_timeout_is_wait_forever(factory: Factory) -> None:
    pool = factory.make_pool(1)
    assert pool.timeout is None
    held = pool.get_session()
    waiter = Worker(pool.get_session)
    wait_waiting(pool, 1)
    held.close()
    waiter.result().close()
    pool.close()


@pytest.mark.timeout(30)
def test_huge_finite_timeout_waits_like_none(factory: Factory) -> None:
    # 1e10 s is finite but beyond threading.TIMEOUT_MAX on most platforms; it must still wait.
    pool = factory.make_pool(1)
    held = pool.get_session()
    waiter = Worker(lambda: pool.get_session(timeout=1e10))
    wait_until(lambda: pool.stats().waiting == 1 or waiter.done.is_set(), "the waiter queued or failed")
    assert not waiter.done.is_set(), f"get_session(timeout=1e10) failed: {waiter.error!r}"
    held.close()
    waiter.result().close()
    assert pool.stats().waiting == 0
    pool.close()


@pytest.mark.timeout(30)
def test_timed_out_waiter_does_not_take_a_later_release(factory: Factory) -> None:
    pool = factory.make_pool(1)
    held = pool.get_session()
    with pytest.raises(PoolTimeout):
        pool.get_session(timeout=0.05)
    waiter = Worker(lambda: pool.get_session(timeout=DEADLINE))
    wait_waiting(pool, 1)
    held.close()
    waiter.result().close()
    assert pool.stats().idle == 1
    pool.close()


# --------------------------------------------------------------------------------------- FIFO


class Queued:
    """A waiter thread that records when it is served, then holds its session until told."""

    def __init__(self, pool: Pool[Session], name: str, order: list[str]) -> None:
        self.name = name
        self.release = threading.Event()
        self.session: Session | None = None

        def run() -> None:
            lease = pool.get_session(timeout=DEADLINE)
            self.session = lease.session
            order.append(name)
            assert self.release.wait(DEADLINE)
            lease.close()

        self.worker = Worker(run, name=name)


def queue_up(pool: Pool[Session], names: str, order: list[str]) -> list[Queued]:
    """One waiter per name, each queued (waiting) before the next one starts."""
    already = pool.stats().waiting
    waiters = []
    for n, name in enumerate(names, start=1):
        waiters.append(Queued(pool, name, order))
        wait_waiting(pool, already + n)
    return waiters


@pytest.mark.timeout(30)
def test_waiters_are_served_first_come_first_served(factory: Factory) -> None:
    pool = factory.make_pool(1)
    held = pool.get_session()
    order: list[str] = []
    waiters = queue_up(pool, "ABC", order)
    held.close()
    for n, waiter in enumerate(waiters, start=1):
        wait_until(lambda n=n: len(order) == n, f"{n} waiter(s) served")
        assert pool.stats().waiting == 3 - n
        waiter.release.set()
        waiter.worker.result()
    assert order == ["A", "B", "C"]
    assert pool.stats().in_use == 0
    pool.close()


@pytest.mark.timeout(30)
def test_newcomer_cannot_overtake_the_waiter_a_release_was_handed_to(factory: Factory) -> None:
    pool = factory.make_pool(1)
    held = pool.get_session()
    session = held.session
    order: list[str] = []
    first = Queued(pool, "A", order)
    wait_waiting(pool, 1)
    held.close()  # handed to A, even if A's thread has not run yet
    with pytest.raises(PoolTimeout):
        pool.get_session(timeout=0)  # the newcomer finds nothing
    wait_until(lambda: order == ["A"], "A served")
    assert first.session is session
    first.release.set()
    first.worker.result()
    pool.close()


@pytest.mark.timeout(30)
def test_newcomer_after_a_release_queues_behind_existing_waiters(factory: Factory) -> None:
    pool = factory.make_pool(1)
    held = pool.get_session()
    order: list[str] = []
    a, b = queue_up(pool, "AB", order)
    held.close()
    wait_until(lambda: order == ["A"], "A served")
    (newcomer,) = queue_up(pool, "N", order)  # behind B
    a.release.set()
    wait_until(lambda: len(order) == 2, "second waiter served")
    b.release.set()
    wait_until(lambda: len(order) == 3, "third waiter served")
    newcomer.release.set()
    for q in (a, b, newcomer):
        q.worker.result()
    assert order == ["A", "B", "N"]
    pool.close()


@pytest.mark.timeout(30)
def test_freed_slot_goes_to_the_oldest_waiter(factory: Factory) -> None:
    # invalidate() frees a slot rather than returning a session: the oldest waiter creates.
    pool = factory.make_pool(1)
    held = pool.get_session()
    order: list[str] = []
    a, b = queue_up(pool, "AB", order)
    held.invalidate()
    wait_until(lambda: order == ["A"], "A served")
    assert a.session is not None and a.session.number == 2  # a new session
    a.release.set()
    wait_until(lambda: order == ["A", "B"], "B served")
    b.release.set()
    for q in (a, b):
        q.worker.result()
    pool.close()


@pytest.mark.timeout(30)
def test_a_waiter_handed_a_session_that_fails_its_check_keeps_its_place() -> None:
    # A is served first: the session handed to it is dead (check raises), so it is destroyed and
    # A gets the freed slot, not B, who came later.
    factory = Factory(PingSession)
    pool = Pool(1, factory.create, destroy_factory=factory.destroy, check=lambda s: s.ping())
    held = pool.get_session()
    dead = held.session
    order: list[str] = []
    a, b = queue_up(pool, "AB", order)
    dead.dead = True
    held.close()
    wait_until(lambda: len(order) == 1, "one waiter served")
    assert order == ["A"], "B overtook A after the session handed to A failed its check"
    a.release.set()
    wait_until(lambda: len(order) == 2, "both waiters served")
    b.release.set()
    for q in (a, b):
        q.worker.result()
    assert factory.destroyed == [dead]
    pool.close()


@pytest.mark.timeout(30)
def test_max_waiting_rejects_at_once(factory: Factory) -> None:
    pool = factory.make_pool(1, max_waiting=1)
    held = pool.get_session()
    waiter = Worker(lambda: pool.get_session(timeout=DEADLINE))
    wait_waiting(pool, 1)
    with pytest.raises(PoolExhausted) as excinfo:
        pool.get_session(timeout=DEADLINE)
    assert isinstance(excinfo.value, PoolError)
    assert pool.stats().rejected == 1
    held.close()
    waiter.result().close()
    pool.close()


# ----------------------------------------------------------------------------- parallel creation


@pytest.mark.timeout(30)
def test_sessions_are_created_in_parallel() -> None:
    # 8 callers on an empty pool of 8 whose factory takes 50 ms: serial creation would take 400 ms.
    n = 8
    factory = Factory(delay=0.05)
    pool = factory.make_pool(n)
    ready = threading.Barrier(n + 1)
    holding = threading.Barrier(n + 1)
    done = threading.Event()

    def take() -> Lease[Session]:
        ready.wait(DEADLINE)
        lease = pool.get_session(timeout=DEADLINE)
        holding.wait(DEADLINE)
        assert done.wait(DEADLINE)
        return lease

    workers = [Worker(take, name=f"c{i}") for i in range(n)]
    ready.wait(DEADLINE)
    started = time.monotonic()
    holding.wait(DEADLINE)
    elapsed = time.monotonic() - started
    done.set()
    leases = [w.result() for w in workers]
    assert len({id(lease.session) for lease in leases}) == n
    assert factory.create_calls == n
    assert elapsed < 0.3, f"8 creations of 50 ms took {elapsed:.3f}s: not in parallel"
    for lease in leases:
        lease.close()
    pool.close()


@pytest.mark.timeout(30)
def test_a_slow_creation_does_not_block_idle_checkouts(factory: Factory) -> None:
    pool = factory.make_pool(2)
    pool.get_session().close()  # one idle session
    idle_one = factory.created[0]
    held = pool.get_session()
    assert held.session is idle_one
    factory.gate = threading.Event()
    creator = Worker(pool.get_session)
    assert factory.entered.acquire(timeout=DEADLINE)  # the factory runs...
    held.close()
    again = pool.get_session(timeout=0)  # ...and the idle session is still handed out at once
    assert again.session is idle_one
    assert pool.stats().creating == 1
    factory.gate.set()
    creator.result().close()
    again.close()
    pool.close()


@pytest.mark.timeout(30)
@pytest.mark.parametrize("options", [{}, {"reset": lambda s: None, "max_usage": 7}], ids=["plain", "hooks"])
def test_chaos_with_timeouts_destroy_all_and_resize(options: dict[str, Any]) -> None:
    """Workers lease with short timeouts and release in every way while another thread keeps
    calling destroy_all_sessions() and resize(): no session is ever leased twice, nothing leaks."""
    factory = Factory()
    pool = factory.make_pool(4, **options)
    threads, rounds, max_size = 16, 120, 6
    holders: dict[int, str] = {}
    holders_lock = threading.Lock()
    violations: list[str] = []
    stop = threading.Event()
    start = threading.Barrier(threads + 1)

    def work() -> None:
        name = threading.current_thread().name
        rng = random.Random(name)
        start.wait(DEADLINE)
        for _ in range(rounds):
            try:
                lease = pool.get_session(timeout=rng.choice([0, 0.001, 0.01, 1.0]))
            except PoolTimeout:
                continue
            session = lease.session
            with holders_lock:
                if id(session) in holders:
                    violations.append(f"{session!r} held by {holders[id(session)]} and {name}")
                holders[id(session)] = name
                if factory.alive > max_size:
                    violations.append(f"{factory.alive} alive > {max_size}")
            with holders_lock:
                del holders[id(session)]
            how = rng.randrange(4)
            if how == 0:
                lease.close()
            elif how == 1:
                lease.invalidate()
            elif how == 2:
                with lease:
                    pass
            else:
                del lease

    def chaos() -> None:
        rng = random.Random("chaos")
        start.wait(DEADLINE)
        while not stop.is_set():
            action = rng.randrange(3)
            if action == 0:
                pool.destroy_all_sessions()
            elif action == 1:
                pool.resize(rng.randint(2, max_size))
            else:
                stats = pool.stats()
                if stats.size > max_size:
                    violations.append(f"stats().size {stats.size} > {max_size}")

    old_interval = sys.getswitchinterval()
    sys.setswitchinterval(1e-5)
    try:
        workers = [Worker(work, name=f"w{i}") for i in range(threads)]
        chaotic = Worker(chaos, name="chaos")
        for worker in workers:
            worker.result(timeout=25)
        stop.set()
        chaotic.result()
    finally:
        sys.setswitchinterval(old_interval)
    assert violations == []
    assert factory.violations == []
    # A lease dropped by `del` in a pool with a reset is given back by the finalizer thread
    # (a finalizer runs no user code): wait for what is still queued there.
    assert _finalizer.flush(DEADLINE)
    stats = pool.stats()
    assert (stats.in_use, stats.waiting, stats.creating) == (0, 0, 0), stats
    assert stats.size == stats.idle
    assert stats.created - stats.destroyed == stats.size
    assert factory.alive == stats.size
    pool.close()
    assert factory.alive == 0
    assert pool.stats().size == 0
