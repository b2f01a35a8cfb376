"""Server faults under load, against the real local MariaDB, with `pooling.mysql.MysqlConnectionPool`.

Eight threads send requests (half through the ``query`` helper, half through a lease used directly)
while the server misbehaves:

* connections are killed from the server side at random (``KILL`` from a root connection);
* ``max_connections`` is reached (error 1040): it is lowered with ``SET GLOBAL`` as root, the rest
  filled by idle connections, the pool's connections discarded; then it is restored (always, in
  ``finally``);
* the server is stopped and started again (only with ``POOLING_SERVER_RESTART=1``: it stops the
  local MariaDB; marked ``server_restart``).

Each request must end with a row or a clear driver error (or `PoolTimeout`) within the caller's
deadline plus a small slack; a connection that was destroyed, or on which a request failed with a
disconnect error, is never handed out again (checked by the ``on_checkout`` hook); and the pool is
back to full service (every thread served again) within about 2 s after the fault ends.

Also here: no password of the user's reaches a repr, a log line or an exception message of ours,
whether the login fails or succeeds, under the same faults.

Skip-or-fail rules (POOLING_REQUIRE_SERVICES=1) come from tests/_mysql_fixtures.py. NOTE: lowering
``max_connections`` and restarting the server affect every client of the local server for a moment
(about 2 s, and the restart's downtime): do not run these while something else relies on it.
"""

from __future__ import annotations

import logging
import os
import random
import shutil
import threading
import time
import traceback
import uuid
from collections import Counter
from collections.abc import Callable, Iterator
from typing import Any

import pytest
from _mysql_fixtures import (
    Admin,
    fixture_mysql_admin,  # noqa: F401  (registers the fixture `mysql_admin`)
    fixture_mysql_info,  # noqa: F401  (registers the fixture `mysql_info`)
    import_driver,
    mysql_conn_info,
    start_server,
    stop_server,
    unavailable,
)

from pooling import DestroyReason, PoolError, PoolTimeout

pytestmark = [pytest.mark.mysql, pytest.mark.timeout(180)]

THREADS = 8
DEADLINE = 2.0  # each request's timeout (the caller's deadline)
SLACK = 1.5  # what a request may take beyond it: the statement itself, a loaded machine
RECOVERY = 2.0  # full service again within this long after the fault ends

#: error codes a request may legitimately end with while the server misbehaves
EXPECTED_CODES = {
    1040,  # too many connections
    1053,  # server shutdown in progress
    1152,  # aborted connection
    1927,  # connection killed
    2002,  # can't connect (socket)
    2003,  # can't connect (TCP)
    2006,  # server gone away
    2013,  # lost connection during query
}


@pytest.fixture
def mysqldb(mysql_info: dict[str, Any]) -> Any:
    return import_driver("mysqlclient")


def _secs(value: float | None) -> str:
    return "never (within the limit)" if value is None else f"{value:.3f}s"


def _code(exc: BaseException) -> int | None:
    args = getattr(exc, "args", ())
    return args[0] if args and isinstance(args[0], int) else None


class Load:
    """Eight threads of requests against a pool; every outcome is checked and counted.

    The pool must be built with ``on_checkout=load.on_checkout, on_destroy=load.on_destroy``.
    """

    def __init__(self, mysqldb: Any, threads: int = THREADS) -> None:
        self.mysqldb = mysqldb
        self.threads = threads
        self.pool: Any = None
        self.lock = threading.Lock()
        self.stop = threading.Event()
        self.running = threading.Event()  # cleared by pause()
        self.running.set()
        self.active = 0  # requests in progress
        self.outcomes: Counter[str] = Counter()
        self.violations: list[str] = []
        self.requests = 0
        self.max_elapsed = 0.0
        self.keep: list[Any] = []  # every connection seen, so their ids stay unique
        self.dead: set[int] = set()  # id() of connections destroyed or seen to fail
        self.alive: dict[int, int] = {}  # server thread id -> id() of connections leased so far
        self.mark_at: float | None = None
        self.first_success: dict[int, float] = {}  # worker -> time of its first success after mark
        self._workers: list[threading.Thread] = []

    # -- hooks -------------------------------------------------------------------------------------

    def on_checkout(self, conn: Any) -> None:
        with self.lock:
            if id(conn) in self.dead:
                self.violations.append(
                    f"a dead connection (server thread {conn.thread_id()}) was handed out again"
                )
            if conn not in self.keep:
                self.keep.append(conn)
            self.alive[conn.thread_id()] = id(conn)

    def on_destroy(self, conn: Any, reason: DestroyReason) -> None:
        with self.lock:
            self.dead.add(id(conn))
            if conn not in self.keep:
                self.keep.append(conn)
            for thread_id in [t for t, ident in self.alive.items() if ident == id(conn)]:
                del self.alive[thread_id]  # (thread_id() itself fails on a closed connection)
            self.outcomes[f"destroyed: {reason.value}"] += 1

    def _failed_on(self, conn: Any) -> None:
        with self.lock:
            self.dead.add(id(conn))

    # -- requests ----------------------------------------------------------------------------------

    def _request(self, rng: random.Random) -> None:
        pool = self.pool
        if rng.random() < 0.5:
            rows = pool.query("SELECT 1 AS one", timeout=DEADLINE)
            if rows != [{"one": 1}]:
                raise AssertionError(f"query returned {rows!r}")
            return
        lease = pool.get_session(timeout=DEADLINE)
        conn = lease.session
        try:
            cur = conn.cursor()
            cur.execute("SELECT 1 AS one")
            row = cur.fetchone()
            cur.close()
            if row != {"one": 1}:
                raise AssertionError(f"got {row!r}")
        except self.mysqldb.Error as exc:
            if _code(exc) in EXPECTED_CODES:
                self._failed_on(conn)
                if rng.random() < 0.5:
                    lease.invalidate()  # as documented; else the reset must refuse it
            raise
        finally:
            lease.close()

    def _worker(self, index: int) -> None:
        rng = random.Random(index)
        while not self.stop.is_set():
            if not self.running.wait(0.05):
                continue
            with self.lock:
                self.active += 1
            start = time.monotonic()
            try:
                self._request(rng)
            except PoolTimeout:
                outcome = "PoolTimeout"
            except self.mysqldb.Error as exc:
                code = _code(exc)
                outcome = f"{type(exc).__name__} {code}"
                if code not in EXPECTED_CODES:
                    with self.lock:
                        self.violations.append(f"unclear driver error {exc!r}\n{traceback.format_exc()}")
            except Exception as exc:
                outcome = f"unexpected {type(exc).__name__}"
                with self.lock:
                    self.violations.append(f"unexpected {exc!r}\n{traceback.format_exc()}")
            else:
                outcome = "row"
            end = time.monotonic()
            elapsed = end - start
            with self.lock:
                self.active -= 1
                self.requests += 1
                self.outcomes[outcome] += 1
                self.max_elapsed = max(self.max_elapsed, elapsed)
                if elapsed > DEADLINE + SLACK:
                    self.violations.append(f"a request took {elapsed:.2f}s ({outcome}), deadline {DEADLINE}s")
                if outcome == "row" and self.mark_at is not None and start >= self.mark_at:
                    self.first_success.setdefault(index, end)
            time.sleep(rng.random() * 0.004)

    # -- control -------------------------------------------------------------------------------------

    def start(self, pool: Any) -> None:
        self.pool = pool
        self._workers = [
            threading.Thread(target=self._worker, args=(i,), name=f"load-{i}", daemon=True)
            for i in range(self.threads)
        ]
        for t in self._workers:
            t.start()

    def pause(self) -> None:
        """Stop sending requests; return once none is in progress."""
        self.running.clear()
        deadline = time.monotonic() + DEADLINE + SLACK + 10
        while self.active and time.monotonic() < deadline:
            time.sleep(0.005)
        assert not self.active, "requests still in progress"

    def resume(self) -> None:
        self.running.set()

    def mark(self) -> None:
        """From now on, note when each worker is first served (a request started after now)."""
        with self.lock:
            self.first_success.clear()
            self.mark_at = time.monotonic()

    def recovery_time(self, limit: float) -> float | None:
        """Seconds from the mark until every worker was served again (None: not within limit)."""
        assert self.mark_at is not None
        deadline = self.mark_at + limit
        while time.monotonic() < deadline:
            with self.lock:
                if len(self.first_success) == self.threads:
                    return max(self.first_success.values()) - self.mark_at
            time.sleep(0.01)
        return None

    def finish(self) -> None:
        self.stop.set()
        for t in self._workers:
            t.join(DEADLINE + SLACK + 10)
        alive = [t.name for t in self._workers if t.is_alive()]
        assert not alive, f"load threads did not stop: {alive}"

    def report(self, title: str) -> str:
        lines = [f"{title}: {self.requests} requests, max {self.max_elapsed:.3f}s each"]
        lines += [f"  {k:<34} {n:>7}" for k, n in sorted(self.outcomes.items())]
        lines.append(f"  violations: {len(self.violations)}")
        lines += [f"  ! {v}" for v in self.violations[:10]]
        return "\n".join(lines)


@pytest.fixture
def load_pool(mysqldb: Any, mysql_info: dict[str, Any]) -> Iterator[Callable[..., tuple[Load, Any]]]:
    """load_pool(**options) -> (Load, MysqlConnectionPool); the load is stopped and the pool
    closed afterwards."""
    from pooling.mysql import MysqlConnectionPool

    made: list[tuple[Load, Any]] = []

    def make(**options: Any) -> tuple[Load, Any]:
        load = Load(mysqldb)
        kwargs = dict(mysql_info, connect_timeout=3, read_timeout=5, write_timeout=5)
        options.setdefault("pool_size", 4)
        pool = MysqlConnectionPool(
            kwargs=kwargs,
            timeout=DEADLINE,
            on_checkout=load.on_checkout,
            on_destroy=load.on_destroy,
            **options,
        )
        made.append((load, pool))
        return load, pool

    yield make
    for load, pool in made:
        load.stop.set()
        pool.close()


def _capacity_back(load: Load, pool: Any) -> float:
    """Seconds from the load's mark until all `pool_size` connections could be used at once (and
    each answered), the load still running."""
    assert load.mark_at is not None
    _full_service(pool, load.mysqldb)
    return time.monotonic() - load.mark_at


def _full_service(pool: Any, mysqldb: Any, limit: float = 10.0) -> None:
    """Every connection slot can be used at once, and each one answers.

    A connection killed while idle less than ``check_interval`` ago (the ping bypass window) may
    be handed out once, as documented: the attempt invalidates it and starts over.
    """
    deadline = time.monotonic() + limit
    while True:
        leases = [pool.get_session(timeout=DEADLINE) for _ in range(pool.pool_size)]
        try:
            for lease in leases:
                cur = lease.cursor()
                cur.execute("SELECT 1 AS one")
                assert cur.fetchone() == {"one": 1}
                cur.close()
            return
        except mysqldb.Error as exc:
            if _code(exc) not in EXPECTED_CODES or time.monotonic() > deadline:
                raise
            lease.invalidate()
        finally:
            for lease in leases:
                lease.close()


# -- KILL ----------------------------------------------------------------------------------------


def test_connections_killed_at_random_under_load(
    load_pool: Callable[..., tuple[Load, Any]], mysql_admin: Admin, capsys: pytest.CaptureFixture[str]
) -> None:
    load, pool = load_pool(pool_size=4)
    load.start(pool)
    rng = random.Random(5)
    kills = 0
    until = time.monotonic() + 5.0
    while time.monotonic() < until:
        time.sleep(rng.uniform(0.02, 0.12))
        with load.lock:
            ids = sorted(load.alive)
        if not ids:
            continue
        try:
            mysql_admin.kill(rng.choice(ids))
            kills += 1
        except Exception as exc:  # already gone: 1094 unknown thread id
            if _code(exc) != 1094:
                raise
    load.mark()
    recovered = load.recovery_time(10)
    capacity = _capacity_back(load, pool)
    load.finish()
    stats = pool.stats()
    report = load.report("KILL under load") + (
        f"\n  kills sent: {kills}; after the last kill, every thread served again in "
        f"{_secs(recovered)}, all {pool.pool_size} connections usable at once in {capacity:.3f}s\n  {stats}"
    )
    with capsys.disabled():
        print("\n" + report)
    assert not load.violations, report
    assert kills >= 20, report
    assert load.outcomes["row"] > 100, report
    assert sum(n for k, n in load.outcomes.items() if k.startswith("OperationalError")) > 0, report
    assert recovered is not None and recovered < RECOVERY, report
    assert capacity < RECOVERY, report
    assert stats.size <= pool.pool_size and stats.in_use == 0 and stats.waiting == 0, report


# -- max_connections -----------------------------------------------------------------------------


class Fillers:
    """Test-user connections that take every free connection slot of the server, kept open."""

    def __init__(self, mysqldb: Any) -> None:
        self.mysqldb = mysqldb
        self.conns: list[Any] = []
        self.refused = 0
        self.stop = threading.Event()
        self.thread: threading.Thread | None = None

    def fill_once(self, attempts: int = 300) -> None:
        info = mysql_conn_info()
        for _ in range(attempts):
            try:
                self.conns.append(self.mysqldb.connect(connect_timeout=3, **info))
            except self.mysqldb.OperationalError as exc:
                if _code(exc) == 1040:
                    self.refused += 1
                    return
                raise

    def keep_full(self) -> None:
        """In a thread: grab whatever slot frees up (the pool's discarded connections)."""

        def run() -> None:
            while not self.stop.is_set():
                self.fill_once()
                self.stop.wait(0.01)

        self.thread = threading.Thread(target=run, daemon=True)
        self.thread.start()

    def close(self) -> None:
        self.stop.set()
        if self.thread is not None:
            self.thread.join(10)
        for conn in self.conns:
            try:
                conn.close()
            except Exception:
                pass
        self.conns.clear()


def test_max_connections_reached_under_load(
    load_pool: Callable[..., tuple[Load, Any]],
    mysql_admin: Admin,
    mysqldb: Any,
    capsys: pytest.CaptureFixture[str],
) -> None:
    load, pool = load_pool(pool_size=THREADS)
    original = int(mysql_admin.scalar("SELECT @@GLOBAL.max_connections"))
    load.start(pool)
    time.sleep(1.0)  # warm: the pool has its connections
    fillers = Fillers(mysqldb)
    limit = 10  # the least MariaDB accepts
    try:
        # Quiesce, drop the pool's connections, and let idle connections take every slot.
        load.pause()
        pool.destroy_all_sessions()
        mysql_admin.execute(f"SET GLOBAL max_connections = {limit}")
        fillers.fill_once()
        assert fillers.refused, "could not fill the server's connection slots"
        # Load again, refused: every connection attempt gets 1040 for a while (longer than the
        # callers' deadline, so that some get the pool's copy of the error at their deadline).
        with load.lock:
            before = Counter(load.outcomes)
        load.resume()
        time.sleep(DEADLINE + 1.0)
        with load.lock:
            during = Counter(load.outcomes) - before
    finally:
        mysql_admin.execute(f"SET GLOBAL max_connections = {original}")
        fillers.close()
        load.resume()
    load.mark()
    recovered = load.recovery_time(10)
    capacity = _capacity_back(load, pool)
    load.finish()
    report = load.report("max_connections reached under load") + (
        f"\n  max_connections {original} -> {limit} for {DEADLINE + 1.0:.1f}s; during it: "
        + ", ".join(f"{k} {n}" for k, n in sorted(during.items()))
        + f"\n  after restoring it, every thread served again in {_secs(recovered)}, all "
        f"{pool.pool_size} connections usable at once in {capacity:.3f}s\n  {pool.stats()}"
    )
    with capsys.disabled():
        print("\n" + report)
    assert int(mysql_admin.scalar("SELECT @@GLOBAL.max_connections")) == original
    assert not load.violations, report
    assert during["OperationalError 1040"] > 0, report
    assert during["row"] == 0, report  # no connection could be made
    assert recovered is not None and recovered < RECOVERY, report
    assert capacity < RECOVERY, report


# -- the server stops and starts again --------------------------------------------------------------


@pytest.mark.server_restart
@pytest.mark.skipif(
    os.environ.get("POOLING_SERVER_RESTART") != "1",
    reason="stops the local MariaDB: runs only with POOLING_SERVER_RESTART=1",
)
@pytest.mark.timeout(240)
def test_server_restart_under_load(
    load_pool: Callable[..., tuple[Load, Any]], capsys: pytest.CaptureFixture[str]
) -> None:
    if os.geteuid() != 0 or not shutil.which("start-stop-daemon"):
        unavailable("stopping and starting MariaDB needs root and start-stop-daemon")
    load, pool = load_pool(pool_size=4)
    load.start(pool)
    time.sleep(1.0)
    with load.lock:
        before = Counter(load.outcomes)
    try:
        stop_server()
        down_at = time.monotonic()
        time.sleep(2.0)
        with load.lock:
            during = Counter(load.outcomes) - before
    finally:
        start_server()
    load.mark()  # the server answers again
    recovered = load.recovery_time(15)
    capacity = _capacity_back(load, pool)
    load.finish()
    report = load.report("server restart under load") + (
        f"\n  down for {load.mark_at - down_at:.1f}s; from the shutdown to 2 s after it: "
        + ", ".join(f"{k} {n}" for k, n in sorted(during.items()))
        + f"\n  after it answered again, every thread served again in {_secs(recovered)}, all "
        f"{pool.pool_size} connections usable at once in {capacity:.3f}s\n  {pool.stats()}"
    )
    with capsys.disabled():
        print("\n" + report)
    assert not load.violations, report
    errors = sum(n for k, n in during.items() if k != "row")
    assert errors > 0, report
    assert recovered is not None and recovered < RECOVERY, report
    assert capacity < RECOVERY, report


# -- secrets -----------------------------------------------------------------------------------------


def _texts_of(exc: BaseException | None) -> list[str]:
    out: list[str] = []
    seen: set[int] = set()
    while exc is not None and id(exc) not in seen:
        seen.add(id(exc))
        out += [str(exc), repr(exc), "".join(traceback.format_exception(exc))]
        exc = exc.__cause__ or exc.__context__
    return out


@pytest.mark.parametrize("style", ["kwargs", "positional args"])
def test_no_password_in_reprs_logs_or_messages(
    style: str,
    mysqldb: Any,
    mysql_info: dict[str, Any],
    mysql_admin: Admin,
    caplog: pytest.LogCaptureFixture,
    capsys: pytest.CaptureFixture[str],
) -> None:
    from pooling.mysql import MysqlConnectionPool

    caplog.set_level(logging.DEBUG, logger="pooling")
    secret = f"S3cr3t-{uuid.uuid4().hex}-pw"
    seen: list[str] = []

    def make(user: str, **options: Any) -> Any:
        info = dict(mysql_info, user=user, password=secret)
        if style == "kwargs":
            return MysqlConnectionPool(kwargs=info, **options)
        args = (info["host"], info["user"], info["password"], info["database"], info["port"])
        return MysqlConnectionPool(args=args, **options)

    def capture(pool: Any, *leases: Any) -> None:
        seen.extend([repr(pool), str(pool), pool.name, repr(pool.stats()), str(pool.stats())])
        seen.extend(repr(lease) for lease in leases)

    # 1. The login fails: the user exists, the password is wrong.
    bad = make(mysql_info["user"], pool_size=2, timeout=0.5, leak_timeout=0.05, min_idle=1)
    # (A control: the secret is there, in what the user gave us, and the scan would find it.)
    assert secret in str(bad.create_kwargs) + str(bad.create_args)
    capture(bad)
    for _ in range(3):  # the error, then the back-off's copies of it at the deadline
        with pytest.raises(mysqldb.OperationalError) as info:
            bad.get_session()
        assert _code(info.value) == 1045
        seen.extend(_texts_of(info.value))
    for call in (lambda: bad.query("SELECT 1", timeout=0.3), lambda: bad.execute("DO 1", timeout=0.3)):
        with pytest.raises(Exception) as info:
            call()
        seen.extend(_texts_of(info.value))
    capture(bad)
    bad.close()
    with pytest.raises(PoolError) as info:
        bad.get_session()
    seen.extend(_texts_of(info.value))

    # 2. The login succeeds (a user made for the test), under the faults above: a killed
    #    connection fails its reset and its check, a leak is reported, timeouts, close.
    user = f"pw{uuid.uuid4().hex[:10]}"
    hosts = ("127.0.0.1", "localhost", "%")
    for host in hosts:
        quoted = host.replace("%", "%%")  # the driver formats the statement with %
        mysql_admin.execute(f"CREATE USER '{user}'@'{quoted}' IDENTIFIED BY %s", (secret,))
        mysql_admin.execute(f"GRANT ALL ON {mysql_info['database']}.* TO '{user}'@'{host}'")
    try:
        good = make(user, pool_size=1, timeout=0.3, check_interval=0, leak_timeout=0.05)
        lease = good.get_session()
        capture(good, lease)
        time.sleep(0.2)  # reported as a leak (a warning with the stack where it was taken)
        with pytest.raises(PoolTimeout) as timeout_info:
            good.get_session()
        seen.extend(_texts_of(timeout_info.value))
        mysql_admin.kill(lease.thread_id())
        time.sleep(0.1)
        with pytest.raises(mysqldb.OperationalError) as info:
            lease.cursor().execute("SELECT 1")
        seen.extend(_texts_of(info.value))
        lease.close()  # refused by the reset: destroyed
        with good.get_session() as conn:
            thread = conn.thread_id()
        mysql_admin.kill(thread)
        time.sleep(0.1)
        assert good.query("SELECT 1 AS one") == [{"one": 1}]  # the check replaced it
        capture(good, lease)
        good.close()
        capture(good)
        with pytest.raises(PoolError) as info:
            good.get_session()
        seen.extend(_texts_of(info.value))
    finally:
        for host in hosts:
            mysql_admin.execute(f"DROP USER IF EXISTS '{user}'@'{host}'")

    out, err = capsys.readouterr()
    seen += [out, err, caplog.text]
    for record in caplog.records:
        seen += [record.getMessage(), str(record.args), str(record.exc_text)]
    logged = caplog.text
    assert "creating a session failed" in logged  # the logs were captured
    assert "leased for" in logged  # the leak report
    assert "failed its check" in logged or "resetting" in logged or "refused" in logged
    leaks = [text for text in seen if secret in text]
    assert not leaks, leaks[:3]
