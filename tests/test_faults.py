"""Process and thread faults: fork, an exception raised into a waiting thread, a thread that dies
while it holds a lease.

Fork: a pool used in a parent, then in children started with multiprocessing's ``fork`` method.
Each child makes sessions of its own (every session records ``os.getpid()`` when it is made) and
never checks, resets or destroys one of the parent's (the hooks append ``op pid session`` lines to
a file, which the parent reads after the children exit).
"""

from __future__ import annotations

import gc
import itertools
import json
import multiprocessing
import os
import random
import signal
import sys
import threading
import time
import traceback
from collections.abc import Callable, Iterator
from pathlib import Path
from typing import Any

import pytest

from pooling import DestroyReason, LeaseReleased, Pool, PoolTimeout

pytestmark = pytest.mark.timeout(60)

fork_only = pytest.mark.skipif(
    not hasattr(os, "fork") or "fork" not in multiprocessing.get_all_start_methods(),
    reason="needs the fork start method",
)


class Session:
    """A session that knows which process made it."""

    _ids = itertools.count(1)

    def __init__(self) -> None:
        self.pid = os.getpid()
        self.id = f"{self.pid}:{next(Session._ids)}"

    def __repr__(self) -> str:
        return f"<Session {self.id}>"


class HookLog:
    """check/reset/destroy hooks that append `op pid session-id` lines to a file (any process)."""

    def __init__(self, path: Path) -> None:
        self.path = path
        path.touch()

    def _write(self, op: str, session: Session) -> None:
        fd = os.open(self.path, os.O_WRONLY | os.O_APPEND)
        try:
            os.write(fd, f"{op} {os.getpid()} {session.id}\n".encode())
        finally:
            os.close(fd)

    def check(self, session: Session) -> None:
        self._write("check", session)

    def reset(self, session: Session) -> None:
        self._write("reset", session)

    def destroy(self, session: Session) -> None:
        self._write("destroy", session)

    def lines(self) -> list[tuple[str, int, str]]:
        out = []
        for line in self.path.read_text().splitlines():
            op, pid, sid = line.split()
            out.append((op, int(pid), sid))
        return out


def _fork_context() -> Any:
    return multiprocessing.get_context("fork")


def _child_uses_pool(pool: Pool[Session], inherited: list[Any], out: str) -> None:
    """Runs in a forked child: use the pool from 3 threads, release the inherited leases, close."""
    errors: list[str] = []
    made: set[str] = set()
    try:
        st = pool.stats()
        if (st.size, st.idle, st.in_use, st.waiting) != (0, 0, 0, 0):
            errors.append(f"the child inherited the parent's sessions: {st}")
        seen: list[Session] = []
        lock = threading.Lock()

        def work() -> None:
            for _ in range(30):
                with pool.get_session(timeout=5) as session:
                    with lock:
                        seen.append(session)
                    time.sleep(0.0005)

        threads = [threading.Thread(target=work) for _ in range(3)]
        for t in threads:
            t.start()
        for t in threads:
            t.join(20)
        if any(t.is_alive() for t in threads):
            errors.append("a child thread did not finish")
        for session in seen:
            made.add(session.id)
            if session.pid != os.getpid():
                errors.append(f"the child was handed {session!r}, made in process {session.pid}")
        # The parent's leases, inherited: releasing them here must neither pool nor destroy the
        # parent's sessions (nor reset them: that would talk on the parent's connection).
        inherited[0].close()
        inherited[1].invalidate()
        del inherited[:]
        gc.collect()
        st = pool.stats()
        if st.size > pool.pool_size or st.in_use != 0:
            errors.append(f"after the inherited leases were released: {st}")
        if st.created != len(made):
            errors.append(f"stats().created {st.created} but {len(made)} sessions seen")
        pool.close()
        st = pool.stats()
        if st.destroyed != st.created or st.size != 0:
            errors.append(f"after close in the child: {st}")
    except BaseException:
        errors.append(traceback.format_exc())
    Path(out).write_text(json.dumps({"pid": os.getpid(), "errors": errors, "made": sorted(made)}))


@fork_only
@pytest.mark.slow
def test_fork_children_use_their_own_sessions(tmp_path: Path) -> None:
    log = HookLog(tmp_path / "hooks.log")
    pool: Pool[Session] = Pool(
        3, Session, destroy_factory=log.destroy, check=log.check, reset=log.reset, timeout=5
    )
    parent = os.getpid()
    # Used in the parent: one idle session, two leased across the fork.
    leases = [pool.get_session() for _ in range(3)]
    spare = leases.pop()
    idle_id = spare.session.id
    spare.close()
    parent_ids = {idle_id} | {lease.session.id for lease in leases}
    assert len(parent_ids) == 3

    ctx = _fork_context()
    outs = [tmp_path / f"child-{i}.json" for i in range(4)]
    procs = [ctx.Process(target=_child_uses_pool, args=(pool, leases, str(out))) for out in outs]
    for p in procs:
        p.start()
    for p in procs:
        p.join(30)
    assert all(p.exitcode == 0 for p in procs), [p.exitcode for p in procs]
    reports = [json.loads(out.read_text()) for out in outs]
    for report in reports:
        assert report["errors"] == [], report
        assert report["made"], report
    child_pids = {r["pid"] for r in reports}
    assert len(child_pids) == 4 and parent not in child_pids

    # Nothing of the parent's was touched by a child; every child destroyed exactly what it made.
    lines = log.lines()
    for op, pid, sid in lines:
        if pid in child_pids:
            assert sid not in parent_ids, f"child {pid} ran {op} on the parent's session {sid}"
            assert int(sid.split(":")[0]) == pid, f"child {pid} ran {op} on another process's {sid}"
    for report in reports:
        destroyed = [sid for op, pid, sid in lines if op == "destroy" and pid == report["pid"]]
        assert sorted(destroyed) == report["made"]  # each exactly once

    # The parent's pool is as it was: its leases work, its idle session is still there.
    st = pool.stats()
    assert (st.size, st.idle, st.in_use, st.created, st.destroyed) == (3, 1, 2, 3, 0)
    assert {lease.session.id for lease in leases} | {idle_id} == parent_ids
    for lease in leases:
        lease.close()
    pool.close()
    destroyed_by_parent = [sid for op, pid, sid in log.lines() if op == "destroy" and pid == parent]
    assert sorted(destroyed_by_parent) == sorted(parent_ids)


def _child_needs_a_free_lock(pool: Pool[Session], out: str) -> None:
    errors: list[str] = []
    try:
        # pool_size 2: the parent's creation in flight takes no slot here
        leases = [pool.get_session(timeout=3) for _ in range(2)]
        ids = [lease.session.pid for lease in leases]
        if ids != [os.getpid()] * 2:
            errors.append(f"sessions from processes {ids}")
        for lease in leases:
            lease.close()
        pool.close()
        if pool.stats().size != 0:
            errors.append(f"after close: {pool.stats()}")
    except BaseException:
        errors.append(traceback.format_exc())
    Path(out).write_text(json.dumps(errors))


@fork_only
@pytest.mark.slow
def test_fork_while_other_threads_hold_the_lock_and_create(tmp_path: Path) -> None:
    """Forked while one thread holds the pool's lock and another is inside the factory: the child
    gets a lock of its own and all of its slots."""
    gate = threading.Event()
    entered = threading.Event()

    def factory() -> Session:
        if threading.current_thread().name == "slow-create":
            entered.set()
            gate.wait(10)
        return Session()

    pool: Pool[Session] = Pool(2, factory, timeout=3)
    creator = threading.Thread(target=lambda: pool.get_session().close(), name="slow-create")
    creator.start()
    assert entered.wait(5)
    locked = threading.Event()
    release = threading.Event()

    def hold_lock() -> None:
        with pool._lock:  # white box: a critical section in progress at fork time
            locked.set()
            release.wait(10)

    holder = threading.Thread(target=hold_lock)
    holder.start()
    assert locked.wait(5)
    try:
        out = tmp_path / "child.json"
        proc = _fork_context().Process(target=_child_needs_a_free_lock, args=(pool, str(out)))
        proc.start()
        proc.join(20)
        assert proc.exitcode == 0
        assert json.loads(out.read_text()) == []
    finally:
        release.set()
        gate.set()
        holder.join(5)
        creator.join(5)
    st = pool.stats()
    assert (st.size, st.idle, st.created) == (1, 1, 1)
    pool.close()


def _child_min_idle(pool: Pool[Session], out: str) -> None:
    result: dict[str, Any] = {}
    try:
        result["before"] = pool.stats().idle
        with pool.get_session(timeout=3) as s:
            result["pid_ok"] = s.pid == os.getpid()
        deadline = time.monotonic() + 5
        while pool.stats().idle < 2 and time.monotonic() < deadline:
            time.sleep(0.01)
        result["after"] = pool.stats().idle
        result["pids_ok"] = True
        leases = [pool.get_session(timeout=1) for _ in range(2)]
        result["pids_ok"] = all(lease.session.pid == os.getpid() for lease in leases)
        for lease in leases:
            lease.close()
        pool.close()
    except BaseException:
        result["error"] = traceback.format_exc()
    Path(out).write_text(json.dumps(result))


@fork_only
@pytest.mark.slow
def test_fork_child_refills_min_idle_with_its_own_sessions(tmp_path: Path) -> None:
    pool: Pool[Session] = Pool(3, Session, min_idle=2, timeout=3)
    deadline = time.monotonic() + 5
    while pool.stats().idle < 2 and time.monotonic() < deadline:
        time.sleep(0.01)
    assert pool.stats().idle == 2
    out = tmp_path / "child.json"
    proc = _fork_context().Process(target=_child_min_idle, args=(pool, str(out)))
    proc.start()
    proc.join(20)
    assert proc.exitcode == 0
    result = json.loads(out.read_text())
    # min_idle counts idle sessions: with one leased while the maintainer refilled, there may be 3.
    assert result["after"] >= 2, result
    assert result == {"before": 0, "pid_ok": True, "after": result["after"], "pids_ok": True}, result
    assert pool.stats().idle == 2  # the parent's are untouched
    pool.close()


# -- an exception raised into a waiting thread -----------------------------------------------------


class Interrupted(KeyboardInterrupt):
    """What our SIGUSR1 handler raises (a KeyboardInterrupt, as Ctrl-C would)."""


@pytest.fixture
def sigusr1_raises() -> Iterator[Callable[[], None]]:
    """Install a SIGUSR1 handler that raises `Interrupted` in the main thread; yields a function
    that sends SIGUSR1 to the main thread (from any thread)."""
    if threading.current_thread() is not threading.main_thread():
        pytest.skip("signal handlers run in the main thread only")
    armed = threading.Event()
    armed.set()

    def handler(signum: int, frame: Any) -> None:
        if armed.is_set():
            raise Interrupted

    old = signal.signal(signal.SIGUSR1, handler)
    main = threading.main_thread().ident
    assert main is not None

    def send() -> None:
        signal.pthread_kill(main, signal.SIGUSR1)

    try:
        yield send
    finally:
        armed.clear()
        signal.signal(signal.SIGUSR1, old)


def _when(predicate: Callable[[], bool], then: Callable[[], None], seconds: float = 5) -> threading.Thread:
    """In a new thread: wait (bounded) until predicate() holds, then call then()."""

    def run() -> None:
        deadline = time.monotonic() + seconds
        while not predicate() and time.monotonic() < deadline:
            time.sleep(0.001)
        then()

    thread = threading.Thread(target=run)
    thread.start()
    return thread


def _assert_whole(pool: Pool[Any], size: int) -> None:
    """No phantom waiter, no lost slot: every slot can be leased again, at once."""
    st = pool.stats()
    assert st.waiting == 0, st
    assert st.in_use == 0, st
    leases = [pool.get_session(timeout=1) for _ in range(size)]
    with pytest.raises(PoolTimeout):
        pool.get_session(timeout=0)
    for lease in leases:
        lease.close()
    st = pool.stats()
    assert st.size <= size and st.in_use == 0 and st.waiting == 0, st


@pytest.mark.parametrize("timeout", [None, 30.0], ids=["forever", "timeout"])
def test_interrupt_while_waiting_leaves_no_phantom_waiter(
    timeout: float | None, sigusr1_raises: Callable[[], None]
) -> None:
    pool: Pool[object] = Pool(1, object)
    held = pool.get_session()
    sender = _when(lambda: pool.stats().waiting == 1, sigusr1_raises)
    start = time.monotonic()
    with pytest.raises(Interrupted):
        pool.get_session(timeout=timeout)
    assert time.monotonic() - start < 5
    sender.join(5)
    assert pool.stats().waiting == 0  # gone from the queue at once
    held.close()  # had the waiter stayed queued, the session would be handed to a ghost
    _assert_whole(pool, 1)
    pool.close()


def test_interrupt_while_creating_frees_the_slot(sigusr1_raises: Callable[[], None]) -> None:
    inside = threading.Event()
    calls = itertools.count()

    def factory() -> object:
        if next(calls) == 0:
            inside.set()
            time.sleep(10)  # interrupted here
        return object()

    pool: Pool[object] = Pool(1, factory)
    sender = _when(inside.is_set, sigusr1_raises)
    with pytest.raises(Interrupted):
        pool.get_session(timeout=5)
    sender.join(5)
    st = pool.stats()
    assert (st.size, st.creating, st.waiting) == (0, 0, 0), st
    _assert_whole(pool, 1)
    pool.close()


@pytest.mark.slow
def test_interrupt_racing_the_hand_off_loses_nothing(sigusr1_raises: Callable[[], None]) -> None:
    """The session is handed to the waiting main thread and the interrupt lands around the same
    moment, before, during or after the hand-off: in every case the session ends up back in the
    pool (given back by the abandoned wait, or by the finalizer of a lease that never reached the
    caller), or with the caller, who releases it."""
    pool: Pool[object] = Pool(2, object)
    outcomes: dict[str, int] = {"interrupted": 0, "served": 0}
    for i in range(200):
        held = [pool.get_session(), pool.get_session()]
        delay = (i % 20) * 0.00005

        def hand_off_and_interrupt(held: list[Any] = held, delay: float = delay) -> None:
            held.pop().close()
            if delay:
                time.sleep(delay)
            sigusr1_raises()

        got = None
        sender = _when(lambda: pool.stats().waiting == 1, hand_off_and_interrupt)
        try:
            try:
                got = pool.get_session(timeout=10)
                outcomes["served"] += 1
                time.sleep(0.01)  # the signal, if it is late, lands here
            except Interrupted:
                outcomes["interrupted"] += 1
        except Interrupted:  # after get_session returned, in our own code
            pass
        finally:
            for _ in range(3):  # (a late signal may land even here)
                try:
                    sender.join(5)
                    break
                except Interrupted:
                    pass
        if got is not None:
            got.close()
        del got
        held.pop().close()
        gc.collect()
        st = pool.stats()
        assert (st.waiting, st.in_use) == (0, 0), (i, st)
        assert st.size <= 2, (i, st)
    _assert_whole(pool, 2)
    assert outcomes["interrupted"] > 0
    pool.close()


@pytest.mark.slow
def test_interrupts_at_random_moments_lose_nothing() -> None:
    """Not only while waiting: SIGUSR1 (raising KeyboardInterrupt) lands at random points of the
    main thread's get_session / use / close cycles, with a check and a reset configured and three
    other threads competing for the two sessions. Afterwards nothing is lost: no waiter, nothing
    leased, both slots usable.

    The handler raises only inside the pool calls (a flag around them, which the handler clears
    as it raises), so that no interrupt lands in the test's own bookkeeping.
    """
    if threading.current_thread() is not threading.main_thread():
        pytest.skip("signal handlers run in the main thread only")
    in_pool = [False]

    def handler(signum: int, frame: Any) -> None:
        if in_pool[0]:
            in_pool[0] = False
            raise Interrupted

    pool: Pool[object] = Pool(2, object, check=lambda s: None, reset=lambda s: None, check_interval=0)
    stop = threading.Event()
    main = threading.main_thread().ident
    assert main is not None

    def compete(seed: int) -> None:
        rng = random.Random(seed)
        while not stop.is_set():
            try:
                lease = pool.get_session(timeout=1)
            except PoolTimeout:
                continue
            time.sleep(rng.random() * 0.001)
            lease.close()

    def interrupt() -> None:
        rng = random.Random(99)
        while not stop.is_set():
            time.sleep(rng.random() * 0.002)
            signal.pthread_kill(main, signal.SIGUSR1)

    old = signal.signal(signal.SIGUSR1, handler)
    threads = [threading.Thread(target=compete, args=(i,)) for i in range(3)]
    threads.append(threading.Thread(target=interrupt))
    served = interrupted = 0
    try:
        for t in threads:
            t.start()
        until = time.monotonic() + 3.0
        while time.monotonic() < until:
            lease = None
            try:
                in_pool[0] = True
                lease = pool.get_session(timeout=1)
                lease.session  # noqa: B018
                lease.close()
                in_pool[0] = False
                served += 1
            except Interrupted:
                interrupted += 1
            in_pool[0] = False
            if lease is not None:
                lease.close()  # interrupted after get_session returned: ours to release
            del lease
    finally:
        stop.set()
        for t in threads:
            t.join(5)
        signal.signal(signal.SIGUSR1, old)
    gc.collect()
    assert served > 0 and interrupted > 0, (served, interrupted)
    _assert_whole(pool, 2)
    pool.close()


# -- a creation failure while callers wait forever --------------------------------------------


@pytest.mark.parametrize("timeout", [None, 60.0], ids=["forever", "long-timeout"])
def test_waiter_gets_a_slot_when_the_back_off_ends(timeout: float | None) -> None:
    """A caller waiting (forever, or a long time) when a creation fails must get a slot once the
    back-off window ends, even if nothing else happens in the pool meanwhile.

    (Found by the soak: two `timeout=None` callers waited forever on an empty pool. A waiter
    computes when to wake up as it goes to sleep; one that went to sleep before the failure
    sleeps until handed something, and slots freed during the back-off are handed to nobody.)
    """
    fail = [0]

    def factory() -> object:
        if fail[0]:
            fail[0] -= 1
            raise ConnectionError("the server is down")
        return object()

    pool: Pool[object] = Pool(2, factory, backoff_initial=0.2, backoff_max=0.2)
    a, b = pool.get_session(), pool.get_session()
    results: dict[str, Any] = {}

    def wait(name: str) -> None:
        try:
            results[name] = pool.get_session(timeout=timeout)
        except Exception as exc:
            results[name] = exc

    w1 = threading.Thread(target=wait, args=("w1",), daemon=True)
    w1.start()
    deadline = time.monotonic() + 5
    while pool.stats().waiting < 1 and time.monotonic() < deadline:
        time.sleep(0.001)
    w2 = threading.Thread(target=wait, args=("w2",), daemon=True)
    w2.start()
    while pool.stats().waiting < 2 and time.monotonic() < deadline:
        time.sleep(0.001)
    fail[0] = 1
    a.invalidate()  # a slot for w1, whose factory call fails: a back-off of 0.1-0.2 s begins
    w1.join(5)
    assert isinstance(results.get("w1"), ConnectionError)  # w1 gets the creation error
    b.invalidate()  # a second free slot, during the back-off
    w2.join(3)  # the back-off is long over by then
    try:
        assert not w2.is_alive(), f"the waiter is still waiting, with the pool empty: {pool.stats()}"
        lease = results["w2"]
        assert isinstance(lease.session, object)
        lease.close()
    finally:
        pool.close()  # wakes w2 if it is still stuck
        w2.join(5)


# -- a failover while a session is being created -----------------------------------------------


@pytest.mark.parametrize("who", ["caller", "min_idle"])
def test_destroy_all_sessions_drops_a_session_being_created(who: str) -> None:
    """destroy_all_sessions() after a failover "drops every session": also one whose factory call
    was under way (connecting to the old primary, say), which must not be pooled once it is made.
    The caller that was creating it still gets it (it asked before the failover), but it is
    destroyed when released, not kept."""
    gate = threading.Event()
    entered = threading.Event()
    calls = itertools.count()
    destroyed: list[tuple[object, DestroyReason]] = []

    def factory() -> object:
        if next(calls) == 0:
            entered.set()
            assert gate.wait(10)
        return object()

    pool: Pool[object] = Pool(
        2, factory, min_idle=1 if who == "min_idle" else 0, on_destroy=lambda s, r: destroyed.append((s, r))
    )
    got: list[Any] = []
    creator = None
    if who == "caller":
        creator = threading.Thread(target=lambda: got.append(pool.get_session(timeout=10)))
        creator.start()
    assert entered.wait(5)
    pool.destroy_all_sessions()  # the failover: while the first session is being made
    gate.set()
    if creator is not None:
        creator.join(5)
        (lease,) = got
        old = lease.session
        lease.close()
    else:
        deadline = time.monotonic() + 5
        while pool.stats().created < 1 and time.monotonic() < deadline:
            time.sleep(0.005)
        time.sleep(0.05)
        old = None
    # The session made across the failover is gone (or going); a fresh one is made for the
    # next caller.
    with pool.get_session(timeout=5) as session:
        assert old is None or session is not old
    st = pool.stats()
    assert destroyed and destroyed[0][1] is DestroyReason.DISCARDED, (destroyed, st)
    pool.close()


# -- a thread that dies while holding a lease ----------------------------------------------------


@pytest.fixture
def quiet_thread_errors(monkeypatch: pytest.MonkeyPatch) -> list[str]:
    """Record a thread's unhandled exception as text only: keeping the exception (as pytest's own
    hook does) would keep its traceback, its frames, and so the lease alive."""
    seen: list[str] = []

    def hook(args: threading.ExceptHookArgs) -> None:
        seen.append(f"{args.exc_type.__name__}: {args.exc_value}")

    monkeypatch.setattr(threading, "excepthook", hook)
    return seen


def test_thread_dies_holding_a_lease(quiet_thread_errors: list[str]) -> None:
    pool: Pool[object] = Pool(1, object)

    def doomed() -> None:
        lease = pool.get_session()
        assert lease.session is not None
        raise RuntimeError("boom")

    t = threading.Thread(target=doomed)
    t.start()
    t.join(5)
    assert quiet_thread_errors == ["RuntimeError: boom"]
    # Released when the thread's frame was freed: no gc.collect() needed.
    assert pool.stats().in_use == 0
    _assert_whole(pool, 1)
    pool.close()


def test_thread_ends_without_releasing() -> None:
    pool: Pool[object] = Pool(1, object)
    t = threading.Thread(target=lambda: pool.get_session())  # the lease is dropped unreleased
    t.start()
    t.join(5)
    assert pool.stats().in_use == 0
    t2 = threading.Thread(target=lambda: [pool.get_session()])  # in a list, same
    t2.start()
    t2.join(5)
    _assert_whole(pool, 1)
    pool.close()


def test_thread_dies_with_the_lease_in_a_reference_cycle(quiet_thread_errors: list[str]) -> None:
    pool: Pool[object] = Pool(1, object)

    def doomed() -> None:
        box: dict[str, Any] = {"lease": pool.get_session()}
        box["self"] = box
        raise RuntimeError("boom")

    gc.disable()  # so that the cycle is certainly still there when we look
    try:
        t = threading.Thread(target=doomed)
        t.start()
        t.join(5)
        assert pool.stats().in_use == 1  # unreachable, not yet collected
    finally:
        gc.enable()
    gc.collect()
    assert pool.stats().in_use == 0
    assert quiet_thread_errors == ["RuntimeError: boom"]
    _assert_whole(pool, 1)
    pool.close()


def test_lease_released_by_another_thread_while_its_owner_waits() -> None:
    """A lease may be released from any thread; the owner then finds it released."""
    pool: Pool[object] = Pool(1, object)
    lease = pool.get_session()
    t = threading.Thread(target=lease.close)
    t.start()
    t.join(5)
    with pytest.raises(LeaseReleased):
        lease.session  # noqa: B018
    _assert_whole(pool, 1)
    pool.close()


if __name__ == "__main__":  # pragma: no cover
    sys.exit(pytest.main([__file__, "-q"]))
