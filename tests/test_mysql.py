"""pooling.mysql against a real MySQL/MariaDB server, with each of the three drivers.

Fixtures and the skip-or-fail rule are in tests/_mysql_fixtures.py. A missing driver or server
skips, unless POOLING_REQUIRE_SERVICES=1. The server restart test runs only with
POOLING_SERVER_RESTART=1 (it stops and starts the local MariaDB: root only).
"""

from __future__ import annotations

import logging
import os
import shutil
import subprocess
import sys
import threading
import time
import uuid
from pathlib import Path
from typing import Any

import pytest
from _mysql_fixtures import (
    DRIVERS,
    Admin,
    connect_admin,
    connection_id,
    driver_error,
    fixture_mysql_admin,  # noqa: F401  (registers the fixture `mysql_admin`)
    fixture_mysql_info,  # noqa: F401  (registers the fixture `mysql_info`)
    fixture_mysql_table,  # noqa: F401  (registers the fixture `mysql_table`)
    import_driver,
    run,
    scalar,
    set_autocommit,
    start_server,
    stop_server,
    unavailable,
)

import pooling.mysql
from pooling import PoolTimeout
from pooling.mysql import (
    DISCONNECT_ERRORS,
    MysqlConnectionPool,
    is_disconnect_error,
)

pytestmark = [pytest.mark.mysql, pytest.mark.timeout(60)]

ROOT = Path(__file__).resolve().parent.parent


@pytest.fixture(params=list(DRIVERS))
def driver(request: pytest.FixtureRequest) -> str:
    """Each driver in turn (skipped, or failed under POOLING_REQUIRE_SERVICES=1, if missing)."""
    name: str = request.param
    import_driver(name)
    return name


@pytest.fixture
def make_pool(driver: str, mysql_info: dict[str, Any]) -> Any:
    """make_pool(**options) -> a pool of `driver` connections for the test user; all closed after."""
    cls = getattr(pooling.mysql, DRIVERS[driver][1])
    pools: list[Any] = []

    def make(kwargs: dict[str, Any] | None = None, **options: Any) -> Any:
        options.setdefault("pool_size", 2)
        options.setdefault("timeout", 10)
        pool = cls(kwargs=dict(mysql_info, **(kwargs or {})), **options)
        pools.append(pool)
        return pool

    yield make
    for pool in pools:
        pool.close()


# -- import hygiene (no server needed) ------------------------------------------------------------


def test_import_pooling_mysql_imports_no_driver() -> None:
    code = (
        "import sys, pooling\n"
        "assert 'pooling.mysql' not in sys.modules\n"
        "import pooling.mysql\n"
        "loaded = [m for m in ('MySQLdb', 'pymysql', 'mysql.connector') if m in sys.modules]\n"
        "assert not loaded, loaded\n"
    )
    subprocess.run([sys.executable, "-c", code], check=True, timeout=30)


def test_missing_driver_names_the_extra() -> None:
    code = (
        "import sys\n"
        "sys.modules['MySQLdb'] = None\n"  # as if mysqlclient were not installed
        "from pooling.mysql import MysqlConnectionPool\n"
        "try:\n"
        "    MysqlConnectionPool(kwargs={'host': '127.0.0.1'})\n"
        "except ImportError as exc:\n"
        "    print(exc)\n"
    )
    out = subprocess.run(
        [sys.executable, "-c", code], check=True, capture_output=True, text=True, timeout=30
    ).stdout
    assert "pooling[mysql]" in out


def test_disconnect_error_codes() -> None:
    assert {1927, 2006, 2013, 2055, 4031} <= DISCONNECT_ERRORS

    class FakeDriverError(Exception):  # the shape of mysqlclient/PyMySQL errors: (code, msg)
        pass

    assert is_disconnect_error(FakeDriverError(2006, "gone"))
    assert not is_disconnect_error(FakeDriverError(1062, "duplicate"))
    assert not is_disconnect_error(ValueError("x"))


# -- the seed README examples ---------------------------------------------------------------------


@pytest.mark.parametrize("example", ["seed_example_1.py", "seed_example_2.py"])
def test_seed_examples_run_as_written(example: str, mysql_info: dict[str, Any]) -> None:
    import_driver("mysqlclient")
    env = dict(os.environ)
    env.update(
        MYSQL_HOST=str(mysql_info["host"]),
        MYSQL_PORT=str(mysql_info["port"]),
        MYSQL_USER=str(mysql_info["user"]),
        MYSQL_PASSWORD=str(mysql_info["password"]),
        MYSQL_DATABASE=str(mysql_info["database"]),
    )
    proc = subprocess.run(
        [sys.executable, str(ROOT / "examples" / example)],
        check=False,
        capture_output=True,
        text=True,
        timeout=60,
        env=env,
    )
    assert proc.returncode == 0, proc.stdout + proc.stderr
    assert "rows count=" in proc.stdout
    assert "'Database': 'test'" in proc.stdout  # DictCursor rows


# -- defaults -------------------------------------------------------------------------------------


def test_defaults_dict_rows_autocommit_utf8mb4(driver: str, make_pool: Any) -> None:
    pool = make_pool()
    rows = pool.query("SELECT 1 AS one, @@autocommit AS ac, @@character_set_client AS cs")
    assert rows == [{"one": 1, "ac": 1, "cs": "utf8mb4"}]
    if driver != "mysql-connector":  # it has no connection-wide cursor class
        with pool.get_session() as conn:
            cur = conn.cursor()
            cur.execute("SELECT 2 AS two")
            assert cur.fetchall()[0] == {"two": 2}


def test_defaults_are_overridable(driver: str, make_pool: Any) -> None:
    pool = make_pool(kwargs={"autocommit": False, "charset": "latin1"})
    with pool.get_session() as conn:
        assert scalar(conn, "SELECT @@autocommit") == 0
        assert scalar(conn, "SELECT @@character_set_client") == "latin1"


@pytest.mark.parametrize(
    ("driver_name", "path"),
    [("mysqlclient", "MySQLdb.cursors.SSCursor"), ("pymysql", "pymysql.cursors.SSCursor")],
)
def test_cursorclass_dotted_string(driver_name: str, path: str, mysql_info: dict[str, Any]) -> None:
    import_driver(driver_name)
    cls = getattr(pooling.mysql, DRIVERS[driver_name][1])
    with cls(pool_size=1, kwargs=dict(mysql_info, cursorclass=path)) as pool:
        assert pool.create_kwargs["cursorclass"].__name__ == "SSCursor"
        with pool.get_session() as conn:
            cur = conn.cursor()
            assert type(cur).__name__ == "SSCursor"
            cur.execute("SELECT 1")
            assert tuple(cur.fetchall()) == ((1,),)
            cur.close()


def test_args_positional(mysql_info: dict[str, Any]) -> None:
    import_driver("mysqlclient")
    i = mysql_info
    args = (i["host"], i["user"], i["password"], i["database"], i["port"])
    with MysqlConnectionPool(pool_size=1, args=args) as pool:
        assert i["password"] not in pool.name
        assert pool.query("SELECT DATABASE() AS db") == [{"db": i["database"]}]


# -- health ---------------------------------------------------------------------------------------


def test_killed_idle_connection_is_replaced_on_checkout(make_pool: Any, mysql_admin: Admin) -> None:
    pool = make_pool(pool_size=1, check_interval=0)
    with pool.get_session() as conn:
        first = connection_id(conn)
    mysql_admin.kill(first)
    with pool.get_session() as conn:
        second = connection_id(conn)
        assert scalar(conn, "SELECT 41 + 1") == 42
    assert second != first
    stats = pool.stats()
    assert stats.destroyed == 1
    assert stats.created == 2


def test_killed_idle_connection_in_bypass_window_not_handed_to_helpers(
    make_pool: Any, mysql_admin: Admin, mysql_table: str
) -> None:
    pool = make_pool(pool_size=1)  # default check_interval: 0.5 s, no ping on a hot connection
    first = pool.query("SELECT CONNECTION_ID() AS id")[0]["id"]
    mysql_admin.kill(first)
    # A write is fine too: the dead connection is noticed before anything is sent.
    assert pool.execute(f"INSERT INTO {mysql_table} (v) VALUES (1)")[1] == 1
    assert mysql_admin.scalar(f"SELECT COUNT(*) FROM {mysql_table}") == 1
    assert pool.query("SELECT CONNECTION_ID() AS id")[0]["id"] != first
    assert pool.stats().destroyed == 1


def test_disconnect_while_leased_destroys_on_release(driver: str, make_pool: Any, mysql_admin: Admin) -> None:
    pool = make_pool(pool_size=1)
    lease = pool.get_session()
    first = connection_id(lease.session)
    mysql_admin.kill(first)
    with pytest.raises(driver_error(driver)):  # the caller's code sees the driver's error...
        scalar(lease.session, "SELECT 1")
    lease.close()  # ...and the pool refuses the connection on return, seeing its state only
    stats = pool.stats()
    assert (stats.destroyed, stats.idle) == (1, 0)
    with pool.get_session() as conn:  # within the bypass window: no ping, a new connection
        assert connection_id(conn) != first
        assert scalar(conn, "SELECT 1") == 1


def test_killed_mid_query_is_destroyed_on_release(driver: str, make_pool: Any, mysql_admin: Admin) -> None:
    pool = make_pool(pool_size=1)
    lease = pool.get_session()
    conn_id = connection_id(lease.session)

    # KILL from another thread while SLEEP() runs: the server reports the kill (2013 or 1927).
    def kill_when_sleeping() -> None:
        admin = connect_admin()
        try:
            deadline = time.monotonic() + 10
            while time.monotonic() < deadline:
                state = admin.scalar(
                    "SELECT COUNT(*) FROM information_schema.PROCESSLIST "
                    "WHERE ID = %s AND INFO LIKE 'SELECT SLEEP%%'",
                    (conn_id,),
                )
                if state:
                    admin.kill(conn_id)
                    return
                time.sleep(0.01)
        finally:
            admin.close()

    killer = threading.Thread(target=kill_when_sleeping)
    killer.start()
    with pytest.raises(driver_error(driver)) as info:
        scalar(lease.session, "SELECT SLEEP(20)")
    killer.join()
    assert is_disconnect_error(info.value), repr(info.value)
    lease.close()
    assert pool.stats().destroyed == 1
    assert pool.query("SELECT 1 AS one") == [{"one": 1}]


# -- reset on return ------------------------------------------------------------------------------


def test_open_transaction_is_rolled_back_on_return(
    make_pool: Any, mysql_admin: Admin, mysql_table: str
) -> None:
    pool = make_pool(pool_size=1)
    with pool.get_session() as conn:
        set_autocommit(conn, False)
        run(conn, f"INSERT INTO {mysql_table} (v) VALUES (1)")
        first = connection_id(conn)
    assert mysql_admin.scalar(f"SELECT COUNT(*) FROM {mysql_table}") == 0
    with pool.get_session() as conn:
        assert connection_id(conn) == first  # restored, not replaced
        assert scalar(conn, "SELECT @@autocommit") == 1  # and autocommit put back
    assert pool.stats().destroyed == 0


def test_explicit_begin_is_rolled_back_on_return(
    make_pool: Any, mysql_admin: Admin, mysql_table: str
) -> None:
    pool = make_pool(pool_size=1)
    with pool.get_session() as conn:
        run(conn, "BEGIN")
        run(conn, f"INSERT INTO {mysql_table} (v) VALUES (1)")
    assert mysql_admin.scalar(f"SELECT COUNT(*) FROM {mysql_table}") == 0
    with pool.get_session() as conn:
        run(conn, f"INSERT INTO {mysql_table} (v) VALUES (2)")  # autocommit: committed
    assert mysql_admin.scalar(f"SELECT COUNT(*) FROM {mysql_table}") == 1


def _session_counters(conn: Any) -> dict[str, int]:
    cur = conn.cursor()
    cur.execute(
        "SHOW SESSION STATUS WHERE Variable_name IN ('Questions', 'Com_rollback', 'Com_admin_commands')"
    )
    rows = cur.fetchall()
    cur.close()
    out = {}
    for row in rows:
        name, value = row.values() if isinstance(row, dict) else row
        out[name] = int(value)
    return out


def test_reset_and_checkout_cost_no_round_trip(driver: str, make_pool: Any) -> None:
    pool = make_pool(pool_size=1)  # default check_interval: no ping on a hot connection
    with pool.get_session() as conn:
        before = _session_counters(conn)
    for _ in range(50):
        pool.get_session().close()
    with pool.get_session() as conn:
        run(conn, "DO 1")
    with pool.get_session() as conn:
        after = _session_counters(conn)
    assert after["Com_rollback"] == before["Com_rollback"]
    # The statements run here, no more: no rollback, no SET, nothing from the pool.
    assert after["Questions"] - before["Questions"] == 2
    if driver != "mysql-connector":  # mysql-connector pings in every cursor() call itself
        assert after["Com_admin_commands"] == before["Com_admin_commands"]  # no ping


def test_rollback_only_when_a_transaction_is_open(make_pool: Any) -> None:
    pool = make_pool(pool_size=1)
    with pool.get_session() as conn:
        before = _session_counters(conn)
        run(conn, "BEGIN")
    with pool.get_session() as conn:
        after = _session_counters(conn)
    assert after["Com_rollback"] - before["Com_rollback"] == 1


def test_mysqldb_reads_transaction_flag_without_round_trip(mysql_info: dict[str, Any]) -> None:
    import_driver("mysqlclient")
    if pooling.mysql._mariadb_api() is None:
        pytest.skip("mysqlclient is not linked to MariaDB Connector/C: reset always rolls back")
    with MysqlConnectionPool(pool_size=1, kwargs=mysql_info) as pool, pool.get_session() as conn:
        assert pool._transaction_state(conn) == (False, True)
        run(conn, "BEGIN")
        assert pool._transaction_state(conn) == (True, True)
        conn.rollback()
        set_autocommit(conn, False)
        assert pool._transaction_state(conn) == (False, False)


def test_local_probes_keep_the_gil() -> None:
    """The return path's probes are ctypes calls that keep the GIL (a PyDLL's): releasing it,
    as select.poll and CDLL calls do, costs a context switch per return under load."""
    import ctypes

    libc = pooling.mysql._libc_poll()
    if sys.platform.startswith("linux"):
        assert libc is not None
    if libc is not None:
        assert libc[0]._flags_ & ctypes._FUNCFLAG_PYTHONAPI  # type: ignore[attr-defined]
    import_driver("mysqlclient")
    api = pooling.mysql._mariadb_api()
    if api is not None:
        assert api[0]._flags_ & ctypes._FUNCFLAG_PYTHONAPI  # type: ignore[attr-defined]


@pytest.mark.parametrize("libc", [True, False], ids=["libc-poll", "select-fallback"])
def test_socket_probe(libc: bool, monkeypatch: pytest.MonkeyPatch) -> None:
    """Readable means "the peer sent something or hung up": between two requests, a dead or
    out-of-sync connection."""
    import socket

    if not libc:
        monkeypatch.setattr(pooling.mysql, "_libc_poll", lambda: None)
    a, b = socket.socketpair()
    with a, b:
        probe = pooling.mysql._Probe(a.fileno(), None)
        assert (probe._poll is not None) is (libc and pooling.mysql._libc_poll() is not None)
        assert not probe.readable()
        b.send(b"x")
        assert probe.readable()
        assert a.recv(1) == b"x"
        assert not probe.readable()
        b.close()
        assert probe.readable()


def test_probe_follows_a_new_socket(mysql_info: dict[str, Any]) -> None:
    """A connection that reconnected (PyMySQL's connect()) on another socket gets a
    probe of the new socket, not of the old one's number."""
    import socket

    import_driver("pymysql")
    from pooling.mysql import PyMySQLConnectionPool

    with PyMySQLConnectionPool(pool_size=1, kwargs=mysql_info, timeout=10) as pool:
        with pool.get_session() as conn:
            run(conn, "SELECT 1")
        old_probe = conn._pooling_probe
        assert old_probe.fd == conn._sock.fileno()
        with pool.get_session() as conn:
            conn.close()  # frees the old socket's number...
            with socket.socket() as squatter:  # ...which this one takes
                assert squatter.fileno() == old_probe.fd
                conn.connect()  # a new socket, under another number
                run(conn, "SELECT 1")
            new_fd = conn._sock.fileno()
            assert new_fd != old_probe.fd
        with pool.get_session() as again:
            assert again is conn  # the reconnected connection passed its reset
        assert conn._pooling_probe is not old_probe
        assert conn._pooling_probe.fd == new_fd
        assert pool.stats().destroyed == 0


# -- helpers --------------------------------------------------------------------------------------


def test_helpers(make_pool: Any, mysql_table: str, mysql_admin: Admin) -> None:
    pool = make_pool()
    lastrowid, rowcount = pool.execute(f"INSERT INTO {mysql_table} (v) VALUES (%s)", (10,))
    assert (lastrowid, rowcount) == (1, 1)
    assert pool.executemany(f"INSERT INTO {mysql_table} (v) VALUES (%s)", [(11,), (12,)]) == 2
    assert pool.query(f"SELECT id, v FROM {mysql_table} WHERE v > %s ORDER BY id", (10,)) == [
        {"id": 2, "v": 11},
        {"id": 3, "v": 12},
    ]
    assert pool.execute(f"UPDATE {mysql_table} SET v = v + 1")[1] == 3
    assert mysql_admin.scalar(f"SELECT SUM(v) FROM {mysql_table}") == 36
    assert pool.query(f"SELECT * FROM {mysql_table} WHERE v < 0") == []
    assert pool.stats().in_use == 0


def test_helpers_commit_when_autocommit_is_off(make_pool: Any, mysql_table: str, mysql_admin: Admin) -> None:
    pool = make_pool(kwargs={"autocommit": False})
    pool.execute(f"INSERT INTO {mysql_table} (v) VALUES (1)")
    pool.executemany(f"INSERT INTO {mysql_table} (v) VALUES (%s)", [(2,), (3,)])
    assert mysql_admin.scalar(f"SELECT COUNT(*) FROM {mysql_table}") == 3


def test_helper_sql_error_keeps_the_connection(driver: str, make_pool: Any) -> None:
    pool = make_pool(pool_size=1)
    with pytest.raises(driver_error(driver)):
        pool.query("SELECT no_such_column FROM no_such_table")
    assert pool.query("SELECT 1 AS one") == [{"one": 1}]
    assert pool.stats().destroyed == 0


def test_helper_timeout(make_pool: Any) -> None:
    pool = make_pool(pool_size=1)
    with pool.get_session():
        start = time.monotonic()
        with pytest.raises(PoolTimeout):
            pool.query("SELECT 1", timeout=0.2)
        assert time.monotonic() - start < 2


def _lose_connection_unnoticed(pool: Any, admin: Admin, monkeypatch: pytest.MonkeyPatch) -> int:
    """Leave a pooled connection whose client library knows it is gone, with the pool's local
    probe disabled: what the pool sees when a disconnect happens between probe and send."""
    monkeypatch.setattr(pool, "_broken_reason", lambda conn: None)
    with pool.get_session() as conn:
        conn_id = connection_id(conn)
        admin.kill(conn_id)
        with pytest.raises(driver_error("mysqlclient")):
            scalar(conn, "SELECT 1")  # 2013: now the library marks the connection closed
    assert pool.stats().idle == 1
    return conn_id


def test_query_is_retried_once_on_server_gone(
    mysql_info: dict[str, Any], mysql_admin: Admin, monkeypatch: pytest.MonkeyPatch
) -> None:
    import_driver("mysqlclient")
    with MysqlConnectionPool(pool_size=1, kwargs=mysql_info) as pool:
        lost = _lose_connection_unnoticed(pool, mysql_admin, monkeypatch)
        rows = pool.query("SELECT CONNECTION_ID() AS id")  # 2006 first, then a new connection
        assert rows[0]["id"] != lost
        assert pool.stats().destroyed == 1


def test_write_is_never_retried(
    mysql_info: dict[str, Any], mysql_admin: Admin, monkeypatch: pytest.MonkeyPatch
) -> None:
    MySQLdb = import_driver("mysqlclient")
    with MysqlConnectionPool(pool_size=1, kwargs=mysql_info) as pool:
        _lose_connection_unnoticed(pool, mysql_admin, monkeypatch)
        with pytest.raises(MySQLdb.OperationalError) as info:
            pool.execute("DO 1")
        assert info.value.args[0] == 2006
        stats = pool.stats()
        assert (stats.destroyed, stats.created) == (1, 1)  # invalidated, no second attempt


# -- secrets --------------------------------------------------------------------------------------


def test_password_never_leaks(
    driver: str,
    mysql_info: dict[str, Any],
    mysql_admin: Admin,
    caplog: pytest.LogCaptureFixture,
    capsys: pytest.CaptureFixture[str],
) -> None:
    caplog.set_level(logging.DEBUG)
    secret = f"Pw-{uuid.uuid4().hex}-zz"
    seen: list[str] = []
    cls = getattr(pooling.mysql, DRIVERS[driver][1])

    def remember(exc: BaseException) -> None:
        while exc is not None:
            seen.extend([str(exc), repr(exc)])
            exc = exc.__cause__ or exc.__context__  # type: ignore[assignment]

    # A wrong password: the driver's error, as the caller and the log see it.
    bad = cls(pool_size=1, kwargs=dict(mysql_info, password=secret), timeout=1)
    seen += [repr(bad), bad.name, str(bad.stats())]
    for _ in range(2):  # the first error, then the back-off's copy of it
        with pytest.raises(Exception) as info:
            bad.get_session()
        remember(info.value)
    with pytest.raises(Exception) as info:
        bad.query("SELECT 1")
    remember(info.value)
    bad.close()

    # The right password: a user made for this test, a session that fails its check, a reset
    # that fails, and every repr.
    user = f"pw{uuid.uuid4().hex[:10]}"
    hosts = ("127.0.0.1", "localhost", "%")
    for host in hosts:
        quoted = host.replace("%", "%%")
        mysql_admin.execute(f"CREATE USER '{user}'@'{quoted}' IDENTIFIED BY %s", (secret,))
        mysql_admin.execute(f"GRANT ALL ON {mysql_info['database']}.* TO '{user}'@'{host}'")
    try:
        good = cls(pool_size=1, kwargs=dict(mysql_info, user=user, password=secret), check_interval=0)
        lease = good.get_session()
        seen += [repr(good), good.name, repr(lease), str(good.stats())]
        mysql_admin.kill(connection_id(lease.session))
        lease.close()  # fails its reset
        with good.get_session() as conn:
            conn_id = connection_id(conn)
        mysql_admin.kill(conn_id)
        with good.get_session() as conn:  # fails its check
            assert scalar(conn, "SELECT 1") == 1
        good.close()
        seen.append(repr(good))
    finally:
        for host in hosts:
            mysql_admin.execute(f"DROP USER IF EXISTS '{user}'@'{host}'")

    out, err = capsys.readouterr()
    seen += [out, err, caplog.text]
    seen += [str(record.args) for record in caplog.records]
    assert "failed its check" in caplog.text or "resetting" in caplog.text  # logs were captured
    leaks = [text for text in seen if secret in text]
    assert not leaks


# -- the server goes away and comes back --------------------------------------------------------


@pytest.mark.server_restart
@pytest.mark.skipif(
    os.environ.get("POOLING_SERVER_RESTART") != "1",
    reason="stops the local MariaDB: runs only with POOLING_SERVER_RESTART=1",
)
@pytest.mark.timeout(240)
def test_pool_recovers_after_server_restart(
    driver: str, mysql_info: dict[str, Any], capsys: pytest.CaptureFixture[str]
) -> None:
    if os.geteuid() != 0 or not shutil.which("start-stop-daemon"):
        unavailable("stopping and starting MariaDB needs root and start-stop-daemon")
    cls = getattr(pooling.mysql, DRIVERS[driver][1])
    error = driver_error(driver)
    # check_interval=0: every idle connection is pinged, so get_session itself must notice.
    pool = cls(pool_size=2, kwargs=mysql_info, timeout=1, check_interval=0)
    hot = cls(pool_size=2, kwargs=mysql_info, timeout=1)  # default bypass window
    attempts = 0
    real_create = pool.do_session_create

    def counting_create(*args: Any, **kwargs: Any) -> Any:
        nonlocal attempts
        attempts += 1
        return real_create(*args, **kwargs)

    pool.do_session_create = counting_create
    try:
        assert pool.query("SELECT 1 AS one") == [{"one": 1}]
        assert hot.query("SELECT 1 AS one") == [{"one": 1}]
        stop_server()
        # Down: get_session raises the driver's error within its deadline, not a dead connection.
        start = time.monotonic()
        with pytest.raises(error):
            pool.get_session()
        assert time.monotonic() - start < 1.5
        # The helpers see the dead pooled connection even inside the bypass window.
        start = time.monotonic()
        with pytest.raises(error):
            hot.query("SELECT 1")
        assert time.monotonic() - start < 1.5
        # ...and they do not hammer the server: back-off between connection attempts.
        attempts = 0
        calls = 0
        until = time.monotonic() + 2.0
        while time.monotonic() < until:
            calls += 1
            start = time.monotonic()
            with pytest.raises(error):
                pool.get_session(timeout=0.1)
            assert time.monotonic() - start < 1.0
        assert calls >= 10
        assert attempts <= 12, f"{attempts} connection attempts in 2 s while the server was down"
        with capsys.disabled():
            print(f"\n[{driver}] down: {calls} get_session calls, {attempts} connection attempts")
    finally:
        start_server()
    up = time.monotonic()
    recovered = None
    while time.monotonic() - up < 10:
        try:
            if pool.query("SELECT 1 AS one", timeout=1) == [{"one": 1}]:
                recovered = time.monotonic() - up
                break
        except error:
            time.sleep(0.05)
    pool.close()
    hot.close()
    assert recovered is not None, "the pool did not recover within 10 s of the server answering"
    assert recovered < 5
    with capsys.disabled():
        print(f"\n[{driver}] recovered {recovered:.3f}s after the server answered")
