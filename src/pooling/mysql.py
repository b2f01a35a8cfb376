"""Connection pools for MySQL and MariaDB, one per driver.

* `MysqlConnectionPool` -- mysqlclient (``MySQLdb``), extra ``pooling[mysql]``.
* `PyMySQLConnectionPool` -- PyMySQL, extra ``pooling[pymysql]``.
* `MysqlConnectorPool` -- mysql-connector-python, extra ``pooling[mysql-connector]``.

Importing this module imports none of the drivers: each class imports its own when it is
instantiated, so only the driver you use has to be installed.

Every pool makes connections with the 0.1.x defaults, each overridable through ``kwargs``:
``autocommit=True``, ``charset="utf8mb4"`` and, for mysqlclient and PyMySQL, dict rows
(``cursorclass=<driver>.cursors.DictCursor``; a dotted string such as
``"MySQLdb.cursors.SSCursor"`` is imported). mysqlclient also gets ``connect_timeout=10``.

How a connection is kept healthy
--------------------------------
*Check on checkout.* An idle connection is pinged (``ping()``, never reconnecting) before it is
handed out, except one returned less than ``check_interval`` seconds ago (0.5 by default, the
bypass window of HikariCP). A connection that fails the check is destroyed and the pool hands
out another one within the caller's deadline.

*Reset on return.* Before a returned connection becomes idle again, ``do_session_reset`` makes
it what the next caller expects, with no round trip in the common case:

1. it is refused (destroyed, never pooled) when it looks dead or out of sync, found with
   local state only: the driver's closed flag, the error code of its last call (mysqlclient),
   unread results, or a socket that is readable between requests (the server closed it, as it
   does on ``KILL`` and ``wait_timeout``, or rows were left unread);
2. an open transaction is rolled back. Whether one is open is read from the server status
   flags the driver keeps from the last OK packet (``SERVER_STATUS_IN_TRANS``: PyMySQL's
   ``server_status``, mysql-connector's ``in_transaction``, and for mysqlclient linked to
   MariaDB Connector/C, ``mariadb_get_infov(MARIADB_CONNECTION_SERVER_STATUS)``). Where the
   flags cannot be read (mysqlclient linked to Oracle's libmysqlclient) it always rolls back;
3. autocommit is put back to the pool's setting if the caller changed it.

A rollback that fails (the connection died) makes the reset raise, and the pool destroys it.
Other session state (user variables, temporary tables, ``USE``, session variables) is left as
the caller left it, as in 0.1.x.

*Disconnects while leased.* A lease cannot see the exceptions raised in the caller's code. So
a connection that raised a disconnect error (see `DISCONNECT_ERRORS`) is caught on return by
step 1 above, or at the latest by the ping of the next checkout past the bypass window. The
helpers (`query`, `execute`, `executemany`) go further: they run the same local probe on the
connection they get (so a connection killed inside the bypass window is replaced before anything
is sent), and catch the driver's error to destroy the connection with ``lease.invalidate()``.
Code that uses leases directly can do the same with `is_disconnect_error`::

    lease = pool.get_session()
    try:
        ...
    except MySQLdb.Error as exc:
        if is_disconnect_error(exc):
            lease.invalidate()
        raise
    finally:
        lease.close()

*Server down.* Creating a connection raises the driver's error (for example 2002/2003), which
reaches the caller of ``get_session`` unchanged; the core backs off between attempts, and the
pool recovers by itself once the server answers again.

Secrets: the default pool name is ``"<Class>(user@host:port/db)"``; the password is never part
of a name, a repr, a log line or a message of ours.
"""

from __future__ import annotations

import contextlib
import functools
import importlib
import select
import time
from collections.abc import Callable, Iterable, Mapping
from typing import TYPE_CHECKING, Any, ClassVar, Generic, TypeVar

from ._base import PoolBase
from ._errors import PoolError

if TYPE_CHECKING:
    from types import ModuleType
    from typing import TypeAlias

    from mysql.connector.abstracts import MySQLConnectionAbstract
    from MySQLdb.connections import Connection as MySQLdbConnection
    from pymysql.connections import Connection as _PyMySQLConnection

    PyMySQLConnection: TypeAlias = _PyMySQLConnection[Any]
else:  # the drivers are imported lazily, by the pools that use them
    MySQLdbConnection = PyMySQLConnection = MySQLConnectionAbstract = Any

__all__ = [
    "DISCONNECT_ERRORS",
    "ConnectionUnusable",
    "MysqlConnectionPool",
    "MysqlConnectorPool",
    "PyMySQLConnectionPool",
    "is_disconnect_error",
]

#: MySQL/MariaDB error codes after which a connection is unusable and must be destroyed.
DISCONNECT_ERRORS: frozenset[int] = frozenset(
    {
        1053,  # ER_SERVER_SHUTDOWN: server shutdown in progress
        1152,  # ER_ABORTING_CONNECTION
        1927,  # ER_CONNECTION_KILLED (MariaDB)
        2002,  # CR_CONNECTION_ERROR
        2003,  # CR_CONN_HOST_ERROR
        2006,  # CR_SERVER_GONE_ERROR: the statement was not sent
        2013,  # CR_SERVER_LOST: lost during the query
        2014,  # CR_COMMANDS_OUT_OF_SYNC: protocol state unknown
        2045,  # CR_NAMEDPIPEOPEN_ERROR
        2055,  # CR_SERVER_LOST_EXTENDED (mysql-connector: "Lost connection ... system error")
        4031,  # ER_CLIENT_INTERACTION_TIMEOUT: disconnected for inactivity (MySQL 8.0.24+)
    }
)

_SERVER_GONE = 2006
_SERVER_STATUS_IN_TRANS = 1
_SERVER_STATUS_AUTOCOMMIT = 2

C = TypeVar("C")
R = TypeVar("R")


def _error_code(exc: BaseException) -> int | None:
    """The MySQL error number of a driver exception, or None."""
    code = getattr(exc, "errno", None)  # mysql-connector
    if isinstance(code, int) and code > 0:
        return code
    args = getattr(exc, "args", ())
    if args and isinstance(args[0], int):  # mysqlclient, PyMySQL: (code, message)
        return args[0]
    return None


def is_disconnect_error(exc: BaseException) -> bool:
    """True if `exc` says the connection is lost or unusable (its code is in DISCONNECT_ERRORS)."""
    return _error_code(exc) in DISCONNECT_ERRORS


class ConnectionUnusable(PoolError):
    """Raised by the check and reset hooks for a connection that must not be pooled (the pool
    logs it and destroys the connection; callers do not see it)."""


def _import_dotted(path: str) -> Any:
    module, _, attr = path.rpartition(".")
    if not module:
        raise ValueError(f"cursorclass {path!r} is not a dotted path such as 'pkg.module.Class'")
    return getattr(importlib.import_module(module), attr)


def _require(module: str, extra: str, cls: str) -> ModuleType:
    try:
        return importlib.import_module(module)
    except ImportError as exc:
        raise ImportError(f"{cls} needs the {module!r} driver: pip install 'pooling[{extra}]'") from exc


def _safe_name(cls: str, args: Iterable[Any] | None, kwargs: Mapping[str, Any]) -> str | None:
    """`Class(user@host:port/db)` from the keyword options; never the password, never `args`
    (positional options hold the password too). None when there is nothing safe to show."""
    user = kwargs.get("user")
    where = kwargs.get("unix_socket") or kwargs.get("host")
    port = kwargs.get("port")
    db = kwargs.get("database", kwargs.get("db"))
    if args and not (user or where or db):
        return None
    text = f"{user}@" if user else ""
    text += str(where or "localhost")
    if port and not kwargs.get("unix_socket"):
        text += f":{port}"
    if db:
        text += f"/{db}"
    return f"{cls}({text})"


def _socket_readable(fd: int | None) -> bool:
    """True if the socket has something to read (or hit EOF/error) right now, without waiting.

    Between two requests a MySQL server sends nothing, so a readable socket means the server
    closed it (KILL, wait_timeout, shutdown) or rows were left unread: either way the connection
    must not be handed out again.
    """
    if fd is None or fd < 0:
        return False
    try:
        if hasattr(select, "poll"):
            poller = select.poll()
            poller.register(fd, select.POLLIN | select.POLLPRI)
            return bool(poller.poll(0))
        readable, _, errored = select.select([fd], [], [fd], 0)
        return bool(readable or errored)
    except (OSError, ValueError):
        return True


_StatusCall = Callable[[], "int | None"]


@functools.cache
def _libc_poll() -> tuple[Any, Any] | None:
    """libc's ``poll`` and a ``struct pollfd`` type, through ``ctypes.PyDLL``, or None.

    PyDLL calls keep the GIL. A zero-timeout poll never blocks, while ``select.poll`` releases
    the GIL around it: under load another thread takes it, and this one has to wait to get it
    back, a context switch at every return of a busy pool.
    """
    try:
        import ctypes

        poll = ctypes.PyDLL(None).poll
    except (ImportError, OSError, AttributeError, TypeError):
        return None
    poll.restype = ctypes.c_int

    class PollFd(ctypes.Structure):
        _fields_ = (("fd", ctypes.c_int), ("events", ctypes.c_short), ("revents", ctypes.c_short))

    return poll, PollFd


class _Probe:
    """What the local checks of one connection need, made ready once and kept on the connection
    (as ``_pooling_probe``), because they run at every return: a prepared zero-timeout poll of
    its socket and, for mysqlclient linked to MariaDB Connector/C, a prepared call that reads
    the connection's server status flags. Made anew if the connection's socket changes."""

    __slots__ = ("_poll", "_poll_args", "fd", "status")

    def __init__(self, fd: int | None, status: _StatusCall | None) -> None:
        self.fd = fd
        #: reads ``server_status`` (None where it cannot be read), or None if unavailable
        self.status = status
        self._poll: Any = None
        self._poll_args: tuple[Any, ...] = ()
        libc = _libc_poll() if fd is not None and fd >= 0 else None
        if libc is not None:
            import ctypes

            self._poll, poll_fd = libc
            pollfd = poll_fd(fd, select.POLLIN | select.POLLPRI, 0)
            # poll(&pollfd, (nfds_t) 1, 0): the ctypes objects keep `pollfd` alive
            self._poll_args = (ctypes.byref(pollfd), ctypes.c_ulong(1), ctypes.c_int(0))

    def readable(self) -> bool:
        """`_socket_readable` of the connection's socket, without releasing the GIL."""
        if self._poll is None:
            return _socket_readable(self.fd)
        return bool(self._poll(*self._poll_args) != 0)  # events, or -1: an error, not usable


class _MysqlPool(PoolBase[C], Generic[C]):
    """What the three MySQL pools share: defaults, check, reset and the helpers."""

    _module: ClassVar[str]
    _extra: ClassVar[str]

    def __init__(
        self,
        pool_size: int = 10,
        args: Iterable[Any] | None = None,
        kwargs: Mapping[str, Any] | None = None,
        **options: Any,
    ) -> None:
        cls = type(self).__name__
        self._driver = _require(self._module, self._extra, cls)
        conn_kwargs = dict(kwargs or {})
        self._apply_defaults(conn_kwargs)
        autocommit = conn_kwargs.get("autocommit")
        #: the autocommit mode every pooled connection is reset to (None: leave it as it is)
        self._autocommit: bool | None = None if autocommit is None else bool(autocommit)
        options.setdefault("check_interval", 0.5)
        # a `with` block that ends in a disconnect error destroys its connection
        options.setdefault("discard_on", is_disconnect_error)
        if options.get("name") is None:
            name = _safe_name(cls, args, conn_kwargs)
            if name is not None:
                options["name"] = name
        super().__init__(pool_size, args=args, kwargs=conn_kwargs, **options)

    # -- per driver ------------------------------------------------------------------------------

    def _apply_defaults(self, kwargs: dict[str, Any]) -> None:
        kwargs.setdefault("autocommit", True)
        kwargs.setdefault("charset", "utf8mb4")

    def _is_closed(self, conn: Any) -> bool:
        raise NotImplementedError

    def _fileno(self, conn: Any) -> int | None:
        raise NotImplementedError

    def _status_call(self, conn: Any) -> _StatusCall | None:
        """A call reading the connection's server status flags, where the driver hides them."""
        return None

    def _probe(self, conn: Any) -> _Probe:
        """The connection's `_Probe`, made on first use (or when its socket changed)."""
        fd = self._fileno(conn)
        try:
            probe: _Probe = conn._pooling_probe
            if probe.fd == fd:
                return probe
        except AttributeError:
            pass
        probe = _Probe(fd, self._status_call(conn))
        with contextlib.suppress(AttributeError, TypeError):  # a class that takes no attributes
            conn._pooling_probe = probe
        return probe

    def _pending_error(self, conn: Any) -> int:
        """The error code of the connection's last call, where the driver keeps it (else 0)."""
        return 0

    def _has_unread_result(self, conn: Any) -> bool:
        raise NotImplementedError

    def _transaction_state(self, conn: Any) -> tuple[bool | None, bool | None]:
        """(in a transaction, autocommit on), each None where it cannot be told locally."""
        raise NotImplementedError

    def _set_autocommit(self, conn: Any, value: bool) -> None:
        raise NotImplementedError

    def _ping(self, conn: Any) -> None:
        raise NotImplementedError

    def _cursor(self, conn: Any) -> Any:
        return conn.cursor()

    # -- hooks of PoolBase -----------------------------------------------------------------------

    def do_session_destroy(self, session: C) -> None:
        # Closing a connection the server already dropped raises in some drivers: nothing to do.
        conn: Any = session
        with contextlib.suppress(Exception):
            conn.close()

    def do_session_check(self, session: C) -> None:
        self._refuse_if_broken(session)
        self._ping(session)

    def do_session_reset(self, session: C) -> None:
        conn: Any = session
        self._refuse_if_broken(conn)
        in_trans, autocommit = self._transaction_state(conn)
        if in_trans is None or in_trans:
            conn.rollback()
        wanted = self._autocommit
        if wanted is not None and autocommit is not None and autocommit is not wanted:
            self._set_autocommit(conn, wanted)

    def _broken_reason(self, conn: Any) -> str | None:
        """Why the connection must not be used again, from local state only; None if it may."""
        if self._is_closed(conn):
            return "closed"
        code = self._pending_error(conn)
        if code in DISCONNECT_ERRORS:
            return f"last call failed with error {code}"
        if self._has_unread_result(conn):
            return "a result was left unread"
        if self._probe(conn).readable():
            return "the server closed it or sent unexpected data"
        return None

    def _refuse_if_broken(self, conn: Any) -> None:
        reason = self._broken_reason(conn)
        if reason is not None:
            raise ConnectionUnusable(f"{self.name}: connection unusable: {reason}")

    # -- helpers -----------------------------------------------------------------------------------

    def query(self, sql: str, args: Any = None, timeout: float | None = None) -> list[Any]:
        """Run a read and return all its rows (dicts by default).

        `timeout` bounds the wait for a connection (None: the pool's default). If the
        connection turns out to be gone before the statement reached the server (error 2006, or
        the driver refused to make a cursor on a lost connection), the query is run once more
        on another connection, within the same deadline.
        """

        def run(cursor: Any) -> list[Any]:
            cursor.execute(sql, args)
            return list(cursor.fetchall())

        return self._run(run, timeout, retry_unsent=True, commit=False)

    def execute(self, sql: str, args: Any = None, timeout: float | None = None) -> tuple[int | None, int]:
        """Run one write and return ``(lastrowid, rowcount)``. Never retried.

        If the connection is not in autocommit mode, the statement is committed.
        """

        def run(cursor: Any) -> tuple[int | None, int]:
            cursor.execute(sql, args)
            return cursor.lastrowid, cursor.rowcount

        return self._run(run, timeout, retry_unsent=False, commit=True)

    def executemany(self, sql: str, args: Any, timeout: float | None = None) -> int:
        """Run a write once per item of `args` and return the rowcount. Never retried.

        If the connection is not in autocommit mode, the statements are committed.
        """

        def run(cursor: Any) -> int:
            cursor.executemany(sql, args)
            return int(cursor.rowcount)

        return self._run(run, timeout, retry_unsent=False, commit=True)

    def _run(
        self,
        work: Callable[[Any], R],
        timeout: float | None,
        *,
        retry_unsent: bool,
        commit: bool,
    ) -> R:
        deadline = None if timeout is None else time.monotonic() + timeout
        retries = 1 if retry_unsent else 0
        skipped = 0
        while True:
            if deadline is None:
                lease = self.get_session()
            else:
                lease = self.get_session(timeout=max(0.0, deadline - time.monotonic()))
            conn: Any = lease.session
            if skipped <= self.pool_size and self._broken_reason(conn) is not None:
                # It died while idle (KILL, wait_timeout) within the check bypass window: nothing
                # was sent yet, so take another one, whatever the statement.
                skipped += 1
                lease.invalidate()
                continue
            sent = False
            try:
                cursor = self._cursor(conn)  # mysql-connector pings here
                sent = True
                try:
                    result = work(cursor)
                    if commit:
                        in_trans, autocommit = self._transaction_state(conn)
                        if in_trans or (in_trans is None and not autocommit):
                            conn.commit()
                finally:
                    with contextlib.suppress(Exception):
                        cursor.close()
                return result
            except Exception as exc:
                code = _error_code(exc)
                lost = code in DISCONNECT_ERRORS or self._broken_reason(conn) is not None
                if lost:
                    lease.invalidate()
                if lost and retries > 0 and (not sent or code == _SERVER_GONE):
                    retries -= 1  # the statement never reached the server: run it once more
                    continue
                raise
            except BaseException:
                # Interrupted (KeyboardInterrupt...) half-way through the protocol.
                lease.invalidate()
                raise
            finally:
                lease.close()


# -- mysqlclient ----------------------------------------------------------------------------------

# enum mariadb_value in MariaDB Connector/C's mysql.h (values are ABI: only ever appended)
_MARIADB_CONNECTION_SERVER_STATUS = 30
_CAPSULE_NAME = b"_mysql.connection.native_connection"


@functools.cache
def _mariadb_api() -> tuple[Any, Any] | None:
    """``mariadb_get_infov`` of the library mysqlclient is linked to, and ``PyCapsule_GetPointer``
    (through ctypes). None where that is not available (mysqlclient linked to Oracle's
    libmysqlclient, a static Windows build, PyPy)."""
    try:
        import ctypes

        from MySQLdb import _mysql

        # PyDLL: the call keeps the GIL (it only reads a field; see `_libc_poll` for why).
        # No argtypes: the prepared arguments are ctypes objects already (faster).
        get_infov = ctypes.PyDLL(_mysql.__file__).mariadb_get_infov
        get_infov.restype = ctypes.c_char
        capsule_pointer = ctypes.pythonapi.PyCapsule_GetPointer
        capsule_pointer.restype = ctypes.c_void_p
        capsule_pointer.argtypes = [ctypes.py_object, ctypes.c_char_p]
    except (ImportError, OSError, AttributeError):
        return None
    return get_infov, capsule_pointer


def _mysqldb_status_call(conn: Any) -> _StatusCall | None:
    """A prepared ``mariadb_get_infov(MARIADB_CONNECTION_SERVER_STATUS)`` on the ``MYSQL*`` of a
    mysqlclient connection (exposed as a capsule by ``_get_native_connection``), or None.

    The ``MYSQL`` struct lives inside the connection object, so the pointer is valid as long as
    the connection is, and the call is kept on the connection itself (see `_Probe`). Checked
    once against ``get_autocommit()``, which reads the same flags: a library that answers
    something else is not used.
    """
    api = _mariadb_api()
    if api is None:
        return None
    import ctypes

    get_infov, capsule_pointer = api
    try:
        mysql = capsule_pointer(conn._get_native_connection(), _CAPSULE_NAME)
    except Exception:
        return None
    if not mysql:
        return None
    flags = ctypes.c_uint()
    args = (ctypes.c_void_p(mysql), ctypes.c_int(_MARIADB_CONNECTION_SERVER_STATUS), ctypes.byref(flags))

    def status() -> int | None:
        if get_infov(*args) != b"\x00":
            return None
        return flags.value

    first = status()
    if first is None or bool(first & _SERVER_STATUS_AUTOCOMMIT) is not bool(conn.get_autocommit()):
        return None
    return status


class MysqlConnectionPool(_MysqlPool[MySQLdbConnection]):
    """A pool of mysqlclient (``MySQLdb``) connections: ``pip install 'pooling[mysql]'``.

    ``MysqlConnectionPool(pool_size=10, kwargs={"host": ..., "user": ..., "password": ...,
    "database": ...}, **pool_options)``; ``args=`` are passed positionally to
    ``MySQLdb.connect``. Defaults: ``cursorclass=DictCursor``, ``autocommit=True``,
    ``charset="utf8mb4"``, ``connect_timeout=10``; pool option ``check_interval=0.5``.
    """

    _module = "MySQLdb"
    _extra = "mysql"

    def _apply_defaults(self, kwargs: dict[str, Any]) -> None:
        super()._apply_defaults(kwargs)
        cursorclass = kwargs.setdefault("cursorclass", "MySQLdb.cursors.DictCursor")
        if isinstance(cursorclass, str):
            kwargs["cursorclass"] = _import_dotted(cursorclass)
        kwargs.setdefault("connect_timeout", 10)

    def do_session_create(self, *args: Any, **kwargs: Any) -> MySQLdbConnection:
        conn: MySQLdbConnection = self._driver.connect(*args, **kwargs)
        return conn

    def _is_closed(self, conn: Any) -> bool:
        return not conn.open

    def _fileno(self, conn: Any) -> int | None:
        return int(conn.fileno())

    def _pending_error(self, conn: Any) -> int:
        return int(conn.errno())

    def _has_unread_result(self, conn: Any) -> bool:
        return bool(conn.more_results())

    def _status_call(self, conn: Any) -> _StatusCall | None:
        return _mysqldb_status_call(conn)

    def _transaction_state(self, conn: Any) -> tuple[bool | None, bool | None]:
        # Both from the status flags of the last OK packet: no round trip.
        try:
            call = conn._pooling_probe.status  # (made by the liveness check just before)
        except AttributeError:
            call = self._probe(conn).status
        status = None if call is None else call()
        if status is None:
            return None, bool(conn.get_autocommit())
        return bool(status & _SERVER_STATUS_IN_TRANS), bool(status & _SERVER_STATUS_AUTOCOMMIT)

    def _set_autocommit(self, conn: Any, value: bool) -> None:
        conn.autocommit(value)

    def _ping(self, conn: Any) -> None:
        conn.ping()  # mysqlclient >= 2.1 never reconnects here


# -- PyMySQL ----------------------------------------------------------------------------------------


class PyMySQLConnectionPool(_MysqlPool[PyMySQLConnection]):
    """A pool of PyMySQL connections: ``pip install 'pooling[pymysql]'``.

    Same options and defaults as `MysqlConnectionPool` (``cursorclass`` defaults to
    ``pymysql.cursors.DictCursor``; PyMySQL's own ``connect_timeout`` default is 10 s).
    PyMySQL takes keyword arguments only.
    """

    _module = "pymysql"
    _extra = "pymysql"

    def _apply_defaults(self, kwargs: dict[str, Any]) -> None:
        super()._apply_defaults(kwargs)
        cursorclass = kwargs.setdefault("cursorclass", "pymysql.cursors.DictCursor")
        if isinstance(cursorclass, str):
            kwargs["cursorclass"] = _import_dotted(cursorclass)

    def do_session_create(self, *args: Any, **kwargs: Any) -> PyMySQLConnection:
        conn: PyMySQLConnection = self._driver.connect(*args, **kwargs)
        return conn

    def _is_closed(self, conn: Any) -> bool:
        return not conn.open

    def _fileno(self, conn: Any) -> int | None:
        sock: Any = getattr(conn, "_sock", None)
        return None if sock is None else int(sock.fileno())

    def _has_unread_result(self, conn: Any) -> bool:
        result: Any = getattr(conn, "_result", None)
        return bool(result is not None and (result.unbuffered_active or result.has_next))

    def _transaction_state(self, conn: Any) -> tuple[bool | None, bool | None]:
        status = int(conn.server_status)
        return bool(status & _SERVER_STATUS_IN_TRANS), bool(status & _SERVER_STATUS_AUTOCOMMIT)

    def _set_autocommit(self, conn: Any, value: bool) -> None:
        conn.autocommit(value)

    def _ping(self, conn: Any) -> None:
        conn.ping(reconnect=False)


# -- mysql-connector-python -----------------------------------------------------------------------


class MysqlConnectorPool(_MysqlPool[MySQLConnectionAbstract]):
    """A pool of mysql-connector-python connections: ``pip install 'pooling[mysql-connector]'``.

    Defaults: ``autocommit=True``, ``charset="utf8mb4"``; pool option ``check_interval=0.5``.
    mysql-connector has no connection-wide cursor class: the helpers return dict rows
    (``cursor(dictionary=True)``), ``conn.cursor()`` returns tuples unless asked otherwise.
    """

    _module = "mysql.connector"
    _extra = "mysql-connector"

    def do_session_create(self, *args: Any, **kwargs: Any) -> MySQLConnectionAbstract:
        conn: MySQLConnectionAbstract = self._driver.connect(*args, **kwargs)
        return conn

    def _is_closed(self, conn: Any) -> bool:
        cext: Any = getattr(conn, "_cmysql", None)
        if cext is not None:
            return not cext.connected()
        return getattr(conn, "_socket", None) is None

    def _fileno(self, conn: Any) -> int | None:
        wrapper: Any = getattr(conn, "_socket", None)  # pure Python: network.MySQLSocket
        sock = getattr(wrapper, "sock", None)
        return None if sock is None else int(sock.fileno())

    def _has_unread_result(self, conn: Any) -> bool:
        return bool(conn.unread_result)

    def _transaction_state(self, conn: Any) -> tuple[bool | None, bool | None]:
        in_trans = bool(conn.in_transaction)
        raw: Any = conn
        if getattr(raw, "_cmysql", None) is not None:
            autocommit: bool | None = bool(raw._server_status & _SERVER_STATUS_AUTOCOMMIT)
        else:  # pure Python: the `autocommit` property would be a round trip
            tracked = getattr(raw, "_autocommit", None)
            autocommit = None if tracked is None else bool(tracked)
        return in_trans, autocommit

    def _set_autocommit(self, conn: Any, value: bool) -> None:
        conn.autocommit = value

    def _ping(self, conn: Any) -> None:
        conn.ping(reconnect=False)

    def _cursor(self, conn: Any) -> Any:
        return conn.cursor(dictionary=True)
