"""Lease[T]: forwarding, `with`, release by close/del/exit, invalidate, LeaseReleased, repr."""

from __future__ import annotations

import sys
import threading
from typing import Any

import pytest
from conftest import DEADLINE, Factory, Session, Worker

from pooling import DestroyReason, Lease, LeaseReleased, Pool, PoolError, PoolTimeout


@pytest.fixture
def pool(factory: Factory) -> Any:
    pool = factory.make_pool(2, name="leasing")
    yield pool
    pool.close()


def test_attribute_reads_and_calls_are_forwarded(pool: Pool[Session], factory: Factory) -> None:
    lease = pool.get_session()
    session = factory.created[0]
    assert lease.cursor() == ("cursor", session.number)
    assert session.cursors == 1
    assert lease.number == session.number
    with pytest.raises(AttributeError):
        lease.no_such_attribute  # noqa: B018
    lease.close()


def test_attribute_writes_are_forwarded(pool: Pool[Session], factory: Factory) -> None:
    lease = pool.get_session()
    lease.autocommit = True
    assert factory.created[0].autocommit is True
    lease.new_attribute = "x"
    assert factory.created[0].new_attribute == "x"  # type: ignore[attr-defined]
    del lease.new_attribute
    assert not hasattr(factory.created[0], "new_attribute")
    assert "cursor" in dir(lease)
    lease.close()


def test_lease_is_a_lease(pool: Pool[Session]) -> None:
    lease = pool.get_session()
    assert isinstance(lease, Lease)
    assert not lease.released
    lease.close()
    assert lease.released


def test_leases_are_not_made_directly() -> None:
    with pytest.raises(TypeError):
        Lease()


def test_with_binds_the_session_itself_and_releases(pool: Pool[Session], factory: Factory) -> None:
    lease = pool.get_session()
    with lease as conn:
        assert conn is factory.created[0]
        assert type(conn) is Session  # the session, not the proxy
        assert pool.stats().in_use == 1
    assert lease.released
    assert pool.stats().in_use == 0
    assert pool.stats().idle == 1


def test_with_get_session_inline(pool: Pool[Session], factory: Factory) -> None:
    with pool.get_session() as conn:
        assert conn is factory.created[0]
        assert pool.stats().in_use == 1
    assert pool.stats().idle == 1


def test_with_releases_on_error(pool: Pool[Session]) -> None:
    with pytest.raises(KeyError), pool.get_session():
        raise KeyError("boom")
    assert pool.stats().in_use == 0
    assert pool.stats().idle == 1


def test_lease_session_property(pool: Pool[Session], factory: Factory) -> None:
    lease = pool.get_session()
    assert lease.session is factory.created[0]
    lease.close()


def test_close_is_idempotent(pool: Pool[Session], factory: Factory) -> None:
    lease = pool.get_session()
    lease.close()
    lease.close()
    lease.release()
    lease.__exit__(None, None, None)
    stats = pool.stats()
    assert stats.idle == 1
    assert stats.in_use == 0
    assert stats.hold_count == 1


def test_second_close_does_not_return_the_session_twice(pool: Pool[Session]) -> None:
    first = pool.get_session()
    first.close()
    second = pool.get_session()  # the same session, leased again
    first.close()  # a stale lease: must not give it back under the new holder's feet
    third = pool.get_session()
    assert third.session is not second.session
    second.close()
    third.close()


def test_enter_a_released_lease(pool: Pool[Session]) -> None:
    lease = pool.get_session()
    lease.close()
    with pytest.raises(LeaseReleased), lease:
        pass  # pragma: no cover


@pytest.mark.skipif(sys.implementation.name != "cpython", reason="relies on reference counting")
def test_dropping_the_last_reference_releases(pool: Pool[Session], factory: Factory) -> None:
    lease = pool.get_session()
    assert pool.stats().in_use == 1
    del lease
    stats = pool.stats()
    assert stats.in_use == 0
    assert stats.idle == 1
    with pool.get_session(timeout=0) as conn:
        assert conn is factory.created[0]


@pytest.mark.skipif(sys.implementation.name != "cpython", reason="relies on reference counting")
def test_unbound_get_session_call_releases_at_once(pool: Pool[Session], factory: Factory) -> None:
    pool.get_session().cursor()
    assert pool.stats().idle == 1
    assert pool.stats().in_use == 0


@pytest.mark.skipif(sys.implementation.name != "cpython", reason="relies on reference counting")
@pytest.mark.timeout(30)
def test_dropping_a_lease_serves_a_waiter(factory: Factory) -> None:
    pool = factory.make_pool(1)
    lease = pool.get_session()
    waiter = Worker(lambda: pool.get_session(timeout=DEADLINE))
    from conftest import wait_waiting

    wait_waiting(pool, 1)
    del lease
    got = waiter.result()
    assert got.session is factory.created[0]
    got.close()
    pool.close()


def test_invalidate_destroys_instead_of_returning(factory: Factory) -> None:
    seen: list[DestroyReason] = []
    pool = factory.make_pool(1, on_destroy=lambda s, r: seen.append(r))
    lease = pool.get_session()
    session = lease.session
    lease.invalidate()
    assert factory.destroyed == [session]
    assert seen == [DestroyReason.INVALIDATED]
    assert lease.released
    lease.invalidate()  # idempotent
    lease.close()
    assert factory.destroyed == [session]
    stats = pool.stats()
    assert (stats.size, stats.idle, stats.in_use, stats.destroyed) == (0, 0, 0, 1)
    with pool.get_session(timeout=0) as conn:
        assert conn is not session
    pool.close()


def test_after_release_everything_raises_lease_released(pool: Pool[Session]) -> None:
    lease = pool.get_session()
    lease.close()
    with pytest.raises(LeaseReleased):
        lease.session  # noqa: B018
    with pytest.raises(LeaseReleased):
        lease.cursor()
    with pytest.raises(LeaseReleased):
        lease.autocommit = True
    with pytest.raises(LeaseReleased):
        del lease.autocommit
    assert issubclass(LeaseReleased, PoolError)


def test_after_invalidate_attribute_access_raises(pool: Pool[Session]) -> None:
    lease = pool.get_session()
    lease.invalidate()
    with pytest.raises(LeaseReleased):
        lease.cursor()


def test_repr_names_the_pool_and_never_shows_the_session(pool: Pool[Session]) -> None:
    lease = pool.get_session()
    assert "SECRET" in repr(lease.session)  # the fake session's repr holds a secret...
    text = repr(lease)
    assert "leasing" in text
    assert "SECRET" not in text  # ...which the lease never shows
    assert "Session" in text
    lease.close()
    text = repr(lease)
    assert "leasing" in text
    assert "released" in text
    assert "SECRET" not in text
    with pytest.raises(LeaseReleased) as excinfo:
        lease.cursor()
    assert "SECRET" not in str(excinfo.value)


@pytest.mark.timeout(30)
def test_a_lease_may_be_released_from_another_thread(pool: Pool[Session]) -> None:
    lease = pool.get_session()
    Worker(lease.close).result()
    assert pool.stats().idle == 1
    assert pool.stats().in_use == 0


@pytest.mark.timeout(30)
def test_concurrent_close_of_one_lease_releases_it_once(factory: Factory) -> None:
    """Two threads close the same lease at once (a watchdog and the owner, say). Thread 1 is
    paused inside close() right after it took the lease's session record, before it gave it back
    (with sys.settrace: deterministic); meanwhile thread 2 closes the lease and leases again.
    Whatever the interleaving, one session must never end up leased to two callers."""
    pool = factory.make_pool(2)
    lease = pool.get_session()
    paused = threading.Event()
    resume = threading.Event()
    close_code = type(lease).close.__code__

    def local_trace(frame: Any, event: str, arg: Any) -> Any:
        # Pause at the first line of close() at which it holds the session's record in a local
        # (read, or popped, from the lease), before it gives it back.
        if (
            event == "line"
            and not paused.is_set()
            and any(v is not None and v is not lease for v in frame.f_locals.values())
        ):
            paused.set()
            resume.wait(DEADLINE)
        return local_trace

    def global_trace(frame: Any, event: str, arg: Any) -> Any:
        return local_trace if frame.f_code is close_code else None

    def close_traced() -> None:
        sys.settrace(global_trace)
        try:
            lease.close()
        finally:
            sys.settrace(None)

    first = Worker(close_traced, name="closer-1")
    try:
        if not paused.wait(2):
            pytest.skip("close() has no window between reading and clearing the lease")
        lease.close()  # thread 2 (here): the session goes back...
        again = pool.get_session()  # ...and is leased again
    finally:
        resume.set()
    first.result()
    other = pool.get_session()
    assert other.session is not again.session, "one session leased to two callers at once"
    stats = pool.stats()
    assert stats.in_use == 2
    assert stats.idle == 0
    again.close()
    other.close()
    pool.close()


def test_a_deep_copy_of_a_lease_never_brings_a_phantom_session_into_the_pool(factory: Factory) -> None:
    # dataclasses.asdict() deep-copies field values: a lease in a dataclass gets deep-copied.
    import copy
    import dataclasses
    import gc

    @dataclasses.dataclass
    class Context:
        conn: Lease[Session]

    pool = factory.make_pool(1)
    lease = pool.get_session()
    for make_copy in (lambda: copy.deepcopy(lease), lambda: dataclasses.asdict(Context(lease))):
        try:
            duplicate = make_copy()
        except TypeError:
            continue  # refusing to copy a lease is fine
        del duplicate
        gc.collect()
        stats = pool.stats()
        assert (stats.in_use, stats.idle, stats.size) == (1, 0, 1), stats
        with pytest.raises(PoolTimeout):  # nothing to hand out: the only session is leased
            pool.get_session(timeout=0)
    assert factory.create_calls == 1
    lease.close()
    stats = pool.stats()
    assert (stats.in_use, stats.idle, stats.size) == (0, 1, 1), stats
    pool.close()
