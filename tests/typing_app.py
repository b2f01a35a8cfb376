"""A small typed application using pooling, checked by ``mypy --strict`` (tests/test_core_typing.py).

It also runs: ``python tests/typing_app.py`` (``reveal_type`` prints the runtime type then).
The ``reveal_type`` lines are what the test reads: mypy must infer ``Pool[Conn]`` and ``Conn``.
"""

from __future__ import annotations

import sys

from pooling import Lease, Pool, PoolStats, PoolTimeout

if sys.version_info >= (3, 11):
    from typing import reveal_type
else:
    from typing_extensions import reveal_type


class Conn:
    """A stand-in for a driver connection."""

    def __init__(self, dsn: str) -> None:
        self.dsn = dsn
        self.open = True

    def query(self, sql: str) -> list[tuple[int, str]]:
        return [(1, sql)]

    def close(self) -> None:
        self.open = False


def make_conn() -> Conn:
    return Conn("app://db")


def close_conn(conn: Conn) -> None:
    conn.close()


def run() -> int:
    pool = Pool(10, create_factory=make_conn, destroy_factory=close_conn, timeout=1.0)
    reveal_type(pool)
    with pool.get_session() as conn:
        reveal_type(conn)
        rows: list[tuple[int, str]] = conn.query("select 1")
    reveal_type(pool.get_session().session)
    lease: Lease[Conn] = pool.get_session()
    try:
        total = len(lease.session.query("select 2"))
    except PoolTimeout:
        total = 0
    finally:
        lease.close()
    stats: PoolStats = pool.stats()
    pool.close()
    return len(rows) + total + stats.created


if __name__ == "__main__":
    print(run())
