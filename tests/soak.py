"""Soak runner: many threads hammer one small pool while its hooks fail at random.

Run it by hand for a long soak::

    python tests/soak.py --seconds 300

or import it (tests/test_soak.py runs it for a few seconds)::

    from soak import SoakConfig, run_soak
    result = run_soak(SoakConfig(seconds=5))
    assert result.violation_count == 0 and result.leftovers == 0

What the workers do (a seeded `random.Random` per thread picks each step): acquire with
``timeout=None`` (wait forever), ``0`` (no wait), the pool's default or a short random timeout; hold
the session a random short time; release it by a ``with`` block, ``close()``, ``del``,
``invalidate()``, through a reference cycle (collected by ``gc.collect()`` at once or later, in
whatever thread the collector runs), or from another thread; take two leases at once; call
``destroy_all_sessions()``, ``resize()`` (between 2 and ``pool_size``), ``gc.collect()`` and
``stats()``. Meanwhile the factory, the check, the
reset and the destroyer each fail a few percent of the time (the fault rolls use the calling
thread's seeded random too).

What is checked, inside the workers and the hooks, while it runs:

* no session is held by two threads at once (``holders``, under the test's own lock);
* never more than ``pool_size`` sessions alive, counted in the fake backend from the factory call
  until the destroyer returned (the slot's lifetime by the pool's contract);
* no session is handed out, checked, reset or destroyed after it was destroyed, or after it was
  invalidated; none is destroyed twice or while held; none whose factory was called before a
  ``destroy_all_sessions()`` is handed to a caller that came after that call returned;
* every ``get_session`` answers with a session or a legitimate error (`PoolTimeout`, the factory's
  error) within its timeout plus a slack; nothing else escapes;
* a released lease raises `LeaseReleased`;
* every ``stats()`` snapshot is sane (size <= pool_size, idle + in_use + creating <= size, counters
  not ahead of what the backend did).

At the end (threads stop by themselves at the deadline; a watchdog reports any that do not), cycles
are collected and the pool is closed, then: every session created was destroyed exactly once
(none left over), and ``stats()`` agrees with the backend and with what the workers saw.
"""

from __future__ import annotations

import argparse
import gc
import itertools
import logging
import os
import queue
import random
import re
import sys
import threading
import time
import traceback
from collections import Counter
from dataclasses import dataclass
from typing import Any

try:
    import pooling
except ImportError:  # pragma: no cover - run from a checkout without installing
    sys.path.insert(0, os.path.join(os.path.dirname(os.path.abspath(__file__)), "..", "src"))
    import pooling

from pooling import LeaseReleased, Pool, PoolClosed, PoolStats, PoolTimeout, _finalizer

__all__ = ["FactoryError", "FakeBackend", "FakeSession", "SoakConfig", "SoakResult", "run_soak"]


class FactoryError(RuntimeError):
    """What the fake factory raises when a fault is injected."""


class CheckError(RuntimeError):
    """What the fake check raises when a fault is injected."""


class ResetError(RuntimeError):
    """What the fake reset raises when a fault is injected."""


class DestroyError(RuntimeError):
    """What the fake destroyer raises when a fault is injected."""


@dataclass
class SoakConfig:
    seconds: float = 5.0
    threads: int = 32
    pool_size: int = 4
    seed: int = 1
    #: probability that each call of the hook fails
    factory_fault: float = 0.03
    check_fault: float = 0.03
    reset_fault: float = 0.03
    destroyer_fault: float = 0.03
    #: True: the pool has a check and a reset, min_idle, max_lifetime, max_idle_time and
    #: max_usage (the general paths); False: a factory and a destroyer only (the fast paths)
    hooks: bool = True
    #: resize the pool now and then, between 2 and pool_size
    resize: bool = True
    #: the pool's options besides the hooks (those after `timeout` apply only when `hooks`)
    timeout: float = 0.5
    min_idle: int = 1
    max_lifetime: float | None = 0.5
    max_idle_time: float | None = 0.3
    max_usage: int | None = 25
    check_interval: float = 0.0
    backoff_initial: float = 0.01
    backoff_max: float = 0.1
    #: a get_session later than its timeout by more than this is a violation (a loaded CI box
    #: with 32 threads on 2 CPUs needs some room)
    late_slack: float = 2.0
    #: threads still running this long after the deadline are reported as stuck
    grace: float = 30.0
    #: lower the collector's thresholds, so that automatic collections (and so lease finalizers)
    #: run often, in whatever thread happens to allocate
    aggressive_gc: bool = True
    verbose: bool = False


@dataclass
class SoakResult:
    config: SoakConfig
    elapsed: float
    operations: Counter[str]
    faults: Counter[str]
    outcomes: Counter[str]
    #: the first violations, in full (all of them are counted in `violation_count` and `violation_kinds`)
    violations: list[str]
    violation_count: int
    violation_kinds: Counter[str]
    leftovers: int
    sessions_created: int
    stats: PoolStats
    log_records: Counter[str]
    max_late: float
    stuck_threads: int

    @property
    def ok(self) -> bool:
        return self.violation_count == 0 and self.leftovers == 0

    def report(self) -> str:
        c = self.config
        lines = [
            f"soak ({'check, reset, min_idle, lifetimes, max_usage' if c.hooks else 'factory and destroyer only'}): "
            f"{c.threads} threads, pool_size {c.pool_size}, {self.elapsed:.1f} s, seed {c.seed}",
            f"operations: {sum(self.operations.values())}",
        ]
        lines += [f"  {kind:<28} {n:>10}" for kind, n in sorted(self.operations.items())]
        lines.append(f"faults injected: {sum(self.faults.values())}")
        lines += [f"  {kind:<28} {n:>10}" for kind, n in sorted(self.faults.items())]
        lines.append("outcomes seen by workers:")
        lines += [f"  {kind:<28} {n:>10}" for kind, n in sorted(self.outcomes.items())]
        s = self.stats
        lines.append(
            f"pool stats: created {s.created}, destroyed {s.destroyed}, create_errors {s.create_errors}, "
            f"check_failures {s.check_failures}, timeouts {s.timeouts}, leases {s.leases}, "
            f"hold_count {s.hold_count}, wait_count {s.wait_count}, wait_max {s.wait_time_max:.3f}s"
        )
        lines.append(
            "log records: " + (", ".join(f"{k} {n}" for k, n in sorted(self.log_records.items())) or "none")
        )
        lines.append(f"max lateness past a timeout: {self.max_late * 1000:.1f} ms")
        lines.append(f"sessions created: {self.sessions_created}")
        lines.append(f"invariant violations: {self.violation_count}")
        lines += [f"  {n:>8} x {kind}" for kind, n in self.violation_kinds.most_common()]
        if self.violations:
            lines.append("  first ones in full:")
        lines += [f"  ! {v}" for v in self.violations[:10]]
        lines.append(f"sessions left over after close: {self.leftovers}")
        return "\n".join(lines)


_KEEP_VIOLATIONS = 200


def _kind(violation: str) -> str:
    """A violation's text without the thread, session ids and figures: what kind it is."""
    text = violation.split("] ", 1)[-1].split("\n", 1)[0]
    return re.sub(r"#?\d+(\.\d+)?", "N", text)[:100]


class FakeSession:
    """A session of the fake backend: it knows its state, so misuse is seen at once."""

    __slots__ = (
        "born_gen",
        "destroy_calls",
        "destroyed",
        "id",
        "invalidated",
        "needs_check",
        "pid",
        "uses",
    )

    def __init__(self, sid: int, born_gen: int) -> None:
        self.id = sid
        self.pid = os.getpid()
        # destroy_all_sessions() calls begun when its factory was called: a later call must drop it
        # (even one made while the factory ran: after a failover, it may be the old server's)
        self.born_gen = born_gen
        self.destroy_calls = 0
        self.destroyed = False
        self.invalidated = False
        self.needs_check = False  # returned (reset) and not checked since
        self.uses = 0

    def __repr__(self) -> str:
        return f"<FakeSession #{self.id}>"


class FakeBackend:
    """Factory, check, reset and destroyer of fake sessions, with fault injection and accounting."""

    def __init__(self, config: SoakConfig) -> None:
        self.config = config
        self.lock = threading.Lock()  # the test's lock: guards everything below
        self._vlock = threading.Lock()
        self.violations: list[str] = []
        self.violation_count = 0
        self.violation_kinds: Counter[str] = Counter()
        self.faults: Counter[str] = Counter()
        self.sessions: dict[int, FakeSession] = {}
        self.holders: dict[int, str] = {}  # session id -> name of the thread holding it
        self.live = 0  # factory called and not failed, destroyer not returned
        self.max_live = 0
        self.created = 0  # factory successes
        self.factory_failures = 0
        self.check_failures = 0
        self.destroy_calls = 0
        self.discard_started = 0  # destroy_all_sessions() calls begun
        self.discard_done = 0  # ... and returned
        # ids of the FactoryError objects the factory raised, kept alive so ids are not reused
        self.raised_errors: set[int] = set()
        self._raised_keepalive: list[BaseException] = []
        self._ids = itertools.count(1)
        self._local = threading.local()
        self._seeds = itertools.count(1_000_000)

    # -- helpers ------------------------------------------------------------------------------------

    def rng(self) -> random.Random:
        rng: random.Random | None = getattr(self._local, "rng", None)
        if rng is None:  # a thread of the pool's own (maintainer, creator): seeded too
            rng = random.Random(self.config.seed * 7919 + next(self._seeds))
            self._local.rng = rng
        return rng

    def set_rng(self, rng: random.Random) -> None:
        self._local.rng = rng

    def violation(self, text: str) -> None:
        """Record a broken invariant (the caller may hold self.lock or not). The first
        `_KEEP_VIOLATIONS` are kept in full; all are counted by kind."""
        stamp = f"[{threading.current_thread().name}] {text}"
        with self._vlock:
            self.violation_count += 1
            self.violation_kinds[_kind(stamp)] += 1
            if len(self.violations) < _KEEP_VIOLATIONS:
                self.violations.append(stamp)
        if self.config.verbose:
            print("VIOLATION", stamp, file=sys.stderr, flush=True)

    def _fault(self, kind: str, rate: float) -> bool:
        if rate and self.rng().random() < rate:
            with self.lock:
                self.faults[kind] += 1
            return True
        return False

    # -- the hooks -----------------------------------------------------------------------------------

    def factory(self) -> FakeSession:
        with self.lock:
            born_gen = self.discard_started
            self.live += 1
            self.max_live = max(self.max_live, self.live)
            if self.live > self.config.pool_size:
                self.violation(f"{self.live} sessions alive (or being created) > pool_size")
        try:
            rng = self.rng()
            if rng.random() < 0.02:
                time.sleep(rng.random() * 0.005)  # a slow connect now and then
            if self._fault("factory", self.config.factory_fault):
                raise FactoryError("injected factory fault")
        except BaseException as exc:
            with self.lock:
                self.live -= 1
                self.factory_failures += 1
                self.raised_errors.add(id(exc))
                self._raised_keepalive.append(exc)
            raise
        with self.lock:
            session = FakeSession(next(self._ids), born_gen)
            self.sessions[session.id] = session
            self.created += 1
        return session

    def _check_usable(self, session: FakeSession, what: str) -> None:
        if session.destroyed:
            self.violation(f"{what} called on destroyed {session!r}")
        holder = self.holders.get(session.id)
        if holder is not None:
            self.violation(f"{what} called on {session!r} while {holder} holds it")

    def check(self, session: FakeSession) -> None:
        with self.lock:
            self._check_usable(session, "check")
            session.needs_check = False
        if self._fault("check", self.config.check_fault):
            with self.lock:
                self.check_failures += 1
            raise CheckError("injected check fault")

    def reset(self, session: FakeSession) -> None:
        with self.lock:
            self._check_usable(session, "reset")
            session.needs_check = True
        if self._fault("reset", self.config.reset_fault):
            raise ResetError("injected reset fault")

    def destroy(self, session: FakeSession) -> None:
        with self.lock:
            session.destroy_calls += 1
            self.destroy_calls += 1
            if session.destroy_calls > 1:
                self.violation(f"{session!r} destroyed {session.destroy_calls} times")
            holder = self.holders.get(session.id)
            if holder is not None:
                self.violation(f"{session!r} destroyed while {holder} holds it")
            session.destroyed = True
        try:
            rng = self.rng()
            if rng.random() < 0.02:
                time.sleep(rng.random() * 0.003)  # a slow close now and then
            if self._fault("destroyer", self.config.destroyer_fault):
                raise DestroyError("injected destroyer fault")
        finally:
            with self.lock:
                self.live -= 1


class _Abandoned(Exception):
    """The pool is deadlocked: the end-of-run checks cannot run."""


class _CountingHandler(logging.Handler):
    def __init__(self) -> None:
        super().__init__(logging.DEBUG)
        self.counts: Counter[str] = Counter()

    def emit(self, record: logging.LogRecord) -> None:
        msg = record.msg if isinstance(record.msg, str) else str(record.msg)
        key = msg.split(":", 1)[-1].strip()[:48]
        self.counts[f"{record.levelname} {key}"] += 1


class _Worker:
    """One soak thread. Each step is bounded; the loop ends at the deadline."""

    def __init__(
        self,
        index: int,
        pool: Pool[FakeSession],
        backend: FakeBackend,
        deadline: float,
        releaser: queue.Queue[Any],
    ) -> None:
        self.index = index
        self.pool = pool
        self.backend = backend
        self.deadline = deadline
        self.releaser = releaser
        self.rng = random.Random(backend.config.seed * 1_000_003 + index)
        self.ops: Counter[str] = Counter()
        self.outcomes: Counter[str] = Counter()
        self.max_late = 0.0
        self.name = f"soak-{index}"

    # -- bookkeeping ----------------------------------------------------------------------------------

    def _took(self, session: Any, started_after_discards: int) -> None:
        b = self.backend
        if not isinstance(session, FakeSession):
            b.violation(f"get_session handed out {session!r}, not a session of the factory")
            return
        with b.lock:
            if session.destroyed:
                b.violation(f"destroyed {session!r} handed out")
            if session.invalidated:
                b.violation(f"invalidated {session!r} handed out again")
            if session.pid != os.getpid():
                b.violation(f"{session!r} made in process {session.pid} handed out in {os.getpid()}")
            if session.born_gen < started_after_discards:
                b.violation(
                    f"{session!r}, whose factory was called before destroy_all_sessions() "
                    f"#{started_after_discards}, was handed to a caller that came after it"
                )
            if session.needs_check and b.config.hooks and b.config.check_interval == 0:
                b.violation(f"{session!r} handed out again without its check (check_interval=0)")
            holder = b.holders.get(session.id)
            if holder is not None:
                b.violation(f"{session!r} handed to {self.name} while {holder} holds it")
            b.holders[session.id] = self.name
            session.uses += 1

    def _hold(self, session: FakeSession) -> None:
        rng = self.rng
        roll = rng.random()
        if roll < 0.6:
            pass
        elif roll < 0.95:
            time.sleep(rng.random() * 0.002)
        else:
            time.sleep(0.005 + rng.random() * 0.015)
        b = self.backend
        with b.lock:
            if session.destroyed:
                b.violation(f"{session!r} destroyed while {self.name} held it")
            if b.holders.get(session.id) != self.name:
                b.violation(f"{session!r} held by {self.name} is recorded as {b.holders.get(session.id)}")

    def _drop(self, session: FakeSession, invalidate: bool = False) -> None:
        """Stop holding (just before the release call, while the pool still counts it leased)."""
        b = self.backend
        with b.lock:
            if b.holders.pop(session.id, None) != self.name:
                b.violation(f"{self.name} released {session!r} it did not hold")
            if invalidate:
                session.invalidated = True

    def _timeout(self) -> tuple[str, Any]:
        roll = self.rng.random()
        if roll < 0.2:
            return "forever", None
        if roll < 0.35:
            return "nowait", 0
        if roll < 0.55:
            return "default", None
        return "short", self.rng.choice((0.001, 0.005, 0.02, 0.05, 0.1))

    def _acquire(self, label: str, timeout: Any) -> pooling.Lease[FakeSession] | None:
        """get_session, timed, with every outcome checked. None if it (legitimately) failed."""
        b = self.backend
        discards = b.discard_done
        limit = self.pool.timeout if label == "default" else timeout
        self.ops[f"acquire timeout={label}"] += 1
        start = time.monotonic()
        try:
            if label == "default":
                lease = self.pool.get_session()
            else:
                lease = self.pool.get_session(timeout=timeout)
        except PoolTimeout:
            self.outcomes["PoolTimeout"] += 1
            self._late(start, limit, "PoolTimeout")
            return None
        except FactoryError as exc:
            if id(exc) in b.raised_errors:
                self.outcomes["factory error (own attempt)"] += 1
            else:
                self.outcomes["factory error (copy, at deadline)"] += 1
                self._late(start, limit, "copied factory error")
            return None
        except Exception as exc:
            b.violation(f"get_session({label}) raised {exc!r}:\n{traceback.format_exc()}")
            return None
        self.outcomes["got a session"] += 1
        self._late(start, limit, "a session")
        self._took(lease.session, discards)
        return lease

    def _late(self, start: float, limit: float | None, what: str) -> None:
        if limit is None:
            return
        late = time.monotonic() - start - limit
        self.max_late = max(self.max_late, late)
        if late > self.backend.config.late_slack:
            self.backend.violation(f"get_session(timeout={limit}) gave {what} {late:.3f}s past its deadline")

    def _released_check(self, lease: pooling.Lease[FakeSession]) -> None:
        if not lease.released:
            self.backend.violation("lease not released after its release call")
        try:
            lease.session  # noqa: B018
        except LeaseReleased:
            pass
        else:
            self.backend.violation("released lease still gives its session")

    # -- steps --------------------------------------------------------------------------------------

    def step(self) -> None:
        rng = self.rng
        roll = rng.random()
        if roll < 0.006:
            self.ops["destroy_all_sessions"] += 1
            b = self.backend
            with b.lock:
                b.discard_started += 1
            self.pool.destroy_all_sessions()
            with b.lock:
                b.discard_done += 1
            return
        if roll < 0.009 and self.backend.config.resize:
            size = rng.randint(max(2, self.pool.stats().pool_size - 1), self.backend.config.pool_size)
            self.ops["resize"] += 1
            self.pool.resize(size)  # never above config.pool_size: the live-count bound holds
            return
        if roll < 0.02:
            self.ops["gc.collect"] += 1
            gc.collect()
            return
        if roll < 0.07:
            self.ops["stats"] += 1
            self.check_stats()
            return
        if roll < 0.11:
            self.two_leases()
            return
        label, timeout = self._timeout()
        style_roll = rng.random()
        lease = self._acquire(label, timeout)
        if lease is None:
            return
        session = lease.session
        if style_roll < 0.3:
            self.ops["release: with"] += 1
            with lease as entered:
                if entered is not session:
                    self.backend.violation("`with lease as x` did not bind the session")
                self._hold(session)
                self._drop(session)
            self._released_check(lease)
            return
        self._hold(session)
        if style_roll < 0.55:
            self.ops["release: close()"] += 1
            self._drop(session)
            lease.close()
            if rng.random() < 0.2:
                lease.close()  # idempotent
            self._released_check(lease)
        elif style_roll < 0.75:
            self.ops["release: del"] += 1
            self._drop(session)
            del lease
        elif style_roll < 0.83:
            self.ops["release: invalidate()"] += 1
            self._drop(session, invalidate=True)
            lease.invalidate()
            self._released_check(lease)
        elif style_roll < 0.95:
            self._drop(session)
            box: dict[str, Any] = {"lease": lease}
            box["self"] = box  # a reference cycle holding the lease
            del lease, box
            if rng.random() < 0.5:
                self.ops["release: cycle + gc.collect()"] += 1
                gc.collect()
            else:
                self.ops["release: cycle, collected later"] += 1
        else:
            self.ops["release: from another thread"] += 1
            self._drop(session)
            self.releaser.put(lease)
            del lease

    def two_leases(self) -> None:
        self.ops["two leases at once"] += 1
        first = self._acquire("short", 0.05)
        if first is None:
            return
        second = self._acquire("short", 0.02)
        if second is not None:
            self._hold(second.session)
            self._drop(second.session)
            second.close()
        self._hold(first.session)
        self._drop(first.session)
        first.close()

    def check_stats(self) -> None:
        b = self.backend
        st = self.pool.stats()
        with b.lock:
            created, destroyed, failures = b.created, b.destroy_calls, b.factory_failures
        problems = []
        # After a shrink, leased sessions beyond the new size are retired as they come back.
        if st.size > (b.config.pool_size if b.config.resize else st.pool_size):
            problems.append("size > pool_size")
        if st.idle + st.in_use + st.creating > st.size:
            problems.append("idle + in_use + creating > size")
        if min(st.size, st.idle, st.in_use, st.creating, st.waiting, st.created, st.destroyed) < 0:
            problems.append("a negative figure")
        if st.waiting > b.config.threads:
            problems.append("more waiters than threads")
        if st.created > created:
            problems.append(f"stats.created {st.created} > factory successes {created}")
        if st.destroyed > destroyed:
            problems.append(f"stats.destroyed {st.destroyed} > destroyer calls {destroyed}")
        if st.create_errors > failures:
            problems.append(f"stats.create_errors {st.create_errors} > factory failures {failures}")
        if st.destroyed > st.created:
            problems.append("destroyed > created")
        for p in problems:
            b.violation(f"stats() inconsistent: {p}: {st}")

    def run(self) -> None:
        self.backend.set_rng(self.rng)
        try:
            while time.monotonic() < self.deadline:
                self.step()
        except BaseException as exc:  # pragma: no cover - reported, never swallowed silently
            self.backend.violation(f"worker died: {exc!r}\n{traceback.format_exc()}")


def _releaser(q: queue.Queue[Any], done: Counter[str]) -> None:
    while True:
        lease = q.get()
        if lease is None:
            return
        lease.close()
        done["released"] += 1
        del lease


def run_soak(config: SoakConfig | None = None, **overrides: Any) -> SoakResult:
    """Run the soak; return what happened. Never raises for a broken invariant: it reports it."""
    if config is None:
        config = SoakConfig(**overrides)
    elif overrides:
        config = SoakConfig(**{**config.__dict__, **overrides})
    backend = FakeBackend(config)
    logger = logging.getLogger("pooling")
    handler = _CountingHandler()
    old_level, old_propagate = logger.level, logger.propagate
    logger.addHandler(handler)
    logger.setLevel(logging.DEBUG)
    logger.propagate = False  # injected destroyer faults log tracebacks: count them, don't print them
    old_threshold = gc.get_threshold()
    if config.aggressive_gc:
        gc.set_threshold(100, 5, 5)
    options: dict[str, Any] = {}
    if config.hooks:
        options = {
            "check": backend.check,
            "reset": backend.reset,
            "min_idle": config.min_idle,
            "max_lifetime": config.max_lifetime,
            "max_idle_time": config.max_idle_time,
            "max_usage": config.max_usage,
            "check_interval": config.check_interval,
        }
    pool: Pool[FakeSession] = Pool(
        config.pool_size,
        backend.factory,
        destroy_factory=backend.destroy,
        timeout=config.timeout,
        backoff_initial=config.backoff_initial,
        backoff_max=config.backoff_max,
        name="soak-hooks" if config.hooks else "soak-plain",
        **options,
    )
    released: Counter[str] = Counter()
    # Leases dropped in reference cycles come back only when the cycle collector runs. A real
    # application allocates all the time, so it runs; here every worker may be blocked waiting
    # (timeout=None) for sessions that sit in uncollected garbage, and nothing allocates. This
    # thread stands for the rest of the application: it runs the collector now and then.
    collector_stop = threading.Event()

    def _collector() -> None:
        while not collector_stop.wait(0.05):
            gc.collect()

    collector = threading.Thread(target=_collector, name="soak-gc", daemon=True)
    collector.start()
    releaser_q: queue.Queue[Any] = queue.Queue()
    releaser = threading.Thread(
        target=_releaser, args=(releaser_q, released), name="soak-releaser", daemon=True
    )
    releaser.start()
    start = time.monotonic()
    deadline = start + config.seconds
    workers = [_Worker(i, pool, backend, deadline, releaser_q) for i in range(config.threads)]
    threads = [threading.Thread(target=w.run, name=w.name, daemon=True) for w in workers]
    stuck = 0
    abandoned = False
    try:
        for t in threads:
            t.start()
        for t in threads:
            t.join(max(0.0, deadline + config.grace - time.monotonic()))
        alive = [t for t in threads if t.is_alive()]
        if alive:
            stuck = len(alive)
            frames = sys._current_frames()
            for t in alive:
                frame = frames.get(t.ident or -1)
                stack = "".join(traceback.format_stack(frame)) if frame is not None else "?"
                backend.violation(f"{t.name} still running {config.grace}s after the deadline:\n{stack}")
            others = {t.ident: t.name for t in threading.enumerate() if t not in alive}
            for ident, frame in frames.items():
                if ident in others and ident != threading.get_ident():
                    stack = "".join(traceback.format_stack(frame))
                    backend.violation(f"(stack of {others[ident]} at that time)\n{stack}")
            # Is the pool's lock stuck? Then closing it would hang us too: report and give up.
            if not pool._lock.acquire(timeout=5):
                backend.violation("the pool's lock is held forever (deadlock): soak abandoned")
                raise _Abandoned
            pool._lock.release()
            pool.close()  # wakes every waiter with PoolClosed
            for t in alive:
                t.join(10)
        releaser_q.put(None)
        releaser.join(10)
        collector_stop.set()
        collector.join(10)
        elapsed = time.monotonic() - start
        gc.collect()  # leases left in cycles
        # a dropped lease that needed more than the lock-free publish is given back by the
        # pool's finalizer thread: wait for it to be done
        if not _finalizer.flush(30):
            backend.violation("the finalizer thread did not catch up within 30 s")
        before_close = pool.stats()
        if before_close.in_use:
            backend.violation(f"{before_close.in_use} sessions still leased after every worker ended")
        pool.close()
        try:
            pool.get_session(timeout=0)
        except PoolClosed:
            pass
        except Exception as exc:
            backend.violation(f"get_session after close raised {exc!r}, not PoolClosed")
        else:
            backend.violation("get_session after close handed out a session")
        # A creation started by the maintainer may still be finishing: wait for it (bounded).
        settle = time.monotonic() + 10
        while time.monotonic() < settle:
            st = pool.stats()
            if st.size == 0 and st.creating == 0:
                break
            time.sleep(0.01)
        st = pool.stats()
    except _Abandoned:
        abandoned = True
        elapsed = time.monotonic() - start
        zeros: dict[str, Any] = dict.fromkeys(PoolStats.__dataclass_fields__, 0)
        st = PoolStats(**{**zeros, "name": pool.name, "wait_histogram": (), "hold_histogram": ()})
    finally:
        gc.set_threshold(*old_threshold)
        logger.removeHandler(handler)
        logger.setLevel(old_level)
        logger.propagate = old_propagate

    operations: Counter[str] = Counter()
    outcomes: Counter[str] = Counter()
    for w in workers:
        operations.update(w.ops)
        outcomes.update(w.outcomes)
    outcomes["released by the releaser thread"] = released["released"]
    with backend.lock:
        leftovers = sum(1 for s in backend.sessions.values() if s.destroy_calls == 0)
        holders = dict(backend.holders)
        live = backend.live

    if not abandoned:  # (threads still stuck: their sessions are not back, nothing to compare)

        def expect(what: str, got: object, want: object) -> None:
            if got != want:
                backend.violation(f"at the end, {what} is {got}, expected {want}")

        expect("stats().size", st.size, 0)
        expect("stats().idle", st.idle, 0)
        expect("stats().in_use", st.in_use, 0)
        expect("stats().creating", st.creating, 0)
        expect("stats().waiting", st.waiting, 0)
        expect("the number of sessions held by workers", len(holders), 0)
        expect("the number of sessions alive in the backend", live, 0)
        expect("stats().created (factory successes)", st.created, backend.created)
        expect("stats().destroyed (destroyer calls)", st.destroyed, backend.destroy_calls)
        expect("stats().create_errors (factory failures)", st.create_errors, backend.factory_failures)
        expect("stats().check_failures (check faults)", st.check_failures, backend.check_failures)
        expect("stats().destroyed (sessions created)", st.destroyed, st.created)
        got = outcomes["got a session"]
        expect("stats().hold_count (sessions handed out, all released)", st.hold_count, got)
        # A lease is counted when the pool takes a session for a caller, before its check: one that
        # fails its check was counted too.
        expect("stats().leases (handed out)", st.leases, got)
        copies = outcomes["factory error (copy, at deadline)"]
        expect(
            "stats().timeouts (PoolTimeouts + copied factory errors)",
            st.timeouts,
            outcomes["PoolTimeout"] + copies,
        )
        if backend.max_live > config.pool_size:
            backend.violation(f"at most {backend.max_live} sessions alive at once > pool_size")

    return SoakResult(
        config=config,
        elapsed=elapsed,
        operations=operations,
        faults=Counter(backend.faults),
        outcomes=outcomes,
        violations=list(backend.violations),
        violation_count=backend.violation_count,
        violation_kinds=Counter(backend.violation_kinds),
        leftovers=leftovers,
        sessions_created=backend.created,
        stats=st,
        log_records=handler.counts,
        max_late=max((w.max_late for w in workers), default=0.0),
        stuck_threads=stuck,
    )


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0] if __doc__ else None)
    parser.add_argument("--seconds", type=float, default=300.0)
    parser.add_argument("--threads", type=int, default=32)
    parser.add_argument("--pool-size", type=int, default=4)
    parser.add_argument("--seed", type=int, default=None, help="default: random (printed)")
    parser.add_argument("--fault-rate", type=float, default=0.03, help="of each hook (default 0.03)")
    parser.add_argument(
        "--profile",
        choices=("both", "hooks", "plain"),
        default="both",
        help="hooks: check/reset/min_idle/lifetimes/max_usage; plain: factory and destroyer only "
        "(the fast paths); both (default): half the time each",
    )
    parser.add_argument("--no-aggressive-gc", action="store_true")
    parser.add_argument("--verbose", action="store_true", help="print violations as they happen")
    ns = parser.parse_args(argv)
    seed = ns.seed if ns.seed is not None else random.SystemRandom().randrange(1, 2**31)
    profiles = [True, False] if ns.profile == "both" else [ns.profile == "hooks"]
    print(f"pooling {pooling.__version__}, python {sys.version.split()[0]}, pid {os.getpid()}", flush=True)
    ok = True
    for hooks in profiles:
        config = _cli_config(ns, seed, hooks, ns.seconds / len(profiles))
        result = run_soak(config)
        print(result.report(), flush=True)
        ok = ok and result.ok
    return 0 if ok else 1


def _cli_config(ns: argparse.Namespace, seed: int, hooks: bool, seconds: float) -> SoakConfig:
    return SoakConfig(
        seconds=seconds,
        hooks=hooks,
        threads=ns.threads,
        pool_size=ns.pool_size,
        seed=seed,
        factory_fault=ns.fault_rate,
        check_fault=ns.fault_rate,
        reset_fault=ns.fault_rate,
        destroyer_fault=ns.fault_rate,
        aggressive_gc=not ns.no_aggressive_gc,
        verbose=ns.verbose,
    )


if __name__ == "__main__":
    sys.exit(main())
