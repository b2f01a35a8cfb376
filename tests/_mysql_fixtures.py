"""Fixtures and helpers for the MySQL/MariaDB tests (tests/test_mysql.py).

Connection details come from MYSQL_HOST, MYSQL_PORT, MYSQL_USER, MYSQL_PASSWORD, MYSQL_DATABASE
(defaults 127.0.0.1, 3306, test, test, test; `.ci/mariadb.sh` creates that user). KILL and the
server restart test use MYSQL_ROOT_USER / MYSQL_ROOT_PASSWORD (defaults root and empty).

A missing driver or server skips the test, unless POOLING_REQUIRE_SERVICES=1 (CI): then it fails.
The fixtures are registered under the names `mysql_info`, `mysql_admin`, `mysql_table` wherever
their functions (`fixture_*`) are imported: test_mysql.py does, and so may tests/conftest.py.
"""

from __future__ import annotations

import importlib
import os
import shutil
import socket
import subprocess
import time
import uuid
from collections.abc import Callable, Iterator
from types import ModuleType
from typing import Any, NoReturn

import pytest

#: driver name -> (module to import, pool class in pooling.mysql, pip extra)
DRIVERS: dict[str, tuple[str, str, str]] = {
    "mysqlclient": ("MySQLdb", "MysqlConnectionPool", "mysql"),
    "pymysql": ("pymysql", "PyMySQLConnectionPool", "pymysql"),
    "mysql-connector": ("mysql.connector", "MysqlConnectorPool", "mysql-connector"),
}


def unavailable(reason: str) -> NoReturn:
    """Skip for a missing service or driver; fail instead when POOLING_REQUIRE_SERVICES=1."""
    if os.environ.get("POOLING_REQUIRE_SERVICES") == "1":
        pytest.fail(f"{reason} (POOLING_REQUIRE_SERVICES=1 requires it)", pytrace=False)
    pytest.skip(reason)


def mysql_conn_info() -> dict[str, Any]:
    return {
        "host": os.environ.get("MYSQL_HOST", "127.0.0.1"),
        "port": int(os.environ.get("MYSQL_PORT", "3306")),
        "user": os.environ.get("MYSQL_USER", "test"),
        "password": os.environ.get("MYSQL_PASSWORD", "test"),
        "database": os.environ.get("MYSQL_DATABASE", "test"),
    }


def mysql_root_info() -> dict[str, Any]:
    info = mysql_conn_info()
    info["user"] = os.environ.get("MYSQL_ROOT_USER", "root")
    info["password"] = os.environ.get("MYSQL_ROOT_PASSWORD", "")
    return info


def server_answers(timeout: float = 2.0) -> bool:
    info = mysql_conn_info()
    try:
        with socket.create_connection((info["host"], info["port"]), timeout=timeout):
            return True
    except OSError:
        return False


def require_server() -> dict[str, Any]:
    info = mysql_conn_info()
    if not server_answers():
        unavailable(f"no MySQL/MariaDB server answers at {info['host']}:{info['port']}")
    return info


def import_driver(name: str) -> ModuleType:
    module, _, extra = DRIVERS[name]
    try:
        return importlib.import_module(module)
    except ImportError as exc:
        unavailable(f"driver {name} is not installed (pip install 'pooling[{extra}]'): {exc}")


def driver_error(name: str) -> type[BaseException]:
    """The base class of the driver's errors."""
    mod = import_driver(name)
    if name == "mysql-connector":
        return mod.Error  # type: ignore[no-any-return]
    return mod.MySQLError  # type: ignore[no-any-return]


# -- driver-neutral operations on a raw connection ----------------------------------------------


def scalar(conn: Any, sql: str, args: Any = None) -> Any:
    """First column of the first row, whatever the cursor class (tuple or dict rows)."""
    cur = conn.cursor()
    try:
        cur.execute(sql, args)
        row = cur.fetchone()
    finally:
        cur.close()
    if row is None:
        return None
    if isinstance(row, dict):
        return next(iter(row.values()))
    return row[0]


def run(conn: Any, sql: str, args: Any = None) -> None:
    cur = conn.cursor()
    try:
        cur.execute(sql, args)
    finally:
        cur.close()


def set_autocommit(conn: Any, value: bool) -> None:
    if callable(getattr(conn, "autocommit", None)):
        conn.autocommit(value)  # mysqlclient, PyMySQL
    else:
        conn.autocommit = value  # mysql-connector


def connection_id(conn: Any) -> int:
    return int(scalar(conn, "SELECT CONNECTION_ID()"))


class Admin:
    """A root connection, for what the test user may not do (KILL any thread, users, DDL)."""

    def __init__(self, conn: Any) -> None:
        self.conn = conn

    def execute(self, sql: str, args: Any = None) -> None:
        run(self.conn, sql, args)

    def scalar(self, sql: str, args: Any = None) -> Any:
        return scalar(self.conn, sql, args)

    def kill(self, thread_id: int) -> None:
        self.execute(f"KILL {int(thread_id)}")

    def close(self) -> None:
        self.conn.close()


def connect_admin() -> Admin:
    info = mysql_root_info()
    for name in DRIVERS:
        try:
            mod = importlib.import_module(DRIVERS[name][0])
        except ImportError:
            continue
        try:
            conn = mod.connect(autocommit=True, **info)
        except Exception as exc:
            unavailable(f"root login to MySQL/MariaDB failed ({info['user']}@{info['host']}): {exc}")
        return Admin(conn)
    unavailable("no MySQL driver is installed (pip install 'pooling[mysql]')")


# -- fixtures -------------------------------------------------------------------------------------


@pytest.fixture(name="mysql_info")
def fixture_mysql_info() -> dict[str, Any]:
    """Connection kwargs of the test user; skips (or fails) when no server answers."""
    return require_server()


@pytest.fixture(name="mysql_admin")
def fixture_mysql_admin(mysql_info: dict[str, Any]) -> Iterator[Admin]:
    admin = connect_admin()
    yield admin
    admin.close()


@pytest.fixture(name="mysql_table")
def fixture_mysql_table(mysql_admin: Admin, mysql_info: dict[str, Any]) -> Iterator[str]:
    """A fresh InnoDB table `(id INT AUTO_INCREMENT PRIMARY KEY, v INT)`, dropped afterwards."""
    name = f"{mysql_info['database']}.pooling_{uuid.uuid4().hex[:12]}"
    mysql_admin.execute(f"CREATE TABLE {name} (id INT AUTO_INCREMENT PRIMARY KEY, v INT) ENGINE=InnoDB")
    yield name
    mysql_admin.execute(f"DROP TABLE IF EXISTS {name}")


# -- stopping and starting the local server (the server_restart tests; CI runs them as root) ------


def wait_until(predicate: Callable[[], bool], seconds: float) -> bool:
    deadline = time.monotonic() + seconds
    while time.monotonic() < deadline:
        if predicate():
            return True
        time.sleep(0.05)
    return predicate()


def stop_server() -> None:
    admin = shutil.which("mariadb-admin") or shutil.which("mysqladmin") or "mariadb-admin"
    subprocess.run([admin, "-uroot", "shutdown"], check=True, timeout=60)
    assert wait_until(lambda: not server_answers(0.5), 30), "MariaDB did not stop"


def start_server() -> None:
    if not server_answers(0.5):
        subprocess.run(["install", "-d", "-o", "mysql", "-g", "mysql", "/run/mysqld"], check=False)
        subprocess.run(
            ["start-stop-daemon", "--start", "--oknodo", "--background", "--exec", "/usr/sbin/mariadbd"],
            check=True,
            timeout=30,
        )
    assert wait_until(lambda: server_answers(0.5), 60), "MariaDB did not start again within 60 s"
