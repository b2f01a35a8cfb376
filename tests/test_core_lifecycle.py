"""A session's life: creation errors, check, reset, retirement limits, min_idle, close,
destroy_all_sessions, stats() and repr()."""

from __future__ import annotations

import logging
import threading
import time
from typing import Any

import pytest
from conftest import (
    DEADLINE,
    Factory,
    FactoryError,
    FakeClock,
    PingSession,
    Session,
    Worker,
    wait_until,
    wait_waiting,
)

from pooling import DestroyReason, Pool, PoolClosed, PoolError, PoolTimeout


def reasons_recorder() -> tuple[list[tuple[Session, DestroyReason]], Any]:
    seen: list[tuple[Session, DestroyReason]] = []

    def on_destroy(session: Session, reason: DestroyReason) -> None:
        seen.append((session, reason))

    return seen, on_destroy


def assert_quiescent(pool: Pool[Any]) -> None:
    """The bookkeeping identities that must hold when nothing is in flight."""
    s = pool.stats()
    assert s.creating == 0
    assert s.size == s.idle + s.in_use, s
    assert s.created - s.destroyed == s.size, s
    assert 0 <= s.size <= s.pool_size, s


# ------------------------------------------------------------------------------ creation errors


def test_factory_error_reaches_the_caller_unchanged_and_frees_the_slot(factory: Factory) -> None:
    pool = factory.make_pool(1, backoff_initial=0)
    error = FactoryError("db is down")
    factory.error = error
    factory.fail_next = 1
    with pytest.raises(FactoryError) as excinfo:
        pool.get_session(timeout=0)
    assert excinfo.value is error  # the very object, not wrapped
    stats = pool.stats()
    assert stats.size == 0
    assert stats.creating == 0
    assert stats.create_errors == 1
    with pool.get_session(timeout=0) as conn:  # the next call creates
        assert conn is factory.created[0]
    assert factory.create_calls == 2
    assert_quiescent(pool)
    pool.close()


@pytest.mark.timeout(30)
def test_after_a_factory_error_the_next_call_creates_with_default_backoff(factory: Factory) -> None:
    pool = factory.make_pool(2)
    factory.fail_next = 1
    with pytest.raises(FactoryError):
        pool.get_session()
    assert pool.stats().size == 0
    with pool.get_session(timeout=DEADLINE) as conn:  # waits out the (short) back-off at most
        assert conn is factory.created[0]
    assert pool.stats().create_errors == 1
    pool.close()


def test_while_backing_off_the_caller_gets_the_factorys_error_at_its_deadline(factory: Factory) -> None:
    pool = factory.make_pool(2, backoff_initial=30, backoff_max=30)
    factory.fail_next = 1
    with pytest.raises(FactoryError):
        pool.get_session()
    with pytest.raises(FactoryError):  # a copy of the driver's error rather than a bare timeout
        pool.get_session(timeout=0.01)
    assert factory.create_calls == 1  # backing off: no second attempt yet
    assert pool.stats().size == 0
    pool.close()


def test_factory_base_exception_frees_the_slot(factory: Factory) -> None:
    pool = factory.make_pool(1)
    factory.error = KeyboardInterrupt()
    factory.fail_next = 1
    with pytest.raises(KeyboardInterrupt):
        pool.get_session()
    assert pool.stats().size == 0
    pool.get_session(timeout=0).close()  # not backing off: it was not the factory's failure
    pool.close()


def test_factory_returning_none_is_a_pool_error_and_frees_the_slot(factory: Factory) -> None:
    pool = factory.make_pool(1, backoff_initial=0, name="nones")
    factory.return_none = 1
    with pytest.raises(PoolError) as excinfo:
        pool.get_session(timeout=0)
    assert "None" in str(excinfo.value)
    assert "nones" in str(excinfo.value)
    assert pool.stats().size == 0
    pool.get_session(timeout=0).close()
    assert_quiescent(pool)
    pool.close()


@pytest.mark.timeout(30)
def test_factory_error_in_a_waiter_granted_a_slot(factory: Factory) -> None:
    pool = factory.make_pool(1, backoff_initial=0)
    held = pool.get_session()
    waiter = Worker(lambda: pool.get_session(timeout=DEADLINE))
    wait_waiting(pool, 1)
    factory.fail_next = 1
    held.invalidate()  # frees the slot: the waiter creates, and fails
    with pytest.raises(FactoryError):
        waiter.result()
    assert pool.stats().size == 0
    assert pool.stats().waiting == 0
    pool.get_session(timeout=0).close()
    pool.close()


def test_destroyer_error_is_logged_not_raised_and_frees_the_slot(
    factory: Factory, caplog: pytest.LogCaptureFixture
) -> None:
    pool = factory.make_pool(1, name="logged")
    factory.destroy_error = RuntimeError("close failed")
    lease = pool.get_session()
    with caplog.at_level(logging.ERROR, logger="pooling"):
        lease.invalidate()  # does not raise
    records = [r for r in caplog.records if r.name == "pooling" and r.levelno >= logging.ERROR]
    assert records, caplog.text
    assert "logged" in records[0].getMessage()
    assert records[0].exc_info is not None and records[0].exc_info[1] is factory.destroy_error
    stats = pool.stats()
    assert stats.size == 0
    assert stats.destroyed == 1
    pool.get_session(timeout=0).close()
    with caplog.at_level(logging.ERROR, logger="pooling"):
        pool.close()  # does not raise either
    assert pool.stats().size == 0


def test_sessions_without_ping_work() -> None:
    pool: Pool[object] = Pool(2, object)
    a = pool.get_session()
    assert type(a.session) is object
    a.close()
    with pool.get_session() as conn:
        assert type(conn) is object
    pool.close()


def test_hook_errors_are_logged_and_ignored(factory: Factory, caplog: pytest.LogCaptureFixture) -> None:
    def boom(*args: Any) -> None:
        raise RuntimeError("hook")

    pool = factory.make_pool(1, on_create=boom, on_checkout=boom, on_checkin=boom, on_destroy=boom)
    with caplog.at_level(logging.ERROR, logger="pooling"):
        with pool.get_session() as conn:
            assert conn is factory.created[0]
        pool.close()
    logged = {r.getMessage() for r in caplog.records if r.name == "pooling"}
    for hook in ("on_create", "on_checkout", "on_checkin", "on_destroy"):
        assert any(hook in m for m in logged), (hook, logged)
    assert factory.destroyed == factory.created


# ---------------------------------------------------------------------------------------- check


def test_check_runs_before_an_idle_session_is_handed_out() -> None:
    factory = Factory(PingSession)
    checked: list[Session] = []

    def check(session: PingSession) -> None:
        checked.append(session)
        session.ping()

    pool = Pool(2, factory.create, destroy_factory=factory.destroy, check=check, check_interval=0)
    first = pool.get_session()
    assert checked == []  # a brand-new session is not checked
    s1 = first.session
    first.close()
    with pool.get_session() as conn:
        assert conn is s1
        assert checked == [s1]  # checked before it was handed out
    assert pool.stats().check_failures == 0
    pool.close()


def test_failed_check_destroys_that_session_and_tries_the_next() -> None:
    factory = Factory(PingSession)
    seen, on_destroy = reasons_recorder()
    pool = Pool(
        3, factory.create, destroy_factory=factory.destroy, check=lambda s: s.ping(), on_destroy=on_destroy
    )
    leases = [pool.get_session() for _ in range(2)]
    s1, s2 = (lease.session for lease in leases)
    for lease in leases:
        lease.close()
    s1.dead = True
    s2.dead = True
    with pool.get_session(timeout=0) as conn:  # both idle ones fail: a new one is made
        assert conn is factory.created[2]
    assert sorted(s.number for s in factory.destroyed) == [1, 2]
    assert seen == [(s2, DestroyReason.FAILED_CHECK), (s1, DestroyReason.FAILED_CHECK)]
    stats = pool.stats()
    assert stats.check_failures == 2
    assert_quiescent(pool)
    pool.close()


def test_failed_check_falls_back_to_another_idle_session() -> None:
    factory = Factory(PingSession)
    pool = Pool(3, factory.create, destroy_factory=factory.destroy, check=lambda s: s.ping())
    leases = [pool.get_session() for _ in range(2)]
    s1, s2 = (lease.session for lease in leases)
    for lease in leases:
        lease.close()
    s2.dead = True  # the most recently returned one: tried first
    with pool.get_session(timeout=0) as conn:
        assert conn is s1
    assert factory.destroyed == [s2]
    assert factory.create_calls == 2
    pool.close()


def test_check_interval_skips_recently_returned_sessions(clock: FakeClock) -> None:
    checked: list[Session] = []
    factory = Factory()
    pool = Pool(1, factory.create, check=checked.append, check_interval=10)
    pool.get_session().close()
    clock.advance(5)
    pool.get_session().close()
    assert checked == []  # returned 5 s ago < 10 s: bypassed
    clock.advance(10.5)
    pool.get_session().close()
    assert checked == [factory.created[0]]  # idle for 10.5 s: checked
    pool.close()


def test_check_interval_zero_checks_every_time() -> None:
    checked: list[Session] = []
    factory = Factory()
    pool = Pool(1, factory.create, check=checked.append, check_interval=0)
    for _ in range(3):
        pool.get_session().close()
    assert len(checked) == 2
    pool.close()


# ---------------------------------------------------------------------------------------- reset


def test_reset_runs_on_return() -> None:
    reset: list[Session] = []
    factory = Factory()
    pool = Pool(1, factory.create, reset=reset.append)
    lease = pool.get_session()
    assert reset == []
    lease.close()
    assert reset == [factory.created[0]]
    assert pool.stats().idle == 1
    pool.close()


def test_failed_reset_destroys_the_session(factory: Factory) -> None:
    seen, on_destroy = reasons_recorder()

    def reset(session: Session) -> None:
        raise RuntimeError("cannot roll back")

    pool = factory.make_pool(1, reset=reset, on_destroy=on_destroy)
    lease = pool.get_session()
    session = lease.session
    lease.close()
    assert factory.destroyed == [session]
    assert seen == [(session, DestroyReason.FAILED_RESET)]
    with pool.get_session(timeout=0) as conn:
        assert conn is not session
    assert_quiescent(pool)
    pool.close()


def test_reset_is_not_run_on_invalidate(factory: Factory) -> None:
    reset: list[Session] = []
    pool = factory.make_pool(1, reset=reset.append)
    pool.get_session().invalidate()
    assert reset == []
    assert len(factory.destroyed) == 1
    pool.close()


# ---------------------------------------------------------------------------- retirement limits


def test_max_usage(factory: Factory) -> None:
    seen, on_destroy = reasons_recorder()
    pool = factory.make_pool(1, max_usage=2, on_destroy=on_destroy)
    first = pool.get_session()
    s1 = first.session
    first.close()
    second = pool.get_session()
    assert second.session is s1
    assert factory.destroyed == []
    second.close()  # second use: used up
    assert factory.destroyed == [s1]
    assert seen == [(s1, DestroyReason.USED_UP)]
    with pool.get_session(timeout=0) as conn:
        assert conn is not s1
    assert_quiescent(pool)
    pool.close()


def test_max_lifetime_retires_idle_sessions_at_checkout(clock: FakeClock, factory: Factory) -> None:
    seen, on_destroy = reasons_recorder()
    pool = factory.make_pool(1, max_lifetime=10, lifetime_jitter=0, on_destroy=on_destroy)
    pool.get_session().close()
    s1 = factory.created[0]
    clock.advance(5)
    with pool.get_session(timeout=0) as conn:
        assert conn is s1
    clock.advance(6)  # 11 s old
    with pool.get_session(timeout=0) as conn:
        assert conn is not s1
    assert factory.destroyed == [s1]
    assert seen == [(s1, DestroyReason.TOO_OLD)]
    assert_quiescent(pool)
    pool.close()


def test_max_lifetime_retires_sessions_on_return(clock: FakeClock, factory: Factory) -> None:
    pool = factory.make_pool(1, max_lifetime=10, lifetime_jitter=0)
    lease = pool.get_session()
    clock.advance(11)
    lease.close()
    assert factory.destroyed == [factory.created[0]]
    assert pool.stats().size == 0
    pool.close()


def test_max_lifetime_jitter_only_shortens(clock: FakeClock, factory: Factory) -> None:
    pool = factory.make_pool(8, max_lifetime=10, lifetime_jitter=0.5)
    leases = [pool.get_session() for _ in range(8)]
    for lease in leases:
        lease.close()
    clock.advance(4.9)  # below 10 * (1 - 0.5): nobody expired yet
    leases = [pool.get_session(timeout=0) for _ in range(8)]
    assert factory.destroyed == []
    clock.advance(5.2)  # 10.1 s: everybody expired
    for lease in leases:
        lease.close()
    assert len(factory.destroyed) == 8
    pool.close()


def test_max_idle_time_at_checkout(clock: FakeClock, factory: Factory) -> None:
    seen, on_destroy = reasons_recorder()
    pool = factory.make_pool(2, max_idle_time=10, on_destroy=on_destroy)
    pool.get_session().close()
    s1 = factory.created[0]
    clock.advance(9)
    with pool.get_session(timeout=0) as conn:  # idle 9 s: kept
        assert conn is s1
    clock.advance(11)
    with pool.get_session(timeout=0) as conn:  # idle 11 s: retired
        assert conn is not s1
    assert seen == [(s1, DestroyReason.TOO_IDLE)]
    pool.close()


#: The maintainer's delays that tests tolerate: far above what the options ask for, far below
#: the maintainer's 5 s idle round, so that a maintainer which is not told about new work fails.
MAINTAINER_SLACK = 2.0


@pytest.mark.timeout(30)
def test_max_idle_time_in_the_background(factory: Factory) -> None:
    pool = factory.make_pool(2, max_idle_time=0.1)
    pool.get_session().close()
    returned = time.monotonic()
    assert factory.destroyed_event.wait(MAINTAINER_SLACK), (
        "the maintainer did not retire a session idle for 0.1 s within 2 s"
    )
    assert time.monotonic() - returned >= 0.09  # not before its time
    wait_until(lambda: pool.stats().size == 0, "the slot freed")
    assert factory.destroyed == factory.created
    pool.close()


@pytest.mark.timeout(30)
def test_min_idle_is_filled_in_the_background_and_refilled_after_a_destroy() -> None:
    factory = Factory()
    two = threading.Event()
    factory.on_create_hook = lambda s: two.set() if len(factory.created) >= 2 else None
    pool = factory.make_pool(4, min_idle=2)
    assert two.wait(DEADLINE), "the maintainer did not create min_idle sessions"
    wait_until(lambda: pool.stats().idle == 2, "2 idle sessions")
    assert factory.create_calls == 2
    lease = pool.get_session(timeout=0)  # one of the ready ones, no creation
    assert lease.session in factory.created[:2]
    assert factory.create_calls == 2
    lease.invalidate()  # a slot is freed: the maintainer is told and refills
    wait_until(lambda: pool.stats().idle == 2, "min_idle refilled after a destroy")
    assert factory.create_calls == 3
    stats = pool.stats()
    assert (stats.size, stats.in_use) == (2, 0)
    pool.close()
    wait_until(lambda: factory.alive == 0, "every session destroyed after close")


@pytest.mark.timeout(30)
def test_min_idle_is_refilled_after_checkouts() -> None:
    factory = Factory()
    pool = factory.make_pool(4, min_idle=2)
    wait_until(lambda: pool.stats().idle == 2, "2 idle sessions")
    leases = [pool.get_session(timeout=0), pool.get_session(timeout=0)]  # idle: 0 < min_idle
    wait_until(lambda: pool.stats().idle == 2, "min_idle refilled after checkouts", MAINTAINER_SLACK)
    assert pool.stats().size == 4
    for lease in leases:
        lease.close()
    pool.close()


@pytest.mark.timeout(30)
def test_min_idle_creation_is_retried_after_the_back_off(factory: Factory) -> None:
    factory.fail_next = 2
    pool = factory.make_pool(2, min_idle=1, backoff_initial=0.01, backoff_max=0.02)
    wait_until(
        lambda: pool.stats().idle == 1,
        "min_idle filled after 2 creation failures with back-off <= 0.02 s",
        MAINTAINER_SLACK,
    )
    assert pool.stats().create_errors == 2
    pool.close()


@pytest.mark.timeout(30)
def test_min_idle_is_kept_despite_max_idle_time(clock: FakeClock) -> None:
    factory = Factory()
    pool = factory.make_pool(4, min_idle=1, max_idle_time=10)
    wait_until(lambda: pool.stats().idle == 1, "min_idle filled")
    leases = [pool.get_session(timeout=0) for _ in range(3)]
    leases[0].close()
    leases[1].close()
    clock.advance(11)  # both idle ones are past max_idle_time
    leases[2].invalidate()  # frees a slot, which wakes the maintainer
    wait_until(lambda: len(factory.destroyed) == 2, "one idle session retired")
    wait_until(lambda: pool.stats().size == 1, "the slots freed")
    stats = pool.stats()
    assert stats.idle == 1  # min_idle kept
    assert factory.create_calls == 3  # kept, not destroyed and re-made
    pool.close()


# ------------------------------------------------------------------------------------------ close


def test_close_destroys_idle_now_and_leased_on_release(factory: Factory) -> None:
    seen, on_destroy = reasons_recorder()
    pool = factory.make_pool(3, on_destroy=on_destroy)
    leased = pool.get_session()
    idle = pool.get_session()
    idle_session = idle.session
    idle.close()
    pool.close()
    assert pool.closed
    assert factory.destroyed == [idle_session]
    assert not leased.session.closed  # still in use
    leased_session = leased.session
    leased.close()
    assert factory.destroyed == [idle_session, leased_session]
    assert all(reason is DestroyReason.CLOSED for _, reason in seen)
    assert pool.stats().size == 0
    assert factory.alive == 0


def test_get_session_on_a_closed_pool(factory: Factory) -> None:
    pool = factory.make_pool(1, name="shut")
    pool.close()
    with pytest.raises(PoolClosed) as excinfo:
        pool.get_session()
    assert isinstance(excinfo.value, PoolError)
    assert "shut" in str(excinfo.value)
    with pytest.raises(PoolClosed):
        pool.get_session(timeout=0)
    assert factory.create_calls == 0


def test_close_is_idempotent(factory: Factory) -> None:
    pool = factory.make_pool(2)
    pool.get_session().close()
    pool.close()
    pool.close()
    assert len(factory.destroyed) == 1
    assert factory.violations == []


@pytest.mark.timeout(30)
def test_close_wakes_waiters_with_pool_closed(factory: Factory) -> None:
    pool = factory.make_pool(1)
    held = pool.get_session()
    waiters = [Worker(lambda: pool.get_session(timeout=DEADLINE), name=f"w{i}") for i in range(3)]
    wait_waiting(pool, 3)
    pool.close()
    for waiter in waiters:
        assert isinstance(waiter.exception(), PoolClosed)
    assert pool.stats().waiting == 0
    held.close()
    assert factory.alive == 0


@pytest.mark.timeout(30)
def test_close_while_a_session_is_being_created(factory: Factory) -> None:
    factory.gate = threading.Event()
    pool = factory.make_pool(1)
    creator = Worker(pool.get_session)
    assert factory.entered.acquire(timeout=DEADLINE)
    pool.close()
    factory.gate.set()
    assert isinstance(creator.exception(), PoolClosed)
    assert factory.destroyed == factory.created  # the new session was not leaked
    assert pool.stats().size == 0


def test_with_pool_closes_it(factory: Factory) -> None:
    with factory.make_pool(2) as pool:
        assert isinstance(pool, Pool)
        pool.get_session().close()
        assert not pool.closed
    assert pool.closed
    assert factory.destroyed == factory.created


def test_with_pool_closes_it_on_error(factory: Factory) -> None:
    with pytest.raises(ZeroDivisionError), factory.make_pool(2) as pool:
        pool.get_session().close()
        1 / 0  # noqa: B018
    assert pool.closed
    assert factory.alive == 0


# ---------------------------------------------------------------------------- destroy_all_sessions


@pytest.mark.parametrize("spelling", ["destroy_all_sessions", "destory_all_sessions"])
def test_destroy_all_sessions(factory: Factory, spelling: str) -> None:
    seen, on_destroy = reasons_recorder()
    pool = factory.make_pool(3, on_destroy=on_destroy)
    leased = pool.get_session()
    idle = pool.get_session()
    idle_session = idle.session
    idle.close()
    getattr(pool, spelling)()
    assert factory.destroyed == [idle_session]  # idle: now
    leased_session = leased.session
    leased.close()
    assert factory.destroyed == [idle_session, leased_session]  # leased: on release
    assert {reason for _, reason in seen} == {DestroyReason.DISCARDED}
    assert not pool.closed
    with pool.get_session(timeout=0) as conn:  # still usable: a new session
        assert conn not in (idle_session, leased_session)
    assert pool.stats().idle == 1
    assert_quiescent(pool)
    pool.close()


@pytest.mark.timeout(30)
def test_destroy_all_sessions_with_a_waiter(factory: Factory) -> None:
    pool = factory.make_pool(1)
    held = pool.get_session()
    old = held.session
    waiter = Worker(lambda: pool.get_session(timeout=DEADLINE))
    wait_waiting(pool, 1)
    pool.destroy_all_sessions()
    held.close()  # destroyed, and its slot goes to the waiter
    lease = waiter.result()
    assert lease.session is not old
    assert factory.destroyed == [old]
    lease.close()
    pool.close()


# ----------------------------------------------------------------------------------- stats, repr


def test_stats_fields_are_consistent(factory: Factory) -> None:
    pool = factory.make_pool(4, name="counted")
    s = pool.stats()
    assert (s.name, s.pool_size, s.size, s.idle, s.in_use, s.waiting) == ("counted", 4, 0, 0, 0, 0)
    leases = [pool.get_session() for _ in range(3)]
    leases[0].close()
    leases[1].invalidate()
    s = pool.stats()
    assert (s.size, s.idle, s.in_use, s.created, s.destroyed, s.leases) == (2, 1, 1, 3, 1, 3)
    assert s.hold_count == 2
    assert s.hold_time_total >= 0
    assert s.hold_time_max <= s.hold_time_total
    assert sum(n for _, n in s.hold_histogram) == 2
    assert s.hold_histogram[-1][0] == float("inf")
    assert s.wait_count == 0
    assert s.hold_time_mean == s.hold_time_total / 2
    assert s.wait_time_mean == 0.0
    assert_quiescent(pool)
    leases[2].close()
    assert_quiescent(pool)
    pool.close()
    s = pool.stats()
    assert (s.size, s.idle, s.in_use) == (0, 0, 0)
    assert s.created == s.destroyed == 3


@pytest.mark.timeout(30)
def test_wait_figures_count_served_waits(factory: Factory) -> None:
    pool = factory.make_pool(1)
    held = pool.get_session()
    waiter = Worker(lambda: pool.get_session(timeout=DEADLINE))
    wait_waiting(pool, 1)
    held.close()
    waiter.result().close()
    s = pool.stats()
    assert s.wait_count == 1
    assert sum(n for _, n in s.wait_histogram) == 1
    assert s.wait_time_max == s.wait_time_total > 0
    pool.close()


def test_stats_is_a_frozen_snapshot(factory: Factory) -> None:
    pool = factory.make_pool(2)
    before = pool.stats()
    pool.get_session().close()
    assert before.created == 0
    with pytest.raises(AttributeError):
        before.size = 5  # type: ignore[misc]
    pool.close()


@pytest.mark.timeout(30)
def test_repr_shows_leased_idle_waiting(factory: Factory) -> None:
    pool = factory.make_pool(2, name="shown")
    a = pool.get_session()
    b = pool.get_session()
    b.close()
    assert "[1 leased, 1 idle, 0 waiting]" in repr(pool)
    assert "shown" in repr(pool)
    b = pool.get_session()
    waiter = Worker(lambda: pool.get_session(timeout=DEADLINE))
    wait_waiting(pool, 1)
    assert "[2 leased, 0 idle, 1 waiting]" in repr(pool)
    a.close()
    waiter.result().close()
    b.close()
    assert "[0 leased, 2 idle, 0 waiting]" in repr(pool)
    assert "SECRET" not in repr(pool)
    pool.close()
    assert "closed" in repr(pool)


def test_resize(factory: Factory) -> None:
    pool = factory.make_pool(2)
    leases = [pool.get_session() for _ in range(2)]
    with pytest.raises(PoolTimeout):
        pool.get_session(timeout=0)
    pool.resize(3)
    assert pool.pool_size == 3
    leases.append(pool.get_session(timeout=0))
    pool.resize(1)
    for lease in leases:
        lease.close()
    s = pool.stats()
    assert s.size == 1
    assert len(factory.destroyed) == 2
    assert_quiescent(pool)
    pool.close()


@pytest.mark.timeout(30)
def test_growing_the_pool_serves_waiters_at_once(factory: Factory) -> None:
    pool = factory.make_pool(1, timeout=float("inf"))  # inf: wait forever, like None
    held = pool.get_session()
    waiters = [Worker(pool.get_session, name=f"w{i}") for i in range(2)]
    wait_waiting(pool, 2)
    pool.resize(3)
    leases = [w.result() for w in waiters]
    assert {lease.session.number for lease in leases} == {2, 3}
    assert pool.stats().waiting == 0
    for lease in [held, *leases]:
        lease.close()
    assert_quiescent(pool)
    pool.close()
