"""Recipe: a pool of psycopg 3 connections to PostgreSQL.

* ``check`` runs only for a connection that sat idle longer than ``check_interval``: a connection
  returned a moment ago is handed out again without a round trip.
* Connections are in autocommit mode; ``with conn.transaction():`` groups statements. ``reset``
  rolls back a transaction a caller left open (a bare ``BEGIN``) and costs nothing when none is, so
  the next caller never inherits half a transaction or an aborted one.
* A broken connection (server restart, network cut) makes ``check`` or ``reset`` raise: the pool
  destroys it and creates a fresh one.

Needs ``pip install "psycopg[binary]"`` and a server. The DSN comes from ``POOLING_PG_DSN``
(default ``host=127.0.0.1 port=5432 dbname=test user=postgres``); put the password in the DSN or
in ``PGPASSWORD``, never in your logs: the pool never logs or reprs a session's arguments.

Run it: ``python examples/recipe_psycopg.py``
"""

from __future__ import annotations

import os
import threading
from typing import Any

import psycopg
from psycopg import pq

from pooling import Pool

DEFAULT_DSN = "host=127.0.0.1 port=5432 dbname=test user=postgres connect_timeout=5"

#: The type of a pooled session: a connection whose rows are tuples.
Connection = psycopg.Connection[tuple[Any, ...]]


def make_pool(dsn: str | None = None, size: int = 5) -> Pool[Connection]:
    """A pool of psycopg connections; ``Pool[Connection]`` is inferred from ``create``."""
    conninfo = dsn or os.environ.get("POOLING_PG_DSN", DEFAULT_DSN)

    def create() -> Connection:
        # autocommit: a statement outside `with conn.transaction():` leaves no transaction open
        return psycopg.connect(conninfo, autocommit=True)

    def check(conn: Connection) -> None:
        conn.execute("SELECT 1")  # one round trip; raises if the server went away

    def reset(conn: Connection) -> None:
        if conn.broken or conn.closed:
            raise psycopg.OperationalError("connection is broken")
        if conn.info.transaction_status != pq.TransactionStatus.IDLE:
            conn.rollback()  # only when a transaction is open: no round trip otherwise

    def destroy(conn: Connection) -> None:
        conn.close()

    return Pool(
        size,
        create,
        destroy,
        check=check,
        reset=reset,
        check_interval=0.5,  # skip the ping for a connection used less than 0.5 s ago
        max_lifetime=30 * 60,  # recycle every ~30 min (with jitter), before the server's timeouts
        name="postgres",
    )


def main(dsn: str | None = None, threads: int = 8, rows_per_thread: int = 10) -> dict[str, Any]:
    """Write rows from several threads into a temporary table; return what was read back."""
    table = f"pooling_recipe_{os.getpid()}"
    with make_pool(dsn) as pool:
        with pool.get_session() as conn, conn.transaction():
            conn.execute(f"DROP TABLE IF EXISTS {table}")
            conn.execute(f"CREATE TABLE {table} (thread int, n int)")
        try:

            def work(t: int) -> None:
                for n in range(rows_per_thread):
                    # transaction(): commits on success, rolls back on error
                    with pool.get_session(timeout=30) as conn, conn.transaction():
                        conn.execute(f"INSERT INTO {table} VALUES (%s, %s)", (t, n))

            workers = [threading.Thread(target=work, args=(t,)) for t in range(threads)]
            for w in workers:
                w.start()
            for w in workers:
                w.join()

            with pool.get_session() as conn:
                row = conn.execute(f"SELECT count(*), count(DISTINCT thread) FROM {table}").fetchone()
                server = conn.info.server_version
            assert row is not None
            stats = pool.stats()
        finally:
            with pool.get_session() as conn, conn.transaction():
                conn.execute(f"DROP TABLE IF EXISTS {table}")
    return {
        "rows": row[0],
        "threads": row[1],
        "server_version": server,
        "created": stats.created,
        "pool_size": stats.pool_size,
    }


if __name__ == "__main__":
    print(main())
