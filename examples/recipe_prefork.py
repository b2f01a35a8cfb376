"""Recipe: one pool, made before ``fork()``, used by the parent and by every child process.

Pre-fork servers (gunicorn's sync workers, ``multiprocessing`` with the *fork* start method,
Celery's prefork pool) create the application, and often its pools, before forking. A forked child
inherits copies of the parent's sessions: the *same* sockets. Two processes talking over one
database socket interleave their bytes and corrupt both conversations.

*pooling* notices the new process the first time the child uses the pool: the child gets a fresh
lock and an empty pool, **forgets** the inherited sessions without calling the destroyer (closing
them could send a goodbye on the parent's socket) and creates its own. The parent's sessions stay
the parent's, untouched.

Each session here is a sqlite3 connection that remembers which process opened it; every child
records ``(its pid, the pid that opened the connection it was given)`` in the database.

Run it: ``python examples/recipe_prefork.py`` (POSIX only: the fork start method)
"""

from __future__ import annotations

import multiprocessing
import os
import sqlite3
import tempfile
from typing import Any

from pooling import Pool


class PidConnection(sqlite3.Connection):
    """A sqlite3 connection that records the pid of the process that opened it."""

    def __init__(self, *args: Any, **kwargs: Any) -> None:
        super().__init__(*args, **kwargs)
        self.pid = os.getpid()


def make_pool(path: str, size: int = 2) -> Pool[PidConnection]:
    def create() -> PidConnection:
        conn = sqlite3.connect(
            path, timeout=30.0, factory=PidConnection, isolation_level=None, check_same_thread=False
        )
        conn.execute("PRAGMA journal_mode=WAL")
        return conn

    def destroy(conn: PidConnection) -> None:
        conn.close()

    return Pool(size, create, destroy, name="prefork")


def child(pool: Pool[PidConnection], rounds: int) -> None:
    """Runs in a forked child: the inherited *pool* hands out connections made in this process."""
    for _ in range(rounds):
        with pool.get_session(timeout=30) as conn:
            conn.execute("INSERT INTO hits (pid, conn_pid) VALUES (?, ?)", (os.getpid(), conn.pid))
    pool.close()  # destroys this child's own connections only


def main(children: int = 3, rounds: int = 5) -> dict[str, Any]:
    """Fork *children* processes that share the parent's pool object; return what each recorded."""
    ctx = multiprocessing.get_context("fork")
    with tempfile.TemporaryDirectory() as tmp, make_pool(os.path.join(tmp, "prefork.db")) as pool:
        with pool.get_session() as conn:  # the parent's connection, idle in the pool at fork
            conn.execute("CREATE TABLE hits (pid INTEGER, conn_pid INTEGER)")
            parent_conn_id = id(conn)

        procs = [ctx.Process(target=child, args=(pool, rounds)) for _ in range(children)]
        for p in procs:
            p.start()
        for p in procs:
            p.join(60)
        exit_codes = [p.exitcode for p in procs]

        with pool.get_session() as conn:  # the parent still has its own, untouched
            parent_reused = id(conn) == parent_conn_id and conn.pid == os.getpid()
            rows = conn.execute("SELECT pid, conn_pid FROM hits").fetchall()
            conn.execute("SELECT 1")  # and it still works
        created_in_parent = pool.stats().created

    return {
        "parent_pid": os.getpid(),
        "exit_codes": exit_codes,
        "rows": len(rows),
        "child_pids": sorted({pid for pid, _ in rows}),
        # True when every child used only connections it opened itself:
        "children_used_own_connections": all(pid == conn_pid for pid, conn_pid in rows),
        "parent_reused_its_connection": parent_reused,
        "created_in_parent": created_in_parent,
    }


if __name__ == "__main__":
    print(main())
