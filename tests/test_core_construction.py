"""Construction: argument validation, the two 0.1.x seed examples' shapes, PoolBase."""

from __future__ import annotations

import math
import sqlite3
from typing import Any

import pytest
from conftest import Factory, PingSession, Session

import pooling
from pooling import (
    DestroyReason,
    Lease,
    LeaseReleased,
    Pool,
    PoolBase,
    PoolClosed,
    PoolError,
    PoolExhausted,
    PoolStats,
    PoolTimeout,
)


def make() -> object:
    return object()


# ---------------------------------------------------------------------------------- validation


@pytest.mark.parametrize(
    ("pool_size", "error", "shown"),
    [
        (0, ValueError, "0"),
        (-3, ValueError, "-3"),
        (2.5, TypeError, "2.5"),
        ("10", TypeError, "'10'"),
        (None, TypeError, "None"),
        (True, TypeError, "True"),
        (False, TypeError, "False"),
        (math.nan, TypeError, "nan"),
    ],
)
def test_bad_pool_size_is_rejected_naming_argument_and_value(pool_size: Any, error: type, shown: str) -> None:
    with pytest.raises(error) as excinfo:
        Pool(pool_size, make)
    message = str(excinfo.value)
    assert "pool_size" in message
    assert shown in message


@pytest.mark.parametrize(
    ("option", "value", "error", "shown"),
    [
        ("timeout", -1, ValueError, "-1"),
        ("timeout", -0.5, ValueError, "-0.5"),
        ("timeout", math.nan, ValueError, "nan"),
        ("timeout", "5", TypeError, "'5'"),
        ("timeout", True, TypeError, "True"),
        ("max_lifetime", math.nan, ValueError, "nan"),
        ("max_lifetime", -1.0, ValueError, "-1.0"),
        ("max_lifetime", 0, ValueError, "0"),
        ("max_idle_time", math.nan, ValueError, "nan"),
        ("max_idle_time", -2, ValueError, "-2"),
        ("max_usage", 0, ValueError, "0"),
        ("max_usage", 1.5, TypeError, "1.5"),
        ("max_usage", True, TypeError, "True"),
        ("min_idle", -1, ValueError, "-1"),
        ("min_idle", 1.0, TypeError, "1.0"),
        ("check_interval", math.nan, ValueError, "nan"),
        ("check_interval", -1, ValueError, "-1"),
        ("max_waiting", -1, ValueError, "-1"),
        ("leak_timeout", math.nan, ValueError, "nan"),
        ("backoff_initial", -0.1, ValueError, "-0.1"),
        ("lifetime_jitter", 1.0, ValueError, "1.0"),
        ("name", 42, TypeError, "42"),
    ],
)
def test_bad_option_is_rejected_naming_argument_and_value(
    option: str, value: Any, error: type, shown: str
) -> None:
    with pytest.raises(error) as excinfo:
        Pool(4, make, **{option: value})
    message = str(excinfo.value)
    assert option in message
    assert shown in message


def test_min_idle_above_pool_size_is_rejected() -> None:
    with pytest.raises(ValueError) as excinfo:
        Pool(3, make, min_idle=4)
    message = str(excinfo.value)
    assert "min_idle" in message
    assert "4" in message
    assert "pool_size" in message
    Pool(3, make, min_idle=3).close()  # the boundary is allowed


def test_both_destroyer_spellings_is_a_type_error() -> None:
    with pytest.raises(TypeError) as excinfo:
        Pool(2, make, destory_factory=print, destroy_factory=print)
    message = str(excinfo.value)
    assert "destroy_factory" in message
    assert "destory_factory" in message


def test_both_destroyer_spellings_positional_and_keyword_is_a_type_error() -> None:
    with pytest.raises(TypeError):
        Pool(2, make, print, destroy_factory=print)


@pytest.mark.parametrize("bad", [42, "close", None])
def test_non_callable_create_factory(bad: Any) -> None:
    with pytest.raises(TypeError) as excinfo:
        Pool(2, bad)
    message = str(excinfo.value)
    assert "create_factory" in message
    assert repr(bad) in message


def test_non_callable_destroy_factory() -> None:
    with pytest.raises(TypeError) as excinfo:
        Pool(2, make, destroy_factory=42)  # type: ignore[arg-type]
    assert "destroy_factory" in str(excinfo.value)
    assert "42" in str(excinfo.value)


def test_non_callable_destory_factory_names_the_argument_given() -> None:
    # The caller spelled it destory_factory (0.1.x): the error must name *that* argument.
    with pytest.raises(TypeError) as excinfo:
        Pool(2, make, destory_factory=42)  # type: ignore[arg-type]
    message = str(excinfo.value)
    assert "destory_factory" in message
    assert "42" in message


@pytest.mark.parametrize("hook", ["check", "reset", "on_create", "on_checkout", "on_checkin", "on_destroy"])
def test_non_callable_hooks(hook: str) -> None:
    with pytest.raises(TypeError) as excinfo:
        Pool(2, make, **{hook: "nope"})
    assert hook in str(excinfo.value)
    assert "'nope'" in str(excinfo.value)


@pytest.mark.parametrize(
    ("timeout", "error"), [(-1, ValueError), (math.nan, ValueError), ("1", TypeError), (True, TypeError)]
)
def test_bad_get_session_timeout(timeout: Any, error: type) -> None:
    pool = Pool(1, make)
    with pytest.raises(error) as excinfo:
        pool.get_session(timeout=timeout)
    assert "timeout" in str(excinfo.value)
    assert pool.stats().size == 0  # nothing was taken
    pool.close()


def test_valid_options_are_kept() -> None:
    pool = Pool(pool_size=7, create_factory=make, timeout=2.5, name="db")
    assert pool.pool_size == 7
    assert pool.timeout == 2.5
    assert pool.name == "db"
    assert not pool.closed
    assert Pool(1, make, timeout=0).timeout == 0


def test_default_names_are_distinct() -> None:
    assert Pool(1, make).name != Pool(1, make).name


def test_public_api() -> None:
    assert set(pooling.__all__) >= {
        "Pool",
        "PoolBase",
        "Lease",
        "PoolStats",
        "PoolError",
        "PoolTimeout",
        "PoolClosed",
        "LeaseReleased",
        "PoolExhausted",
        "DestroyReason",
        "__version__",
    }
    for error in (PoolTimeout, PoolClosed, LeaseReleased, PoolExhausted):
        assert issubclass(error, PoolError)
    assert PoolStats.__dataclass_params__.frozen  # type: ignore[attr-defined]
    assert DestroyReason("invalidated") is DestroyReason.INVALIDATED


# ------------------------------------------------------------------------ seed example shapes


class FakeDbConnection:
    """Stands for a MySQLdb connection in the 0.1.x seed examples."""

    def __init__(self, *args: Any, **kwargs: Any) -> None:
        self.args = args
        self.kwargs = kwargs
        self.closed = False

    def cursor(self) -> sqlite3.Cursor:
        return sqlite3.connect(":memory:").cursor()

    def close(self) -> None:
        self.closed = True


def test_seed_example_1_poolbase_subclass_shape() -> None:
    made: list[FakeDbConnection] = []
    destroyed: list[FakeDbConnection] = []

    class MysqlConnectionPool(PoolBase[FakeDbConnection]):
        def do_session_create(self, *create_args: Any, **create_kwargs: Any) -> FakeDbConnection:
            create_kwargs.setdefault("autocommit", True)
            conn = FakeDbConnection(*create_args, **create_kwargs)
            made.append(conn)
            return conn

        def do_session_destory(self, real_session: FakeDbConnection) -> None:
            destroyed.append(real_session)
            real_session.close()

    conn_info = {"host": "127.0.0.1", "user": "test", "password": "hunter2"}
    pool = MysqlConnectionPool(pool_size=10, kwargs=conn_info)
    assert pool.pool_size == 10
    assert pool.create_kwargs == conn_info
    connection = pool.get_session()
    cursor = connection.cursor()  # forwarded to the real connection
    count = cursor.execute("select 1 union all select 2").fetchall()
    assert count == [(1,), (2,)]
    assert made[0].kwargs == {**conn_info, "autocommit": True}
    assert conn_info == {"host": "127.0.0.1", "user": "test", "password": "hunter2"}  # not mutated
    assert "hunter2" not in repr(pool)
    assert "hunter2" not in repr(connection)
    connection.close()
    pool.destory_all_sessions()  # the 0.1.x spelling
    assert destroyed == made
    assert made[0].closed
    pool.close()


def test_seed_example_1_with_real_sqlite3() -> None:
    class SqlitePool(PoolBase[sqlite3.Connection]):
        def do_session_create(self, *create_args: Any, **create_kwargs: Any) -> sqlite3.Connection:
            return sqlite3.connect(*create_args, **create_kwargs)

        def do_session_destory(self, real_session: sqlite3.Connection) -> None:
            real_session.close()

    pool = SqlitePool(pool_size=10, args=[":memory:"], kwargs={"check_same_thread": False})
    connection = pool.get_session()
    cursor = connection.cursor()
    cursor.execute("create table t (x)")
    cursor.executemany("insert into t values (?)", [(1,), (2,), (3,)])
    assert cursor.execute("select count(*) from t").fetchone() == (3,)
    real = connection.session
    del cursor, connection  # released by refcount, as the seed example does at exit
    assert pool.stats().idle == 1
    with pool.get_session() as conn:
        assert conn is real  # reused
        assert conn.execute("select count(*) from t").fetchone() == (3,)
    pool.close()
    with pytest.raises(sqlite3.ProgrammingError):
        real.execute("select 1")  # the destroyer closed it


def test_seed_example_2_pool_with_factories_shape() -> None:
    made: list[FakeDbConnection] = []

    def mysql_conn_create() -> FakeDbConnection:
        conn = FakeDbConnection(autocommit=True)
        made.append(conn)
        return conn

    def mysql_conn_close(session: FakeDbConnection) -> None:
        session.close()

    pool = Pool(pool_size=10, create_factory=mysql_conn_create, destory_factory=mysql_conn_close)
    connection = pool.get_session()
    cursor = connection.cursor()
    assert cursor.execute("select 42").fetchone() == (42,)
    assert isinstance(connection, Lease)
    assert connection.session is made[0]
    connection.close()
    pool.close()
    assert made[0].closed  # destory_factory was used as the destroyer


def test_destroy_factory_keyword_spelling(factory: Factory) -> None:
    pool = Pool(2, factory.create, destroy_factory=factory.destroy)
    pool.get_session().close()
    pool.close()
    assert factory.destroyed == factory.created


def test_no_destroyer_is_fine() -> None:
    pool = Pool(2, lambda: Session(1))
    pool.get_session().close()
    pool.close()
    assert pool.stats().size == 0


class RecordingBase(PoolBase[Session]):
    def __init__(self, *args: Any, **kwargs: Any) -> None:
        self.factory = Factory()
        self.calls: list[tuple[Any, ...]] = []
        super().__init__(*args, **kwargs)

    def do_session_create(self, *create_args: Any, **create_kwargs: Any) -> Session:
        self.calls.append((create_args, create_kwargs))
        return self.factory.create()


def test_poolbase_do_session_destroy_spelling() -> None:
    destroyed: list[Session] = []

    class Spelled(RecordingBase):
        def do_session_destroy(self, session: Session) -> None:
            destroyed.append(session)

    pool = Spelled(2, args=("a", 1), kwargs={"k": "v"})
    lease = pool.get_session()
    session = lease.session
    assert pool.calls == [(("a", 1), {"k": "v"})]
    assert pool.create_args == ("a", 1)
    lease.invalidate()
    assert destroyed == [session]
    pool.close()


def test_poolbase_destory_override_is_used() -> None:
    destroyed: list[Session] = []

    class Misspelled(RecordingBase):
        def do_session_destory(self, real_session: Session) -> None:
            destroyed.append(real_session)

    pool = Misspelled(2)
    session = pool.get_session().session  # lease dropped at once: back to idle
    assert pool.stats().idle == 1
    pool.close()
    assert destroyed == [session]


def test_poolbase_without_destroyer_override_does_nothing() -> None:
    pool = RecordingBase(2)
    pool.get_session().invalidate()
    assert pool.stats().destroyed == 1
    pool.close()


def test_poolbase_create_not_overridden() -> None:
    class Nothing(PoolBase[Session]):
        pass

    pool = Nothing(1)
    with pytest.raises(NotImplementedError, match="do_session_create"):
        pool.get_session()
    assert pool.stats().size == 0
    pool.close()


def test_poolbase_check_override_is_used() -> None:
    checked: list[Session] = []

    class Checked(RecordingBase):
        def do_session_check(self, session: Session) -> None:
            checked.append(session)
            if session.number == 1:
                raise ConnectionError("gone away")

    pool = Checked(2)
    first = pool.get_session()
    s1 = first.session
    first.close()
    assert checked == []  # a new session is not checked
    with pool.get_session() as conn:
        assert conn is not s1  # s1 failed its check: replaced
        assert conn.number == 2
    assert checked == [s1]
    assert pool.stats().destroyed == 1
    assert pool.stats().check_failures == 1
    pool.close()


def test_poolbase_reset_override_is_used() -> None:
    reset: list[Session] = []

    class Resetting(RecordingBase):
        def do_session_reset(self, session: Session) -> None:
            reset.append(session)
            session.autocommit = False
            if session.number == 2:
                raise RuntimeError("dirty")

    pool = Resetting(2)
    with pool.get_session() as conn:
        conn.autocommit = True
    assert reset == [conn]
    assert conn.autocommit is False
    assert pool.stats().idle == 1
    a = pool.get_session()
    b = pool.get_session()
    assert b.number == 2
    b.close()  # reset raises: destroyed, not pooled
    a.close()
    stats = pool.stats()
    assert stats.destroyed == 1
    assert stats.idle == 1
    pool.close()


def test_poolbase_options_pass_through() -> None:
    pool = RecordingBase(3, timeout=0, name="based")
    assert pool.timeout == 0
    assert pool.name == "based"
    a, b, c = pool.get_session(), pool.get_session(), pool.get_session()
    with pytest.raises(PoolTimeout):
        pool.get_session()
    for lease in (a, b, c):
        lease.close()
    pool.close()


@pytest.mark.parametrize(("args", "kwargs"), [("abc", None), (42, None), (None, [("a", 1)])])
def test_poolbase_bad_args_kwargs(args: Any, kwargs: Any) -> None:
    with pytest.raises(TypeError) as excinfo:
        RecordingBase(2, args=args, kwargs=kwargs)
    assert ("args" in str(excinfo.value)) or ("kwargs" in str(excinfo.value))


def test_poolbase_ping_test_with_and_without_ping() -> None:
    class Pinging(RecordingBase):
        pass

    # Objects without ping(): ping_test is harmless.
    plain = Pinging(1, ping_test=True)
    s = plain.get_session().session
    with plain.get_session() as conn:
        assert conn is s
    plain.close()

    # Objects with ping(): a dead one is replaced.
    pinging = Pinging(1, ping_test=True)
    pinging.factory.session_cls = PingSession
    lease = pinging.get_session()
    dead = lease.session
    assert isinstance(dead, PingSession)
    lease.close()
    dead.dead = True
    with pinging.get_session() as conn:
        assert conn is not dead
    assert dead.pings == 1
    assert pinging.stats().check_failures == 1
    pinging.close()


def test_poolbase_is_closed_by_with() -> None:
    with RecordingBase(1) as pool:
        pool.get_session().close()
    assert pool.closed
    with pytest.raises(PoolClosed):
        pool.get_session()
