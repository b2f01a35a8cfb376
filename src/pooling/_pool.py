"""The core: `Pool[T]`, a bounded, fair, thread- and fork-safe pool of any kind of session.

How it works, in brief (docs/how-it-works.md has the long version):

* Every session occupies a *slot* from the moment its factory is called until its destroyer has
  returned. ``size`` counts the slots taken (creating + idle + leased + destroying) and never exceeds
  ``pool_size``.
* Callers that find no idle session and no free slot queue up in ``_waiters``, oldest first, each on a
  lock of its own. A returned session is handed straight to the oldest waiter (it never becomes idle,
  so a newcomer cannot take it); a freed slot is handed to the oldest waiter as the right to create.
* Critical sections only decide and record. Factories, checks, resets and destroyers run after the
  lock is released.
* The common case takes no lock at all: idle sessions sit in a ``deque`` whose ``pop`` and ``append``
  are atomic. A checkout pops one when nobody waits; a release appends one when nobody waits and then
  looks again ("publish, then re-check"): if a waiter, a close or a resize appeared meanwhile, it takes
  the lock and settles. A waiter does the converse (queue up under the lock, then look at the idle
  deque), so no session is left idle while someone waits.
* A lease released by ``__del__`` (which can run during garbage collection in any thread, even one
  that holds the pool's lock, or a lock of the caller's) never waits for a lock and runs no user
  code: it publishes the session idle when that is all there is to do, hands it to a waiter if
  the pool's lock happens to be free, and otherwise hands the release to the finalizer thread
  (``_finalizer``), which does it the ordinary way.
* After ``os.fork()`` the child gets a fresh lock and forgets every inherited session without
  destroying it (the parent still owns them).
"""

from __future__ import annotations

import copy
import itertools
import logging
import math
import os
import random
import sys
import threading
import time
import traceback
import weakref
from bisect import bisect_left as _bisect
from collections import deque
from collections.abc import Callable
from enum import Enum
from types import CodeType, TracebackType
from typing import TYPE_CHECKING, Any, Final, Generic, TypeVar

from . import _finalizer
from ._errors import PoolClosed, PoolError, PoolExhausted, PoolTimeout
from ._lease import Lease, _new_lease, _set_held
from ._stats import FIRST_BOUND, HISTOGRAM_BOUNDS, Histogram, PoolStats

__all__ = ["DestroyReason", "Pool"]

T = TypeVar("T")

logger = logging.getLogger("pooling")
_monotonic = time.monotonic
_INF: Final = math.inf
_TIMEOUT_MAX: Final = min(threading.TIMEOUT_MAX, 86400.0)


class DestroyReason(str, Enum):
    """Why the pool destroyed a session (passed to the ``on_destroy`` hook)."""

    #: The pool was closed.
    CLOSED = "closed"
    #: `Lease.invalidate()` was called.
    INVALIDATED = "invalidated"
    #: Older than ``max_lifetime``.
    TOO_OLD = "too_old"
    #: Idle longer than ``max_idle_time``.
    TOO_IDLE = "too_idle"
    #: Leased ``max_usage`` times.
    USED_UP = "used_up"
    #: ``check`` raised.
    FAILED_CHECK = "failed_check"
    #: ``reset`` raised.
    FAILED_RESET = "failed_reset"
    #: `Pool.destroy_all_sessions()` was called.
    DISCARDED = "discarded"
    #: `Pool.resize()` made the pool smaller.
    RESIZED = "resized"


class _Default:
    """Marker type of `_DEFAULT`: "use the pool's default timeout"."""

    def __repr__(self) -> str:
        return "<the pool's default>"


_DEFAULT: Final = _Default()

# What a waiter can be handed besides a session.
_CREATE: Final = "create"  # a slot was reserved for the waiter: it creates a session itself
_CLOSED: Final = "closed"  # the pool was closed while it waited


# Verdicts of a check on checkout.
_OK: Final = "ok"
_NEXT: Final = "next"
_REPLACE: Final = "replace"

_LEAK_STACK_DEPTH: Final = 32
_MAINTAIN_MAX_SLEEP: Final = 5.0


class _Entry(Generic[T]):
    """The pool's record of one live session. While leased, the lease's holder owns the entry;
    while idle or being handed over, whoever took it out of the idle deque or holds the lock does."""

    __slots__ = (
        "created_at",
        "epoch",
        "expires_at",
        "generation",
        "hold_buckets",
        "hold_max",
        "hold_sum",
        "leak_reported",
        "leased",
        "leased_at",
        "returned_at",
        "session",
        "stack",
        "usage",
    )

    def __init__(self, session: T, epoch: object, generation: int, now: float, expires_at: float):
        self.session = session
        self.epoch = epoch
        self.generation = generation
        self.created_at = now
        self.expires_at = expires_at
        self.returned_at = now
        self.leased_at = now
        self.leased = False
        self.usage = 0  # leases so far
        # Hold times of this session's leases returned by the lock-free path, recorded by the
        # releasing thread, which owns the entry then: no shared counter on that path. (Returns
        # under the lock record into the pool's `_hold_hist`.) `stats()` sums them all up.
        self.hold_sum = 0.0
        self.hold_max = 0.0
        self.hold_buckets = [0] * len(HISTOGRAM_BOUNDS)
        self.stack: _Stack | None = None
        self.leak_reported = False


class _Waiter:
    """A caller queued for a session. Whoever serves it pops it from the queue, sets `got` and
    releases `lock` (then records the wait), all under the pool's lock; so a waiter that acquires
    its own lock owns `got` without taking the pool's lock again."""

    __slots__ = ("got", "lock", "start")

    def __init__(self, start: float) -> None:
        self.lock = threading.Lock()
        self.lock.acquire()
        self.got: _Entry[Any] | str | None = None
        self.start = start  # when its get_session call began


_Doomed = list[tuple[_Entry[Any], DestroyReason]]

# Every pool in this process, for the fork handler.
_POOLS: weakref.WeakSet[Pool[Any]] = weakref.WeakSet()
_pool_ids = itertools.count(1)


def _after_fork_in_child() -> None:
    for pool in list(_POOLS):
        pool._reset_after_fork()


if hasattr(os, "register_at_fork"):
    os.register_at_fork(after_in_child=_after_fork_in_child)


def _check_number(
    name: str, value: object, *, minimum: float = 0.0, allow_none: bool = True, integer: bool = False
) -> Any:
    """Validate a numeric option; the error names the option, the value and what was expected."""
    if value is None and allow_none:
        return None
    kind = "an int" if integer else "a number"
    expected = f"{kind} >= {minimum:g}" + (" or None" if allow_none else "")
    ok_types: tuple[type, ...] = (int,) if integer else (int, float)
    if isinstance(value, bool) or not isinstance(value, ok_types):
        raise TypeError(f"{name} must be {expected}, got {value!r} ({type(value).__name__})")
    assert isinstance(value, (int, float))
    if math.isnan(value) or value < minimum:
        raise ValueError(f"{name} must be {expected}, got {value!r}")
    return value


def _check_callable(name: str, value: object) -> Any:
    if value is not None and not callable(value):
        raise TypeError(f"{name} must be callable or None, got {value!r} ({type(value).__name__})")
    return value


_Stack = list[tuple[CodeType, int]]


def _capture_stack(skip: int) -> _Stack:
    """Where a lease was taken: (code, last instruction offset) of the callers, innermost first.

    Only the cheap parts are taken now (no line numbers, no source): the stack is formatted only
    if the lease is ever reported as leaked. No frame is kept, so no local variable is kept alive.
    """
    frames: _Stack = []
    frame: Any = sys._getframe(skip)
    while frame is not None and len(frames) < _LEAK_STACK_DEPTH:
        frames.append((frame.f_code, frame.f_lasti))
        frame = frame.f_back
    return frames


def _line_of(code: CodeType, offset: int) -> int | None:
    for start, end, line in code.co_lines():
        if start <= offset < end:
            return line
    return None


def _format_stack(frames: _Stack) -> str:
    summary = traceback.StackSummary.from_list(
        [
            traceback.FrameSummary(code.co_filename, _line_of(code, offset), code.co_name)
            for code, offset in reversed(frames)
        ]
    )
    return "".join(summary.format())


def _copy_error(error: BaseException) -> BaseException:
    """A fresh copy of a remembered creation error, so that raising it in many threads neither
    grows nor shares its traceback. Falls back to the error itself if it cannot be copied."""
    try:
        clone = copy.copy(error)
    except Exception:  # pragma: no cover - exotic exception types
        return error
    clone.__traceback__ = None
    clone.__cause__ = None
    clone.__context__ = None
    return clone


class Pool(Generic[T]):
    """A pool of up to ``pool_size`` sessions made by ``create_factory``.

    Args:
        pool_size: most sessions alive at once (created and not yet destroyed).
        create_factory: called with no arguments to make a session; may raise, must not return None.
        destory_factory: called with a session to destroy it (the 0.1.x spelling).
        destroy_factory: the same, spelled right; give one or the other.
        timeout: default for `get_session`: seconds to wait, ``None`` to wait forever, ``0`` not to wait.
        min_idle: sessions kept ready in the background (created in parallel).
        max_lifetime: seconds after creation a session is retired (spread by ``lifetime_jitter``).
        max_idle_time: seconds a session may sit idle before it is destroyed (never below ``min_idle``).
        max_usage: leases per session before it is destroyed.
        check: called with an idle session before it is handed out; raising means "dead": the session
            is destroyed and another one tried, within the caller's deadline.
        reset: called with a session when it comes back; raising means it is destroyed, not pooled.
        name: shown in reprs, logs and errors (default ``pool-N``).
        check_interval: skip ``check`` for a session returned less than this many seconds ago
            (HikariCP's 500 ms bypass window); 0 checks every time.
        lifetime_jitter: fraction of ``max_lifetime`` by which each session's lifetime is randomly
            shortened, so that sessions made together do not all expire together.
        leak_timeout: seconds a lease may be held before a warning with the stack where it was taken
            is logged on the ``pooling`` logger (off by default).
        max_waiting: most callers allowed to wait at once; beyond it `PoolExhausted` (0: no limit).
        backoff_initial, backoff_max: after a factory error, creation is held off for a window that
            starts at ``backoff_initial`` seconds and doubles per consecutive failure up to
            ``backoff_max`` (with jitter); meanwhile callers wait for a released session or their
            deadline, at which they get the last creation error. 0 turns back-off off.
        on_create, on_checkout, on_checkin: hooks called with the session; on_destroy: with the
            session and a `DestroyReason`. A hook that raises is logged and otherwise ignored.
        discard_on: called with the exception that ends a ``with pool.get_session()`` block; if it
            returns true, the session is destroyed instead of pooled (a disconnect error, say).
    """

    # Slots, not a __dict__: attribute access on the hot paths is markedly faster.
    __slots__ = (
        "__weakref__",
        "_backoff_initial",
        "_backoff_max",
        "_backoff_until",
        "_bare_checkout",
        "_check",
        "_check_failures",
        "_check_interval",
        "_closed",
        "_cond",
        "_create_errors",
        "_created",
        "_creating",
        "_destroyed",
        "_destroyer",
        "_destroying",
        "_discard_on",
        "_entries",
        "_epoch",
        "_factory",
        "_failures",
        "_fast_return",
        "_generation",
        "_hold_hist",
        "_idle",
        "_last_error",
        "_leak_timeout",
        "_leak_watch",
        "_leaks",
        "_lease_cls",
        "_lifetime_jitter",
        "_lock",
        "_maint_creating",
        "_maint_thread",
        "_maint_wanted",
        "_max_idle_time",
        "_max_lifetime",
        "_max_usage",
        "_max_waiting",
        "_min_idle",
        "_name",
        "_needs_maintainer",
        "_on_checkin",
        "_on_checkout",
        "_on_create",
        "_on_destroy",
        "_plain_checkout",
        "_plain_return",
        "_pool_size",
        "_rejected",
        "_reset",
        "_retired_usage",
        "_size",
        "_timeout",
        "_timeouts",
        "_wait_hist",
        "_waiters",
    )

    # ------------------------------------------------------------------ construction

    def __init__(
        self,
        pool_size: int,
        create_factory: Callable[[], T],
        destory_factory: Callable[[T], object] | None = None,
        *,
        destroy_factory: Callable[[T], object] | None = None,
        timeout: float | None = None,
        min_idle: int = 0,
        max_lifetime: float | None = None,
        max_idle_time: float | None = None,
        max_usage: int | None = None,
        check: Callable[[T], object] | None = None,
        reset: Callable[[T], object] | None = None,
        name: str | None = None,
        check_interval: float = 0.0,
        lifetime_jitter: float = 0.05,
        leak_timeout: float | None = None,
        max_waiting: int = 0,
        backoff_initial: float = 0.05,
        backoff_max: float = 1.0,
        on_create: Callable[[T], object] | None = None,
        on_checkout: Callable[[T], object] | None = None,
        on_checkin: Callable[[T], object] | None = None,
        on_destroy: Callable[[T, DestroyReason], object] | None = None,
        discard_on: Callable[[BaseException], bool] | None = None,
    ) -> None:
        self._pool_size: int = _check_number(
            "pool_size", pool_size, minimum=1, allow_none=False, integer=True
        )
        if not callable(create_factory):
            raise TypeError(
                f"create_factory must be callable, got {create_factory!r} ({type(create_factory).__name__})"
            )
        if destory_factory is not None and destroy_factory is not None:
            raise TypeError("give destroy_factory or destory_factory (its 0.1.x spelling), not both")
        _check_callable("destory_factory (destroy_factory)", destory_factory)
        destroyer = _check_callable("destroy_factory", destroy_factory) or destory_factory
        self._factory: Callable[[], T] = create_factory
        self._destroyer: Callable[[T], object] | None = destroyer
        self._timeout: float | None = _check_number("timeout", timeout)
        self._min_idle: int = _check_number("min_idle", min_idle, allow_none=False, integer=True)
        if self._min_idle > self._pool_size:
            raise ValueError(f"min_idle must be <= pool_size ({self._pool_size}), got {min_idle!r}")
        lifetime = _check_number("max_lifetime", max_lifetime)
        if lifetime == 0:
            raise ValueError("max_lifetime must be > 0 or None, got 0")
        self._max_lifetime: float | None = lifetime
        idle_time = _check_number("max_idle_time", max_idle_time)
        if idle_time == 0:
            raise ValueError("max_idle_time must be > 0 or None, got 0")
        self._max_idle_time: float | None = idle_time
        self._max_usage: int | None = _check_number("max_usage", max_usage, minimum=1, integer=True)
        self._check: Callable[[T], object] | None = _check_callable("check", check)
        self._reset: Callable[[T], object] | None = _check_callable("reset", reset)
        if name is not None and not isinstance(name, str):
            raise TypeError(f"name must be a str or None, got {name!r} ({type(name).__name__})")
        self._name: str = name if name is not None else f"pool-{next(_pool_ids)}"
        self._check_interval: float = _check_number("check_interval", check_interval, allow_none=False)
        jitter = _check_number("lifetime_jitter", lifetime_jitter, allow_none=False)
        if jitter >= 1:
            raise ValueError(f"lifetime_jitter must be >= 0 and < 1, got {lifetime_jitter!r}")
        self._lifetime_jitter: float = jitter
        leak = _check_number("leak_timeout", leak_timeout)
        if leak == 0:
            raise ValueError("leak_timeout must be > 0 or None, got 0")
        self._leak_timeout: float | None = leak
        self._max_waiting: int = _check_number("max_waiting", max_waiting, allow_none=False, integer=True)
        self._backoff_initial: float = _check_number("backoff_initial", backoff_initial, allow_none=False)
        self._backoff_max: float = _check_number("backoff_max", backoff_max, allow_none=False)
        if self._backoff_max < self._backoff_initial:
            raise ValueError(
                f"backoff_max ({backoff_max!r}) must be >= backoff_initial ({backoff_initial!r})"
            )
        self._on_create = _check_callable("on_create", on_create)
        self._on_checkout = _check_callable("on_checkout", on_checkout)
        self._on_checkin = _check_callable("on_checkin", on_checkin)
        self._on_destroy = _check_callable("on_destroy", on_destroy)
        self._discard_on: Callable[[BaseException], bool] | None = _check_callable("discard_on", discard_on)
        self._needs_maintainer = bool(self._min_idle or self._max_idle_time or self._leak_timeout)
        # Which fast paths apply (configuration only, fixed for the pool's life). `check`, `reset`
        # and the hooks run outside the lock anyway, so they do not keep a pool off the lock-free
        # paths; what needs the lock at every checkout or return does.
        self._plain_checkout = (
            self._min_idle == 0  # a checkout may have to wake the maintainer to refill
            and self._max_idle_time is None
            and self._leak_timeout is None
        )
        self._bare_checkout = self._check is None and self._on_checkout is None
        # No code of the user's to run on return: a finalizer may then give the session back
        # itself (it never runs user code).
        self._plain_return = (
            self._reset is None
            and self._on_checkin is None
            and self._max_usage is None
            and self._leak_timeout is None
        )
        # Leases of this pool are of a subclass that knows the pool as a class attribute, which
        # spares a field per lease; isinstance(lease, Lease) holds as usual.
        self._lease_cls: type[Lease[T]] = type(
            "Lease",
            (Lease,),
            {
                "__slots__": (),
                "_pool": self,
                "_give_back": self._give_back,
                "__module__": "pooling",
            },
        )
        self._init_state()
        _POOLS.add(self)
        _finalizer.ensure_started()
        if self._needs_maintainer:
            self._start_maintainer()

    def _init_state(self) -> None:
        """Set up the lock and everything it guards (at construction, and in a forked child)."""
        # ---- The lock contract ----------------------------------------------------------------
        # `_lock` (a plain, non-reentrant Lock) guards every field below except `_idle`. Critical
        # sections decide and record only: no factory, check, reset, destroyer or hook is called
        # while it is held, and no logging is done. A lease's finalizer never waits for it, only
        # tries it (a garbage collection may run the finalizer in a thread that holds it): see
        # `_give_back`.
        # `_idle` is a deque used without the lock by the fast paths (its pop/append are atomic):
        # a checkout pops from it only while nobody waits; a release appends to it only while
        # nobody waits and `_fast_return` holds, then re-reads `_waiters`, `_fast_return` and the
        # generation, and if any changed, settles under the lock (`_settle_locked`: idle sessions
        # go to waiters, stale or excess ones are destroyed). Under the lock, a caller that queues
        # up settles too, after queueing; so whichever of the two comes second sees the other.
        # `_cond` is a Condition over the same lock. Only the maintainer thread waits on it; a
        # critical section that leaves housekeeping to do (refill `min_idle`, close) notifies it.
        # Callers waiting for a session do not wait on `_cond`: each waits on its own `_Waiter`
        # lock, and whoever gives a session or a slot away pops the oldest waiter, sets its `got`
        # and releases its lock, all under `_lock`. That makes the hand-off FIFO and targeted.
        self._lock = threading.Lock()
        self._cond = threading.Condition(self._lock)
        # ---- guarded by _lock ------------------------------------------------------------------
        self._epoch = object()  # replaced in a forked child: entries of another epoch are foreign
        self._generation = 0  # bumped by destroy_all_sessions() and in a forked child
        self._idle: deque[_Entry[T]] = deque()  # most recently returned on the right (LIFO)
        self._waiters: deque[_Waiter] = deque()  # oldest first
        self._entries: set[_Entry[T]] = set()  # every live session's entry
        self._size = 0  # slots taken: creating + idle + leased + destroying
        self._creating = 0
        self._destroying = 0
        self._maint_creating = 0  # creations started by the maintainer for min_idle
        self._closed = False
        # True while a release may append to `_idle` without the lock: no leak watch, not closed,
        # not above `pool_size` after a resize (see `_update_fast_return_locked`).
        self._fast_return = self._leak_timeout is None
        self._failures = 0  # consecutive factory errors
        self._last_error: BaseException | None = None
        self._backoff_until = 0.0
        self._leak_watch: dict[_Entry[T], None] | None = {} if self._leak_timeout else None
        self._maint_wanted = False
        self._maint_thread: threading.Thread | None = None
        # counters
        self._created = 0
        self._destroyed = 0
        self._create_errors = 0
        self._check_failures = 0
        self._timeouts = 0
        self._rejected = 0
        self._leaks = 0
        self._wait_hist = Histogram()
        # Hold times recorded under the lock (hand-offs, slow returns) and those of destroyed
        # sessions; live sessions keep the ones of their lock-free returns in their entry.
        self._hold_hist = Histogram()
        self._retired_usage = 0  # leases of destroyed sessions

    def _reset_after_fork(self) -> None:
        """In a forked child: forget every inherited session (the parent owns them) and start over.

        Only the thread that called fork() exists in the child, and the inherited lock may be held
        by a thread that does not; so everything is rebuilt rather than locked. The generation
        moves on, so the fast paths treat inherited entries as stale and leave them to the slow
        path, which recognises them by their epoch and lets them go untouched.
        """
        generation = self._generation + 1
        self._init_state()
        self._generation = generation

    # ------------------------------------------------------------------ properties

    @property
    def name(self) -> str:
        """The pool's name, shown in reprs, log lines and error messages."""
        return self._name

    @property
    def pool_size(self) -> int:
        """Most sessions alive at once; change it with `resize`."""
        return self._pool_size

    @property
    def timeout(self) -> float | None:
        """The default timeout of `get_session`."""
        return self._timeout

    @property
    def closed(self) -> bool:
        """True once `close` was called."""
        return self._closed

    # ------------------------------------------------------------------ checkout

    def get_session(self, timeout: float | _Default | None = _DEFAULT) -> Lease[T]:
        """Lease a session: an idle one if there is one, else a new one while the pool has room,
        else wait (first come, first served) for one to be returned.

        Args:
            timeout: seconds to wait; ``None`` waits forever, ``0`` does not wait. By default, the
                pool's ``timeout``.

        Raises:
            PoolTimeout: no session within ``timeout`` (also a `TimeoutError` and `queue.Empty`).
            PoolClosed: the pool was closed.
            PoolExhausted: ``max_waiting`` callers are already waiting.
            Exception: whatever ``create_factory`` raised, when this call tried to create one; and
                while the pool backs off after such errors, a copy of the last one at the deadline.
        """
        if timeout is not _DEFAULT and not (
            timeout is None or (type(timeout) in (int, float) and timeout >= 0)  # type: ignore[operator]
        ):
            _check_number("timeout", timeout)  # raises, naming the bad value
        if self._plain_checkout and not self._waiters:
            # Fast path, no lock: pop an idle session while nobody waits (so nobody is overtaken)
            # and no checkout needs the lock (no min_idle refill, leak watch or idle limit).
            try:
                entry = self._idle.pop()
            except IndexError:
                pass
            else:
                now = _monotonic()
                if entry.expires_at > now and entry.generation == self._generation:
                    entry.leased = True
                    entry.leased_at = now
                    entry.usage += 1
                    if self._bare_checkout:
                        lease: Lease[T] = _new_lease(self._lease_cls)
                        _set_held(lease, [entry])
                        return lease
                    return self._checked_lease(entry, now, timeout)
                self._retire_popped(entry, now)
        return self._get_session(self._timeout if timeout is _DEFAULT else timeout)  # type: ignore[arg-type]

    def _checked_lease(self, entry: _Entry[T], now: float, timeout: float | _Default | None) -> Lease[T]:
        """The fast path's checkout of a pool with a `check` or an `on_checkout` hook."""
        if self._check is not None and (
            not self._check_interval or now - entry.returned_at >= self._check_interval
        ):
            verdict = self._checked(entry)
            if verdict == _REPLACE:  # keep the dead session's slot: fill it
                return self._lease(self._create_for_caller())
            if verdict == _NEXT:
                return self._get_session(self._timeout if timeout is _DEFAULT else timeout)  # type: ignore[arg-type]
        return self._lease(entry)

    def _retire_popped(self, entry: _Entry[T], now: float) -> None:
        """An entry the fast path popped is too old, or stale after destroy_all_sessions()."""
        doomed: _Doomed | None = None
        with self._lock:
            if entry.epoch is self._epoch:
                reason = (
                    DestroyReason.DISCARDED if entry.generation != self._generation else DestroyReason.TOO_OLD
                )
                doomed = self._doom_locked(doomed, entry, reason)
        self._destroy_many(doomed)

    def _get_session(self, limit: float | None) -> Lease[T]:
        """The general path of `get_session`."""
        now = _monotonic()
        start = now
        lock = self._lock
        while True:
            # ---- critical section: take an idle session, or reserve a slot, or queue up ----
            entry: _Entry[T] | None = None
            doomed: _Doomed | None = None
            error: BaseException | None = None
            waiter: _Waiter | None = None
            create = False
            with lock:
                if self._closed:
                    error = PoolClosed(f"pool {self._name!r} is closed")
                else:
                    idle = self._idle
                    waiters = self._waiters
                    if waiters:
                        # Others wait, so we queue up behind them (below); sessions released
                        # lock-free meanwhile are theirs.
                        if idle:
                            doomed = self._settle_locked(doomed)
                    else:
                        while True:  # (nothing below adds a waiter: the queue stays empty)
                            try:
                                entry = idle.pop()  # fast paths pop concurrently: never test, then pop
                            except IndexError:
                                entry = None
                                break
                            if entry.generation != self._generation:
                                doomed = self._doom_locked(doomed, entry, DestroyReason.DISCARDED)
                            elif entry.expires_at <= now:
                                doomed = self._doom_locked(doomed, entry, DestroyReason.TOO_OLD)
                            elif (
                                self._max_idle_time is not None
                                and now - entry.returned_at >= self._max_idle_time
                            ):
                                doomed = self._doom_locked(doomed, entry, DestroyReason.TOO_IDLE)
                            else:
                                entry.leased = True
                                entry.leased_at = now
                                entry.usage += 1
                                if self._leak_watch is not None:
                                    self._leak_watch[entry] = None
                                if self._min_idle and len(idle) + self._maint_creating < self._min_idle:
                                    self._notify_maintainer_locked()
                                break
                            entry = None
                    if entry is None:
                        if (
                            not waiters
                            and self._size < self._pool_size
                            and (self._failures == 0 or self._may_probe_locked(now))
                        ):
                            self._size += 1
                            self._creating += 1
                            create = True
                        elif limit is not None and now - start >= limit:
                            error = self._timeout_error_locked(now - start)
                        elif self._max_waiting and len(waiters) >= self._max_waiting:
                            self._rejected += 1
                            error = PoolExhausted(
                                f"pool {self._name!r}: {len(waiters)} callers are already "
                                f"waiting (max_waiting={self._max_waiting})"
                            )
                        else:
                            waiter = _Waiter(start)
                            waiters.append(waiter)
                            # Publish, then re-check: a lock-free release may have made a session
                            # idle after we looked (it will see us and settle too; either is fine).
                            if idle:
                                doomed = self._settle_locked(doomed)
                            if self._size < self._pool_size:
                                # A slot left free by the creation back-off: the oldest waiter's.
                                self._grant_locked(now)
            # ---- outside the lock ----
            if doomed:
                self._destroy_many(doomed)
            if error is not None:
                raise error
            if waiter is not None:
                if limit is None and not self._failures:
                    # `_wait` inlined for its common case (no deadline, no back-off to wake
                    # for), which is every wait of a busy pool without a timeout.
                    try:
                        waiter.lock.acquire()
                        got = waiter.got
                    except BaseException:  # interrupted: no phantom waiter, nothing lost
                        self._abandon_wait(waiter)
                        raise
                    if got is _CLOSED:
                        raise PoolClosed(f"pool {self._name!r} was closed while waiting for a session")
                else:
                    got = self._wait(waiter, start, limit)
                if got is _CREATE:
                    create = True
                    now = _monotonic()  # the clock moved while we waited
                else:
                    entry = got  # type: ignore[assignment]  # (a session: no assert on this hot path)
            if create:
                if self._failures and self._backoff_until > now:
                    self._wait_out_backoff(start, limit)
                entry = self._create_for_caller()
                return self._lease(entry)
            if TYPE_CHECKING:
                assert entry is not None
            if self._check is not None and (
                # (re-read the clock: the session may have come back after we read it above)
                not self._check_interval or _monotonic() - entry.returned_at >= self._check_interval
            ):
                verdict = self._checked(entry)
                if verdict == _REPLACE:  # we keep the dead session's slot: fill it, in our turn
                    return self._lease(self._create_for_caller())
                if verdict == _NEXT:
                    now = _monotonic()
                    continue  # that one was dead and is being destroyed: try the next idle one
            if self._bare_checkout and self._leak_watch is None:
                lease: Lease[T] = _new_lease(self._lease_cls)  # `_lease`, inlined
                _set_held(lease, [entry])
                return lease
            return self._lease(entry)

    def _lease(self, entry: _Entry[T]) -> Lease[T]:
        lease: Lease[T] = _new_lease(self._lease_cls)
        _set_held(lease, [entry])
        if self._leak_watch is not None:
            entry.stack = _capture_stack(3)
        if self._on_checkout is not None:
            try:
                self._call_hook("on_checkout", self._on_checkout, entry.session)
            except BaseException:  # KeyboardInterrupt in the hook: give the session back first
                lease.close()
                raise
        return lease

    def _checked(self, entry: _Entry[T]) -> str:
        """Run `check` on a leased entry (outside the lock). Returns `_OK`; or, when the check
        raised and the session was destroyed, `_NEXT` (its slot was freed: try the idle ones) or
        `_REPLACE` (the caller keeps the slot, to create a session in it: so a waiter that was
        handed a dead session does not lose its place in the queue)."""
        assert self._check is not None
        try:
            self._check(entry.session)
        except BaseException as exc:
            # A KeyboardInterrupt mid-check leaves the session in an unknown state: destroy it
            # too, then let the interrupt through.
            logger.info("pool %r: a session failed its check and is replaced: %r", self._name, exc)
            with self._lock:
                self._check_failures += 1
                entry.usage -= 1  # never handed out: not a lease
                entry.leased = False
                if self._leak_watch is not None:
                    self._leak_watch.pop(entry, None)
                keep_slot = (
                    isinstance(exc, Exception)
                    and not self._failures
                    and not self._closed
                    and (bool(self._waiters) or not self._idle)
                )
                if keep_slot:
                    self._creating += 1  # the slot goes from leased to creating, for us
                    self._retire_entry_locked(entry)
                else:
                    self._destroying += 1
            if keep_slot:
                try:
                    self._run_destroyer(entry, DestroyReason.FAILED_CHECK)
                except BaseException:  # KeyboardInterrupt in the destroyer: give the slot up
                    self._abandon_creation()
                    raise
                return _REPLACE
            self._destroy(entry, DestroyReason.FAILED_CHECK)
            if not isinstance(exc, Exception):
                raise
            return _NEXT
        return _OK

    def _wait(self, waiter: _Waiter, start: float, timeout: float | None) -> _Entry[T] | str:
        """Wait on the waiter's own lock until it is handed a session or a slot, or time runs out."""
        deadline = _INF if timeout is None else start + timeout
        lock = self._lock
        got: _Entry[T] | str | None = None
        error: BaseException | None = None
        try:
            while True:
                now = _monotonic()
                # Wake at the deadline, or when an open creation back-off ends.
                wake_at = deadline
                if self._failures and now < self._backoff_until < wake_at:
                    wake_at = self._backoff_until
                if wake_at == _INF:
                    woken = waiter.lock.acquire()
                else:
                    # (a huge timeout is fine: we loop until the deadline)
                    woken = waiter.lock.acquire(True, min(max(wake_at - now, 0.0), _TIMEOUT_MAX))
                if woken:  # served: `got` is ours, and the server recorded the wait
                    got = waiter.got
                    break
                # ---- critical section: timed out; served meanwhile? if not, is time up? ----
                with lock:
                    now = _monotonic()
                    got = waiter.got
                    if got is None:
                        self._grant_locked(now)  # the back-off may be over: a slot for the oldest
                        got = waiter.got
                    if got is None and now >= deadline:
                        self._waiters.remove(waiter)
                        self._wait_hist.observe(now - start)  # served or not: it waited
                        error = self._timeout_error_locked(now - start)
                if error is not None or got is not None:
                    break
        except BaseException:
            # Interrupted (KeyboardInterrupt from a signal handler, say): leave no phantom waiter
            # and lose no session or slot that was handed to us meanwhile.
            self._abandon_wait(waiter)
            raise
        if error is not None:
            raise error
        if got == _CLOSED:
            raise PoolClosed(f"pool {self._name!r} was closed while waiting for a session")
        assert got is not None
        return got

    def _abandon_wait(self, waiter: _Waiter) -> None:
        with self._lock:
            got = waiter.got
            if got is None:
                try:
                    self._waiters.remove(waiter)
                except ValueError:  # pragma: no cover - defensive
                    pass
            else:
                waiter.got = _CLOSED  # whatever happens below, it is no longer ours
                if got == _CREATE:
                    self._size -= 1
                    self._creating -= 1
                    self._grant_locked(_monotonic())
        if isinstance(got, _Entry):
            self._give_back(got, None)

    def _timeout_error_locked(self, elapsed: float) -> BaseException:
        """The error for a caller whose time ran out (counted as a timeout)."""
        self._timeouts += 1
        if self._failures and self._last_error is not None:
            # The pool is backing off after creation errors: the caller gets the last one, the
            # driver's own error, rather than a bare timeout.
            return _copy_error(self._last_error)
        return PoolTimeout(
            f"pool {self._name!r}: no session available after waiting {elapsed:.3f}s "
            f"({self._in_use_locked(len(self._idle))} of {self._pool_size} in use, "
            f"{len(self._waiters)} waiting)"
        )

    # ------------------------------------------------------------------ creation

    def _wait_out_backoff(self, start: float, limit: float | None) -> None:
        """With a slot reserved while creation is failing: sleep until the back-off window ends,
        or give the slot up and raise (a copy of) the last creation error at the deadline."""
        deadline = _INF if limit is None else start + limit
        try:
            time.sleep(max(min(self._backoff_until, deadline) - _monotonic(), 0.0))
        except BaseException:  # interrupted while sleeping: the slot goes to the next waiter
            self._abandon_creation()
            raise
        if self._backoff_until > deadline:
            with self._lock:
                error = self._timeout_error_locked(_monotonic() - start)
            self._abandon_creation()
            raise error

    def _abandon_creation(self) -> None:
        """Give up a slot reserved for creating a session, and offer it to the oldest waiter."""
        with self._lock:
            self._size -= 1
            self._creating -= 1
            self._grant_locked(_monotonic())

    def _may_probe_locked(self, now: float) -> bool:
        """While creation is failing, allow one attempt at a time, once the back-off window ended."""
        return now >= self._backoff_until and self._creating == 0

    def _grant_locked(self, now: float) -> None:
        """Give free slots to the oldest waiters as the right to create a session.

        While creation is failing, one slot at a time, and only when no creation is under way:
        that waiter is the next probe. If the back-off window is still open, it waits the window
        out itself (within its deadline) before calling the factory; so a waiter that waits with
        no timeout is never left asleep with a free slot and nobody to wake it."""
        waiters = self._waiters
        while waiters and self._size < self._pool_size:
            if self._failures and self._creating:
                return  # a probe is under way: it grants on success, or hands its slot on
            waiter = waiters.popleft()
            self._size += 1
            self._creating += 1
            waiter.got = _CREATE
            waiter.lock.release()
            self._wait_hist.observe(now - waiter.start)
            if self._failures:
                return

    def _new_session(self) -> _Entry[T]:
        """Call the factory (the slot is already reserved); on error, free the slot and re-raise."""
        if self._needs_maintainer and self._maint_thread is None:
            self._start_maintainer()  # in a forked child, restarted on first use
        # The generation when the slot was reserved: a destroy_all_sessions() during the factory
        # call (a failover) must drop this session too, once it is made.
        generation = self._generation
        try:
            session = self._factory()
            if session is None:
                raise PoolError(
                    f"pool {self._name!r}: create_factory returned None; it must return a session or raise"
                )
        except BaseException as exc:
            now = _monotonic()
            with self._lock:
                self._size -= 1
                self._creating -= 1
                self._create_errors += 1
                if isinstance(exc, Exception):
                    self._failures += 1
                    self._last_error = exc
                    if self._backoff_initial > 0:
                        window = min(
                            self._backoff_max,
                            self._backoff_initial * 2.0 ** min(self._failures - 1, 30),
                        )
                        self._backoff_until = now + window * (0.5 + random.random() / 2)
                    else:
                        self._failures = 0
                self._grant_locked(now)
                failures = self._failures
            if failures == 1:
                logger.warning(
                    "pool %r: creating a session failed (%s); backing off further attempts",
                    self._name,
                    type(exc).__name__,
                )
            raise
        now = _monotonic()
        expires_at = _INF
        if self._max_lifetime is not None:
            expires_at = now + self._max_lifetime * (1.0 - self._lifetime_jitter * random.random())
        return _Entry(session, self._epoch, generation, now, expires_at)

    def _create_for_caller(self) -> _Entry[T]:
        """Create a session for the calling `get_session` (its slot is reserved) and lease it."""
        entry = self._new_session()
        closed = False
        with self._lock:
            self._creating -= 1
            self._created += 1
            if self._failures:
                self._failures = 0
                self._last_error = None
                self._grant_locked(entry.created_at)  # creation works again: wake the queue
            self._entries.add(entry)
            if self._closed or entry.epoch is not self._epoch:
                closed = True
                self._destroying += 1
            else:
                entry.leased = True
                entry.usage = 1
                if self._leak_watch is not None:
                    self._leak_watch[entry] = None
        if closed:
            self._destroy(entry, DestroyReason.CLOSED)
            raise PoolClosed(f"pool {self._name!r} was closed while creating a session")
        if self._on_create is not None:
            try:
                self._call_hook("on_create", self._on_create, entry.session)
            except BaseException:  # KeyboardInterrupt in the hook: the session goes back first
                self._give_back(entry, None)
                raise
        return entry

    # ------------------------------------------------------------------ return

    def _give_back(self, entry: _Entry[T], reason: DestroyReason | None, blocking: bool = True) -> None:
        """A lease was released: pool the session, hand it to a waiter, or destroy it.

        ``blocking=False`` is the finalizer's way (`Lease.__del__`, which may run inside any
        critical section, ours or the caller's): it never waits for a lock and runs no code of the
        user's. It publishes the session idle when that is all there is to do, hands it to a
        waiter if the lock is free at that instant, and otherwise hands the release to the
        finalizer thread (`_finalizer`), which does it the ordinary way.
        """
        now = _monotonic()
        interrupt: BaseException | None = None
        if not self._plain_return:
            if not blocking:  # a finalizer runs no code of the user's: the finalizer thread will
                _finalizer.defer(self._give_back, entry, reason)
                return
            try:  # outside the lock: the on_checkin hook, lifetime and usage limits, `reset`
                reason = self._before_return(entry, reason, now)
            except BaseException as exc:  # KeyboardInterrupt in reset or a hook: destroy, re-raise
                reason = DestroyReason.FAILED_RESET
                interrupt = exc
        if (
            reason is None
            and self._fast_return
            and entry.leased
            and entry.generation == self._generation
            and entry.expires_at > now
        ):
            if not self._waiters:
                # Fast path, no lock: publish the session as idle, then re-check (lock contract).
                entry.leased = False
                held = now - entry.leased_at  # the entry's hold statistics (it is ours now)
                entry.hold_sum += held
                if held > entry.hold_max:  # noqa: PLR1730
                    entry.hold_max = held
                entry.hold_buckets[0 if held <= FIRST_BOUND else _bisect(HISTOGRAM_BOUNDS, held)] += 1
                entry.returned_at = now
                self._idle.append(entry)
                if self._waiters or not self._fast_return or entry.generation != self._generation:
                    if blocking:
                        self._settle()
                    else:
                        _finalizer.defer(self._settle)
                return
            if blocking:
                # ---- critical section: contended, hand the session straight to the oldest
                # waiter (it stays leased: no idle state in between), as `_return_locked` does
                # once it has ruled out the rest.
                with self._lock:
                    if self._waiters and self._fast_return and entry.generation == self._generation:
                        held = now - entry.leased_at
                        entry.returned_at = now
                        self._put_back_locked(entry, now)  # to the oldest waiter, woken first
                        self._hold_hist.observe(held)
                        return
                # (nobody waits any more, or a close, resize or discard came first: below)
        if not blocking:
            if reason is None and entry.expires_at > now and self._lock.acquire(False):
                # The lock is free (this thread may hold it, so never wait): hand the session to
                # a waiter, or pool it, now. Nothing of the user's runs here.
                try:
                    reason = self._return_locked(entry, None, now)
                finally:
                    self._lock.release()
                if reason is not None:  # closed, resized, discarded: destroying is user code
                    _finalizer.defer(self._destroy_many, [(entry, reason)])
                return
            _finalizer.defer(self._give_back, entry, reason)
            return
        if self._plain_return and (reason is not None or entry.expires_at <= now):
            reason = self._before_return(entry, reason, now)  # (a plain pool's: no user code)
        self._return_slowly(entry, reason, now, interrupt)

    def _return_slowly(
        self, entry: _Entry[T], reason: DestroyReason | None, now: float, interrupt: BaseException | None
    ) -> None:
        """The general path of a return, under the lock."""
        with self._lock:
            reason = self._return_locked(entry, reason, now)
        if reason is not None:
            self._destroy_many([(entry, reason)])
        if interrupt is not None:
            raise interrupt

    def _settle(self) -> None:
        """After a lock-free release saw a waiter, a close, a resize or a destroy_all: settle."""
        with self._lock:
            doomed = self._settle_locked(None)
        self._destroy_many(doomed)

    def _settle_locked(self, doomed: _Doomed | None) -> _Doomed | None:
        """Make the idle deque consistent with the rest of the state: nothing idle while someone
        waits (hand sessions to the oldest waiters), nothing stale, excess or in a closed pool."""
        idle = self._idle
        if not idle:
            return doomed  # the common case under contention: nothing idle, nothing to settle
        if (
            self._closed
            or self._size - self._destroying > self._pool_size
            or any(e.generation != self._generation for e in tuple(idle))
        ):
            keep: list[_Entry[T]] = []
            while True:
                try:
                    entry = idle.popleft()
                except IndexError:
                    break
                if self._closed:
                    doomed = self._doom_locked(doomed, entry, DestroyReason.CLOSED)
                elif entry.generation != self._generation:
                    doomed = self._doom_locked(doomed, entry, DestroyReason.DISCARDED)
                elif self._size - self._destroying > self._pool_size:
                    doomed = self._doom_locked(doomed, entry, DestroyReason.RESIZED)
                else:
                    keep.append(entry)
            idle.extend(keep)
        now = _monotonic()
        while self._waiters:
            try:
                entry = idle.pop()
            except IndexError:
                break
            if entry.expires_at <= now:
                doomed = self._doom_locked(doomed, entry, DestroyReason.TOO_OLD)
            else:
                self._put_back_locked(entry, now)
        return doomed

    def _before_return(
        self, entry: _Entry[T], reason: DestroyReason | None, now: float
    ) -> DestroyReason | None:
        """Outside the lock: decide from the entry alone whether to retire it; else run `reset`."""
        if entry.epoch is not self._epoch:
            return reason  # inherited across fork: no hook, no reset; _return_locked lets it go
        if entry.leak_reported:
            logger.warning(
                "pool %r: a leaked session was finally returned after %.3fs",
                self._name,
                now - entry.leased_at,
            )
        if self._on_checkin is not None:
            self._call_hook("on_checkin", self._on_checkin, entry.session)
        if reason is None:
            if entry.expires_at <= now:
                reason = DestroyReason.TOO_OLD
            elif self._max_usage is not None and entry.usage >= self._max_usage:
                reason = DestroyReason.USED_UP
            elif (
                self._reset is not None
                and not self._closed
                and entry.generation == self._generation
                and entry.epoch is self._epoch
            ):
                try:
                    self._reset(entry.session)
                except Exception as exc:
                    logger.info(
                        "pool %r: resetting a returned session failed, destroying it: %r",
                        self._name,
                        exc,
                    )
                    reason = DestroyReason.FAILED_RESET
        return reason

    def _return_locked(
        self, entry: _Entry[T], reason: DestroyReason | None, now: float
    ) -> DestroyReason | None:
        """Take a leased entry back. Returns why it must be destroyed (by the caller, outside the
        lock), or None when it was pooled, handed to a waiter, or is not ours to touch."""
        if entry.epoch is not self._epoch or not entry.leased:
            return None  # inherited across fork (the parent owns it), or returned twice
        entry.leased = False
        held = now - entry.leased_at
        if self._leak_watch is not None:
            self._leak_watch.pop(entry, None)
        if reason is None:
            if self._closed:
                reason = DestroyReason.CLOSED
            elif entry.generation != self._generation:
                reason = DestroyReason.DISCARDED
            elif self._size - self._destroying > self._pool_size:
                reason = DestroyReason.RESIZED
            else:
                entry.returned_at = now
                self._put_back_locked(entry, now)
                self._hold_hist.observe(held)  # (after: a waiter is woken as soon as possible)
                return None
        self._hold_hist.observe(held)
        self._destroying += 1
        return reason

    def _put_back_locked(self, entry: _Entry[T], now: float) -> None:
        """A healthy session is free: to the oldest waiter if any (it never becomes idle), else idle."""
        waiters = self._waiters
        if waiters:
            waiter = waiters.popleft()
            entry.leased = True
            entry.leased_at = now
            entry.usage += 1
            if self._leak_watch is not None:
                self._leak_watch[entry] = None
            waiter.got = entry
            waiter.lock.release()  # wake it first: the statistics can follow
            self._wait_hist.observe(now - waiter.start)
        else:
            self._idle.append(entry)

    # ------------------------------------------------------------------ destruction

    def _doom_locked(self, doomed: _Doomed | None, entry: _Entry[T], reason: DestroyReason) -> _Doomed:
        """Mark an entry for destruction (done outside the lock by the caller)."""
        self._destroying += 1
        self._update_fast_return_locked()
        if doomed is None:
            doomed = []
        doomed.append((entry, reason))
        return doomed

    def _destroy(self, entry: _Entry[T], reason: DestroyReason) -> None:
        """Outside the lock (and never in a finalizer): run the destroyer, then free the slot."""
        try:
            self._run_destroyer(entry, reason)
        finally:  # even on KeyboardInterrupt: the slot is free once the destroyer returned
            with self._lock:
                self._free_locked(entry)

    def _run_destroyer(self, entry: _Entry[T], reason: DestroyReason) -> None:
        session = entry.session
        if self._destroyer is not None:
            try:
                self._destroyer(session)
            except Exception:
                logger.exception(
                    "pool %r: destroying a session (%s) raised; its slot is freed anyway",
                    self._name,
                    reason.value,
                )
        if self._on_destroy is not None:
            self._call_hook("on_destroy", self._on_destroy, session, reason)

    def _destroy_many(self, doomed: _Doomed | None) -> None:
        """Outside the lock: destroy what a critical section doomed (if anything)."""
        if not doomed:
            return
        interrupt: BaseException | None = None
        for entry, reason in doomed:
            try:
                self._destroy(entry, reason)
            except BaseException as exc:  # KeyboardInterrupt: destroy the rest, then re-raise
                interrupt = interrupt or exc
        if interrupt is not None:
            raise interrupt

    def _free_locked(self, entry: _Entry[T]) -> None:
        """A destroyer returned: free its slot, and offer it to the oldest waiter."""
        if entry.epoch is not self._epoch:
            return  # pragma: no cover - a destroy in flight across fork is the parent's
        self._size -= 1
        self._destroying -= 1
        self._retire_entry_locked(entry)
        self._update_fast_return_locked()
        self._grant_locked(_monotonic())
        if self._min_idle and not self._closed:
            self._notify_maintainer_locked()

    def _retire_entry_locked(self, entry: _Entry[T]) -> None:
        """Count a destroyed session, keeping its leases and hold times in the totals."""
        self._destroyed += 1
        if entry in self._entries:
            self._entries.remove(entry)
            self._retired_usage += entry.usage
            self._hold_hist.merge(entry.hold_buckets, entry.hold_sum, entry.hold_max)

    def _update_fast_return_locked(self) -> None:
        self._fast_return = (
            self._leak_timeout is None
            and not self._closed
            and self._size - self._destroying <= self._pool_size
        )

    def _take_all_idle_locked(self) -> list[_Entry[T]]:
        """Empty the idle deque (atomically per entry: fast paths may pop concurrently)."""
        taken: list[_Entry[T]] = []
        while True:
            try:
                taken.append(self._idle.popleft())
            except IndexError:
                return taken

    def _call_hook(self, name: str, hook: Callable[..., object], *args: object) -> None:
        try:
            hook(*args)
        except Exception:
            logger.exception("pool %r: the %s hook raised (ignored)", self._name, name)

    # ------------------------------------------------------------------ whole-pool operations

    def close(self) -> None:
        """Close the pool: idle sessions are destroyed now, leased ones when they are released,
        waiters and later `get_session` calls get `PoolClosed`. Idempotent."""
        doomed: _Doomed | None = None
        with self._lock:
            if not self._closed:
                self._closed = True
                self._fast_return = False
                for entry in self._take_all_idle_locked():
                    doomed = self._doom_locked(doomed, entry, DestroyReason.CLOSED)
                now = _monotonic()
                while self._waiters:
                    waiter = self._waiters.popleft()
                    self._wait_hist.observe(now - waiter.start)
                    waiter.got = _CLOSED
                    waiter.lock.release()
                self._notify_maintainer_locked()
        self._destroy_many(doomed)

    def __enter__(self) -> Pool[T]:
        return self

    def __exit__(
        self,
        exc_type: type[BaseException] | None,
        exc: BaseException | None,
        tb: TracebackType | None,
    ) -> None:
        self.close()

    def destroy_all_sessions(self) -> None:
        """Drop every session alive now: idle ones at once, leased ones when released. The pool
        stays open and makes new sessions as needed (after a failover, say)."""
        doomed: _Doomed | None = None
        with self._lock:
            self._generation += 1
            for entry in self._take_all_idle_locked():
                doomed = self._doom_locked(doomed, entry, DestroyReason.DISCARDED)
        self._destroy_many(doomed)

    #: The 0.1.x spelling of `destroy_all_sessions`.
    destory_all_sessions = destroy_all_sessions

    def resize(self, pool_size: int) -> None:
        """Change `pool_size` at run time. Growing wakes waiters at once; shrinking destroys idle
        sessions beyond the new size now and retires leased ones as they come back."""
        size = _check_number("pool_size", pool_size, minimum=1, allow_none=False, integer=True)
        if size < self._min_idle:
            raise ValueError(f"pool_size must be >= min_idle ({self._min_idle}), got {pool_size!r}")
        doomed: _Doomed | None = None
        with self._lock:
            self._pool_size = size
            self._update_fast_return_locked()
            excess = self._size - self._destroying - size
            idle = self._take_all_idle_locked()  # least recently returned first
            while excess > 0 and idle:
                doomed = self._doom_locked(doomed, idle.pop(0), DestroyReason.RESIZED)
                excess -= 1
            self._idle.extend(idle)
            self._grant_locked(_monotonic())
            self._notify_maintainer_locked()
        self._destroy_many(doomed)

    def stats(self) -> PoolStats:
        """A consistent snapshot of the pool's state and counters."""
        with self._lock:
            idle = len(self._idle)
            hold = Histogram()
            hold.merge(self._hold_hist.buckets, self._hold_hist.sum, self._hold_hist.max)
            leases = self._retired_usage
            for entry in self._entries:
                leases += entry.usage
                hold.merge(entry.hold_buckets, entry.hold_sum, entry.hold_max)
            stats = PoolStats(
                name=self._name,
                pool_size=self._pool_size,
                size=self._size,
                idle=idle,
                in_use=self._in_use_locked(idle),
                waiting=len(self._waiters),
                creating=self._creating,
                created=self._created,
                destroyed=self._destroyed,
                create_errors=self._create_errors,
                check_failures=self._check_failures,
                timeouts=self._timeouts,
                rejected=self._rejected,
                leases=leases,
                leaks=self._leaks,
                wait_count=self._wait_hist.count,
                wait_time_total=self._wait_hist.sum,
                wait_time_max=self._wait_hist.max,
                wait_histogram=self._wait_hist.snapshot(),
                hold_count=hold.count,
                hold_time_total=hold.sum,
                hold_time_max=hold.max,
                hold_histogram=hold.snapshot(),
            )
        return stats

    def _in_use_locked(self, idle: int) -> int:
        """Leased sessions (including ones being handed to a woken waiter), derived."""
        return self._size - idle - self._creating - self._destroying

    def __repr__(self) -> str:
        state = " closed" if self._closed else ""
        idle = len(self._idle)
        return (
            f"<{type(self).__name__} {self._name!r}{state} [{self._in_use_locked(idle)} leased, "
            f"{idle} idle, {len(self._waiters)} waiting] "
            f"size={self._size}/{self._pool_size}>"
        )

    # ------------------------------------------------------------------ housekeeping

    def _start_maintainer(self) -> None:
        thread = threading.Thread(
            target=_maintain,
            args=(weakref.ref(self), self._cond),
            name=f"pooling-maintainer-{self._name}",
            daemon=True,
        )
        self._maint_thread = thread
        thread.start()

    def _notify_maintainer_locked(self) -> None:
        if self._maint_thread is not None:
            self._maint_wanted = True
            self._cond.notify()

    def _housekeep(self) -> float | None:
        """One maintainer round: retire idle sessions past their time, report leaks, refill
        `min_idle`. Returns how long to sleep before the next round, or None to stop."""
        now = _monotonic()
        doomed: _Doomed | None = None
        leaks: list[_Entry[T]] = []
        to_create = 0
        next_round = now + _MAINTAIN_MAX_SLEEP
        with self._lock:
            if self._closed:
                next_round = -1.0
            else:
                keep: list[_Entry[T]] = []
                idle = self._take_all_idle_locked()
                spare = len(idle) - self._min_idle
                for entry in idle:  # least recently returned first
                    if entry.expires_at <= now:
                        doomed = self._doom_locked(doomed, entry, DestroyReason.TOO_OLD)
                        spare -= 1
                    elif (
                        self._max_idle_time is not None
                        and spare > 0
                        and now - entry.returned_at >= self._max_idle_time
                    ):
                        doomed = self._doom_locked(doomed, entry, DestroyReason.TOO_IDLE)
                        spare -= 1
                    else:
                        keep.append(entry)
                        if self._max_idle_time is not None:
                            next_round = min(next_round, entry.returned_at + self._max_idle_time)
                        next_round = min(next_round, entry.expires_at)
                self._idle.extendleft(reversed(keep))  # before any returned meanwhile
                if self._leak_watch is not None and self._leak_timeout is not None:
                    for entry in list(self._leak_watch):  # oldest lease first
                        due = entry.leased_at + self._leak_timeout
                        if due > now:
                            next_round = min(next_round, due)
                            break
                        del self._leak_watch[entry]
                        entry.leak_reported = True
                        self._leaks += 1
                        leaks.append(entry)
                if self._min_idle:
                    deficit = min(
                        self._min_idle - len(self._idle) - self._maint_creating,
                        self._pool_size - self._size,
                    )
                    if deficit > 0 and self._failures:
                        deficit = 1 if self._may_probe_locked(now) else 0
                        if not deficit:
                            next_round = min(next_round, self._backoff_until)
                    if deficit > 0:
                        to_create = deficit
                        self._size += deficit
                        self._creating += deficit
                        self._maint_creating += deficit
        self._destroy_many(doomed)
        for entry in leaks:
            stack = _format_stack(entry.stack) if entry.stack else "  (stack not captured)\n"
            logger.warning(
                "pool %r: a session has been leased for %.3fs (leak_timeout=%ss); it was taken at:\n%s",
                self._name,
                now - entry.leased_at,
                self._leak_timeout,
                stack,
            )
        for _ in range(to_create):
            threading.Thread(target=self._add_idle, name=f"pooling-create-{self._name}", daemon=True).start()
        if next_round < 0:
            return None
        # Sessions returned (or leased) lock-free meanwhile do not wake the maintainer: look
        # again well within the idle and leak limits.
        for limit in (self._max_idle_time, self._leak_timeout):
            if limit is not None:
                next_round = min(next_round, now + limit / 2)
        return max(next_round - _monotonic(), 0.001)

    def _add_idle(self) -> None:
        """Maintainer's worker: create one session for `min_idle` (slot already reserved)."""
        try:
            entry = self._new_session()
        except Exception as exc:
            with self._lock:
                self._maint_creating -= 1
                self._notify_maintainer_locked()  # to retry once the back-off window ends
            logger.warning("pool %r: creating an idle session failed: %r", self._name, exc)
            return
        if self._on_create is not None:
            try:
                self._call_hook("on_create", self._on_create, entry.session)
            except BaseException:  # in this worker thread, nobody to raise it to: log it
                logger.exception("pool %r: the on_create hook raised (ignored)", self._name)
        reason: DestroyReason | None = None
        with self._lock:
            self._maint_creating -= 1
            self._creating -= 1
            self._created += 1
            if self._failures:
                self._failures = 0
                self._last_error = None
            self._entries.add(entry)
            if self._closed or entry.epoch is not self._epoch:
                reason = DestroyReason.CLOSED
            elif entry.generation != self._generation:
                reason = DestroyReason.DISCARDED  # made across a destroy_all_sessions()
            if reason is not None:
                self._destroying += 1
            else:
                self._put_back_locked(entry, _monotonic())
                self._grant_locked(_monotonic())
            if reason is DestroyReason.DISCARDED:
                self._notify_maintainer_locked()  # min_idle is one short again
        if reason is not None:
            self._destroy(entry, reason)


def _maintain(ref: weakref.ref[Pool[Any]], cond: threading.Condition) -> None:
    """The maintainer thread of one pool. It holds the pool only weakly, between rounds, so an
    unreferenced pool is collected and its maintainer ends within `_MAINTAIN_MAX_SLEEP`."""
    delay = 0.0
    while True:
        with cond:
            pool = ref()
            if pool is None:
                return
            if not pool._maint_wanted and delay > 0:
                del pool
                cond.wait(delay)
                pool = ref()
                if pool is None:
                    return
            pool._maint_wanted = False
            if pool._cond is not cond:
                return  # forked child: this pool was rebuilt and has a maintainer of its own
        try:
            result = pool._housekeep()
        except Exception:  # pragma: no cover - defensive: keep maintaining
            logger.exception("pool %r: housekeeping failed", pool.name)
            result = 1.0
        del pool
        if result is None:
            return
        delay = result
