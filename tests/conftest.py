"""Shared helpers of the core test suite (tests/test_core_*.py).

* `Session`: a distinct fake session per factory call (``repr`` holds a fake secret, it has a
  ``cursor()`` and settable attributes such as ``autocommit``).
* `Factory`: a recording fake factory: counts create/destroy calls, tracks how many sessions are
  alive (from the start of a factory call until its destroyer returned) and the most ever alive,
  and injects errors on demand.
* `wait_until`: bounded polling for a condition; fails the test after a generous deadline. It is a
  handshake, never a sleep that hopes another thread got somewhere.
* `Worker`: a thread running one call, whose result or exception is collected with a bound.
* `FakeClock`: a controllable replacement for ``pooling._pool._monotonic``.
* `GCInLock` / `wrap_lock`: run a garbage collection inside one of the pool's critical sections.
"""

from __future__ import annotations

import gc
import itertools
import threading
import time
from collections.abc import Callable, Iterator
from typing import Any

import pytest

import pooling._pool
from pooling import Lease, Pool

#: How long a handshake may take before the test is failed. Generous: CI machines can be slow.
DEADLINE = 10.0


def wait_until(predicate: Callable[[], object], what: str = "condition", timeout: float = DEADLINE) -> None:
    """Poll ``predicate`` until it is true; fail the test if it is not within ``timeout`` seconds."""
    deadline = time.monotonic() + timeout
    while not predicate():
        if time.monotonic() > deadline:
            pytest.fail(f"timed out after {timeout}s waiting for: {what}")
        time.sleep(0.0005)  # a polling interval, not a synchronisation


def wait_waiting(pool: Pool[Any], n: int) -> None:
    """Wait until exactly ``n`` callers are queued in ``pool``."""
    wait_until(lambda: pool.stats().waiting == n, f"{n} waiter(s) queued in {pool!r}")


class Session:
    """A fake session: distinct per factory call, records what was done to it."""

    def __init__(self, number: int) -> None:
        self.number = number
        self.closed = False
        self.autocommit = False
        self.cursors = 0
        self.pings = 0

    def cursor(self) -> tuple[str, int]:
        self.cursors += 1
        return ("cursor", self.number)

    def __repr__(self) -> str:
        # A session's repr may hold secrets; the pool must never show it.
        return f"<Session #{self.number} dsn=mysql://root:SECRET@db>"


class PingSession(Session):
    """A session with a ``ping()`` that can be made to fail."""

    def __init__(self, number: int) -> None:
        super().__init__(number)
        self.dead = False

    def ping(self) -> None:
        self.pings += 1
        if self.dead:
            raise ConnectionError(f"session #{self.number} is dead")


class FactoryError(Exception):
    """Raised by a `Factory` on demand."""


class Factory:
    """Recording fake create/destroy factory.

    ``create()`` hands out a new `Session` (or ``session_cls``) per call; ``destroy(s)`` records it.
    Error injection: ``fail_next`` (number of next create calls that raise ``error``),
    ``return_none`` (next create calls that return None), ``destroy_error``.
    ``gate``: if set, create calls block on it (bounded) after signalling ``entered``.
    ``on_create_hook``: called with the new session at the end of create.
    """

    def __init__(self, session_cls: type[Session] = Session, delay: float = 0.0) -> None:
        self.session_cls = session_cls
        self.delay = delay
        self.lock = threading.Lock()
        self._numbers = itertools.count(1)
        self.created: list[Session] = []
        self.destroyed: list[Session] = []
        self.create_calls = 0
        self.alive = 0  # from the start of a create call until its session's destroyer returned
        self.max_alive = 0
        self.fail_next = 0
        self.error: BaseException = FactoryError("cannot connect")
        self.return_none = 0
        self.destroy_error: BaseException | None = None
        self.gate: threading.Event | None = None
        self.entered = threading.Semaphore(0)
        self.created_event = threading.Event()
        self.destroyed_event = threading.Event()
        self.on_create_hook: Callable[[Session], object] | None = None
        #: Contract violations seen by the factory (a double destroy, say); tests assert it empty.
        self.violations: list[str] = []

    def create(self) -> Session:
        with self.lock:
            self.create_calls += 1
            self.alive += 1
            self.max_alive = max(self.max_alive, self.alive)
            fail = self.fail_next > 0
            if fail:
                self.fail_next -= 1
            none = not fail and self.return_none > 0
            if none:
                self.return_none -= 1
        gate = self.gate
        if gate is not None:
            self.entered.release()
            assert gate.wait(DEADLINE), "factory gate never opened"
        if self.delay:
            time.sleep(self.delay)  # simulates a slow connect; not a synchronisation
        if fail or none:
            with self.lock:
                self.alive -= 1
            if fail:
                raise self.error
            return None  # type: ignore[return-value]
        session = self.session_cls(next(self._numbers))
        with self.lock:
            self.created.append(session)
        if self.on_create_hook is not None:
            self.on_create_hook(session)
        self.created_event.set()
        return session

    def destroy(self, session: Session) -> None:
        with self.lock:
            if not isinstance(session, Session) or session.closed:
                self.violations.append(f"destroy({session!r}): not a live session of this factory")
        session.closed = True
        with self.lock:
            self.destroyed.append(session)
            self.alive -= 1
        self.destroyed_event.set()
        if self.destroy_error is not None:
            raise self.destroy_error

    def make_pool(self, pool_size: int = 1, **options: Any) -> Pool[Session]:
        return Pool(pool_size, self.create, destroy_factory=self.destroy, **options)


class Worker:
    """Runs ``fn`` in a daemon thread; `result()` joins with a bound and re-raises its exception."""

    def __init__(self, fn: Callable[[], Any], name: str = "worker") -> None:
        self.value: Any = None
        self.error: BaseException | None = None
        self.done = threading.Event()
        self.thread = threading.Thread(target=self._run, args=(fn,), name=name, daemon=True)
        self.thread.start()

    def _run(self, fn: Callable[[], Any]) -> None:
        try:
            self.value = fn()
        except BaseException as exc:
            self.error = exc
        finally:
            self.done.set()

    def result(self, timeout: float = DEADLINE) -> Any:
        if not self.done.wait(timeout):
            pytest.fail(f"{self.thread.name} did not finish within {timeout}s")
        self.thread.join(timeout)
        if self.error is not None:
            raise self.error
        return self.value

    def exception(self, timeout: float = DEADLINE) -> BaseException | None:
        if not self.done.wait(timeout):
            pytest.fail(f"{self.thread.name} did not finish within {timeout}s")
        self.thread.join(timeout)
        return self.error


class FakeClock:
    """A controllable monotonic clock, installed as ``pooling._pool._monotonic``."""

    def __init__(self, start: float = 1000.0) -> None:
        self.now = start
        self._lock = threading.Lock()

    def __call__(self) -> float:
        with self._lock:
            return self.now

    def advance(self, seconds: float) -> None:
        with self._lock:
            self.now += seconds


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
    """Replace ``pool._lock`` by a `GCInLock` around it (white-box: the lock contract)."""
    wrapper = GCInLock(pool._lock)
    pool._lock = wrapper  # type: ignore[assignment]
    return wrapper


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


def cycle_lease(pool: Pool[Any]) -> Any:
    """Lease a session and leave the lease in a reference cycle; returns the session."""
    lease = pool.get_session(timeout=0)
    session = lease.session
    drop_in_a_cycle(lease)
    return session


@pytest.fixture
def factory() -> Factory:
    return Factory()


@pytest.fixture
def clock(monkeypatch: pytest.MonkeyPatch) -> FakeClock:
    fake = FakeClock()
    monkeypatch.setattr(pooling._pool, "_monotonic", fake)
    return fake
