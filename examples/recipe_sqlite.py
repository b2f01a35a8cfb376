"""Recipe: a pool of sqlite3 connections shared by threads (standard library only).

sqlite3 connections refuse to be used from a thread other than the one that opened them unless
they are opened with ``check_same_thread=False``; the pool guarantees that only one thread holds a
given connection at a time, so that flag is safe here.

Run it: ``python examples/recipe_sqlite.py``
"""

from __future__ import annotations

import os
import sqlite3
import tempfile
import threading

from pooling import Pool


def make_pool(path: str, size: int = 4) -> Pool[sqlite3.Connection]:
    """A pool of connections to the database file at *path*."""

    def create() -> sqlite3.Connection:
        # isolation_level=None: autocommit; use explicit BEGIN/COMMIT for transactions.
        conn = sqlite3.connect(path, timeout=10.0, check_same_thread=False, isolation_level=None)
        conn.execute("PRAGMA journal_mode=WAL")  # readers don't block the writer
        return conn

    def check(conn: sqlite3.Connection) -> None:
        conn.execute("SELECT 1").fetchone()  # raises sqlite3.ProgrammingError once closed

    def reset(conn: sqlite3.Connection) -> None:
        if conn.in_transaction:  # a caller left a transaction open: don't hand it on
            conn.rollback()

    return Pool(
        size,
        create,
        sqlite3.Connection.close,
        check=check,
        reset=reset,
        name="sqlite",
    )


def main(threads: int = 8, rows_per_thread: int = 25) -> dict[str, int]:
    """Insert rows from several threads through a pool of 4 connections; return the counts."""
    with tempfile.TemporaryDirectory() as tmp:
        path = os.path.join(tmp, "recipe.db")
        with make_pool(path) as pool:
            with pool.get_session() as conn:  # conn is a sqlite3.Connection for mypy
                conn.execute("CREATE TABLE hits (thread INTEGER, n INTEGER)")

            def work(t: int) -> None:
                for n in range(rows_per_thread):
                    with pool.get_session(timeout=10) as conn:
                        conn.execute("INSERT INTO hits VALUES (?, ?)", (t, n))

            workers = [threading.Thread(target=work, args=(t,)) for t in range(threads)]
            for w in workers:
                w.start()
            for w in workers:
                w.join()

            with pool.get_session() as conn:
                (rows,) = conn.execute("SELECT COUNT(*) FROM hits").fetchone()
            stats = pool.stats()
        return {"rows": rows, "created": stats.created, "pool_size": stats.pool_size}


if __name__ == "__main__":
    print(main())
