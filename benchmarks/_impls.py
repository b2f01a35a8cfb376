"""Pool implementations under test, each behind the same tiny adapter.

Every adapter exposes:

* ``acquire() -> handle`` and ``release(handle)``: the generic protocol the threaded
  scenarios use (after ``release`` the caller also drops its reference to the handle,
  which is how the "release by dropping the last reference" variant of pooling works);
* ``session(handle)``: the pooled object itself (a DB-API connection in the DB scenarios);
* ``loop(n)``: ``n`` uncontended acquire+release round trips written the idiomatic way
  for that library (``with pool.get_session(): ...``, ``pool.connect().close()``, ...),
  with the bound methods hoisted into locals so that the loop overhead is the same for all;
* ``close()``.

Peers are used through their public API only, each at its defaults except for what is
needed to get a fixed-size pool of ``size`` sessions that blocks when it is empty.
"""

from __future__ import annotations

import queue
import threading
import types
from collections import deque
from collections.abc import Callable
from dataclasses import dataclass
from itertools import repeat
from typing import Any

Factory = Callable[[], Any]
Destroyer = Callable[[Any], None]


class FakeSession:
    """What the in-memory scenarios pool: enough of a DB-API connection for every peer."""

    __slots__ = ("closed", "n")

    def __init__(self) -> None:
        self.closed = False
        self.n = 0

    def cursor(self) -> None:
        return None

    def commit(self) -> None:
        pass

    def rollback(self) -> None:
        pass

    def close(self) -> None:
        self.closed = True


def destroy_session(session: Any) -> None:
    session.close()


# --------------------------------------------------------------------------------------
# Reference pools (the floors)
# --------------------------------------------------------------------------------------


class FloorPool:
    """The smallest correct blocking pool: one Condition and a list.

    Creation happens outside the lock (a slot is reserved first), so slow factories run in
    parallel. It is *not* FIFO-fair: ``notify`` wakes a waiter, but the releasing thread
    (or any other running thread) may grab the session before the woken one runs.
    """

    def __init__(self, size: int, factory: Factory, destroy: Destroyer | None = None) -> None:
        self._cond = threading.Condition(threading.Lock())
        self._idle: list[Any] = []
        self._size = size
        self._created = 0
        self._factory = factory
        self._destroy = destroy

    def acquire(self) -> Any:
        with self._cond:
            while not self._idle:
                if self._created < self._size:
                    self._created += 1
                    break
                self._cond.wait()
            else:
                return self._idle.pop()
        try:
            return self._factory()
        except BaseException:
            with self._cond:
                self._created -= 1
                self._cond.notify()
            raise

    def release(self, obj: Any) -> None:
        with self._cond:
            self._idle.append(obj)
            self._cond.notify()

    def close(self) -> None:
        with self._cond:
            idle, self._idle = self._idle, []
            self._created -= len(idle)
        if self._destroy is not None:
            for obj in idle:
                self._destroy(obj)


class _Waiter:
    __slots__ = ("lock", "obj")

    def __init__(self) -> None:
        self.lock = threading.Lock()
        self.lock.acquire()
        self.obj: Any = None


_CREATE = object()  # handed to a waiter when a creation slot frees up


class FifoFloorPool:
    """Minimal FIFO hand-off pool: a returned session goes straight to the oldest waiter.

    Each waiter blocks on its own pre-acquired lock, so there is no thundering herd and no
    barging: a thread that releases and immediately re-acquires queues behind the others.
    """

    def __init__(self, size: int, factory: Factory, destroy: Destroyer | None = None) -> None:
        self._lock = threading.Lock()
        self._idle: deque[Any] = deque()
        self._waiters: deque[_Waiter] = deque()
        self._size = size
        self._created = 0
        self._factory = factory
        self._destroy = destroy

    def acquire(self) -> Any:
        with self._lock:
            if self._idle:  # invariant: idle is non-empty only when nobody waits
                return self._idle.pop()
            if self._created < self._size:
                self._created += 1
                obj: Any = _CREATE
            else:
                waiter = _Waiter()
                self._waiters.append(waiter)
                obj = None
        if obj is None:
            waiter.lock.acquire()  # released by the hand-off
            obj = waiter.obj
        if obj is _CREATE:
            try:
                return self._factory()
            except BaseException:
                self._give_back_slot()
                raise
        return obj

    def _give_back_slot(self) -> None:
        with self._lock:
            if self._waiters:
                w = self._waiters.popleft()
                w.obj = _CREATE
                w.lock.release()
            else:
                self._created -= 1

    def release(self, obj: Any) -> None:
        with self._lock:
            if self._waiters:
                w = self._waiters.popleft()
                w.obj = obj
                w.lock.release()
                return
            self._idle.append(obj)

    def close(self) -> None:
        with self._lock:
            idle = list(self._idle)
            self._idle.clear()
            self._created -= len(idle)
        if self._destroy is not None:
            for obj in idle:
                self._destroy(obj)


# --------------------------------------------------------------------------------------
# Adapters
# --------------------------------------------------------------------------------------


class Adapter:
    """Base adapter; subclasses set ``pool`` and override what differs."""

    pool: Any

    def acquire(self) -> Any:
        raise NotImplementedError

    def release(self, handle: Any) -> None:
        raise NotImplementedError

    def session(self, handle: Any) -> Any:
        return handle

    def loop(self, n: int) -> None:
        acquire, release = self.acquire, self.release
        for _ in repeat(None, n):
            release(acquire())

    def close(self) -> None:
        pass


class QueueAdapter(Adapter):
    """Bare ``queue.Queue`` of ready objects: no creation, no bookkeeping at all."""

    def __init__(self, size: int, factory: Factory, destroy: Destroyer | None = None) -> None:
        self.pool = queue.Queue()
        for _ in range(size):
            self.pool.put(factory())
        self._destroy = destroy
        self.acquire = self.pool.get  # type: ignore[method-assign]
        self.release = self.pool.put  # type: ignore[method-assign]

    def loop(self, n: int) -> None:
        get, put = self.pool.get, self.pool.put
        for _ in repeat(None, n):
            put(get())

    def close(self) -> None:
        while True:
            try:
                obj = self.pool.get_nowait()
            except queue.Empty:
                return
            if self._destroy is not None:
                self._destroy(obj)


class FloorAdapter(Adapter):
    pool_class: type = FloorPool

    def __init__(self, size: int, factory: Factory, destroy: Destroyer | None = None) -> None:
        self.pool = self.pool_class(size, factory, destroy)
        self.acquire = self.pool.acquire  # type: ignore[method-assign]
        self.release = self.pool.release  # type: ignore[method-assign]

    def loop(self, n: int) -> None:
        acquire, release = self.pool.acquire, self.pool.release
        for _ in repeat(None, n):
            release(acquire())

    def close(self) -> None:
        self.pool.close()


class FifoFloorAdapter(FloorAdapter):
    pool_class = FifoFloorPool


def _pooling_pool(size: int, factory: Factory, destroy: Destroyer | None) -> Any:
    from pooling import Pool

    if destroy is None:
        return Pool(size, factory)
    return Pool(size, factory, destroy_factory=destroy)


class PoolingWithAdapter(Adapter):
    """``with pool.get_session() as s:`` (the generic protocol calls __enter__/__exit__)."""

    def __init__(self, size: int, factory: Factory, destroy: Destroyer | None = None) -> None:
        self.pool = _pooling_pool(size, factory, destroy)

    def acquire(self) -> Any:
        lease = self.pool.get_session()
        return lease, lease.__enter__()

    def release(self, handle: Any) -> None:
        handle[0].__exit__(None, None, None)

    def session(self, handle: Any) -> Any:
        return handle[1]

    def loop(self, n: int) -> None:
        get = self.pool.get_session
        for _ in repeat(None, n):
            with get():
                pass

    def close(self) -> None:
        self.pool.close()


class PoolingDelAdapter(Adapter):
    """``s = pool.get_session(); ...; del s``: released when the last reference goes."""

    def __init__(self, size: int, factory: Factory, destroy: Destroyer | None = None) -> None:
        self.pool = _pooling_pool(size, factory, destroy)
        self.acquire = self.pool.get_session  # type: ignore[method-assign]

    def release(self, handle: Any) -> None:
        # Nothing to do: the caller drops its reference right after this call.
        pass

    def session(self, handle: Any) -> Any:
        return handle.session

    def loop(self, n: int) -> None:
        get = self.pool.get_session
        for _ in repeat(None, n):
            s = get()
            del s

    def close(self) -> None:
        self.pool.close()


class SQLAlchemyAdapter(Adapter):
    """SQLAlchemy ``QueuePool(creator, pool_size=size, max_overflow=0)``; ``conn.close()``."""

    reset_on_return: Any = "rollback"  # SQLAlchemy's default

    def __init__(self, size: int, factory: Factory, destroy: Destroyer | None = None) -> None:
        from sqlalchemy.pool import QueuePool

        self.pool = QueuePool(
            factory,
            pool_size=size,
            max_overflow=0,
            timeout=60.0,
            reset_on_return=self.reset_on_return,
        )
        self.acquire = self.pool.connect  # type: ignore[method-assign]

    def release(self, handle: Any) -> None:
        handle.close()

    def loop(self, n: int) -> None:
        connect = self.pool.connect
        for _ in repeat(None, n):
            connect().close()

    def close(self) -> None:
        self.pool.dispose()


class SQLAlchemyNoResetAdapter(SQLAlchemyAdapter):
    reset_on_return = None


class _CreatorModule:
    """What DBUtils wants as ``creator``: a DB-API-module-like object with ``connect()``."""

    threadsafety = 1

    def __init__(self, factory: Factory, dbapi: Any = None) -> None:
        self._factory = factory
        if dbapi is None:
            err = type("Error", (Exception,), {})
            dbapi = types.SimpleNamespace(
                Error=err, OperationalError=err, InterfaceError=err, InternalError=err
            )
        self.dbapi = dbapi
        self.Error = dbapi.Error
        self.OperationalError = dbapi.OperationalError
        self.InterfaceError = dbapi.InterfaceError
        self.InternalError = dbapi.InternalError

    def connect(self, *args: Any, **kwargs: Any) -> Any:
        return self._factory()


class DBUtilsAdapter(Adapter):
    """DBUtils ``PooledDB(creator, maxconnections=size, blocking=True)``; ``con.close()``."""

    dbapi: Any = None

    def __init__(self, size: int, factory: Factory, destroy: Destroyer | None = None) -> None:
        from dbutils.pooled_db import PooledDB

        self.pool = PooledDB(
            _CreatorModule(factory, self.dbapi),
            maxcached=size,
            maxconnections=size,
            blocking=True,
        )
        self.acquire = self.pool.connection  # type: ignore[method-assign]

    def release(self, handle: Any) -> None:
        handle.close()

    def loop(self, n: int) -> None:
        connection = self.pool.connection
        for _ in repeat(None, n):
            connection().close()

    def close(self) -> None:
        self.pool.close()


def _gcp_manager(factory: Factory, destroy: Destroyer | None) -> Any:
    from generic_connection_pool.threading import BaseConnectionManager

    class Manager(BaseConnectionManager):  # type: ignore[type-arg]
        def create(self, endpoint: Any, timeout: float | None = None) -> Any:
            return factory()

        def dispose(self, endpoint: Any, conn: Any, timeout: float | None = None) -> None:
            if destroy is not None:
                destroy(conn)

    return Manager()


class GCPAdapter(Adapter):
    """generic-connection-pool threading ``ConnectionPool``, one endpoint, size fixed."""

    endpoint = "bench"

    def __init__(self, size: int, factory: Factory, destroy: Destroyer | None = None) -> None:
        from generic_connection_pool.threading import ConnectionPool

        self.pool = ConnectionPool(
            _gcp_manager(factory, destroy),
            min_idle=size,
            max_size=size,
            total_max_size=size,
        )

    def acquire(self) -> Any:
        return self.pool.acquire(self.endpoint)

    def release(self, handle: Any) -> None:
        self.pool.release(handle, self.endpoint)

    def loop(self, n: int) -> None:
        acquire, release, ep = self.pool.acquire, self.pool.release, self.endpoint
        for _ in repeat(None, n):
            release(acquire(ep), ep)

    def close(self) -> None:
        self.pool.close()


class NoPoolAdapter(Adapter):
    """No pool at all: a new session per use, destroyed after it (DB scenarios)."""

    def __init__(self, size: int, factory: Factory, destroy: Destroyer | None = None) -> None:
        self._factory = factory
        self._destroy = destroy
        self.pool = None

    def acquire(self) -> Any:
        return self._factory()

    def release(self, handle: Any) -> None:
        if self._destroy is not None:
            self._destroy(handle)


@dataclass(frozen=True)
class Impl:
    key: str
    label: str
    adapter: Callable[..., Adapter]
    requires: tuple[str, ...] = ()
    kind: str = "peer"  # "floor", "pooling", "peer", "baseline"


IMPLS: dict[str, Impl] = {
    i.key: i
    for i in (
        Impl("queue", "queue.Queue (floor)", QueueAdapter, kind="floor"),
        Impl("floor", "floor pool", FloorAdapter, kind="floor"),
        Impl("fifo_floor", "fifo floor", FifoFloorAdapter, kind="floor"),
        Impl("pooling_with", "pooling (with)", PoolingWithAdapter, ("pooling",), "pooling"),
        Impl("pooling_del", "pooling (del)", PoolingDelAdapter, ("pooling",), "pooling"),
        Impl("sqlalchemy", "SQLAlchemy QueuePool", SQLAlchemyAdapter, ("sqlalchemy",)),
        Impl("dbutils", "DBUtils PooledDB", DBUtilsAdapter, ("dbutils",)),
        Impl("gcp", "generic-connection-pool", GCPAdapter, ("generic_connection_pool",)),
    )
}


def missing_requirement(impl: Impl) -> str | None:
    """Why ``impl`` can't run here (a note for the table), or None."""
    import importlib

    for mod in impl.requires:
        try:
            importlib.import_module(mod)
        except Exception as exc:
            return f"{mod} not importable ({type(exc).__name__}: {exc})"
    return None


def version_of(dist: str) -> str | None:
    from importlib import metadata

    try:
        return metadata.version(dist)
    except metadata.PackageNotFoundError:
        return None
