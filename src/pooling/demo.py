"""The demo: ``python -m pooling.demo``.

Pools sqlite3 connections (standard library only) and uses them from several threads at once, then
prints what the pool did. Options: ``--threads``, ``--pool-size``, ``--queries``.
"""

from __future__ import annotations

import argparse
import os
import sqlite3
import tempfile
import threading
import time
from dataclasses import dataclass

from . import Pool, PoolStats, __version__


@dataclass(frozen=True)
class DemoResult:
    threads: int
    pool_size: int
    operations: int
    rows: int
    seconds: float
    stats: PoolStats  # just before close()
    after_close: PoolStats


def run(threads: int = 8, pool_size: int = 4, queries: int = 500) -> DemoResult:
    """Run the demo and return its figures (the test suite calls this too)."""
    with tempfile.TemporaryDirectory(prefix="pooling-demo-") as tmp:
        path = os.path.join(tmp, "demo.db")
        with sqlite3.connect(path) as setup:
            setup.execute("CREATE TABLE hits (thread INTEGER, n INTEGER)")

        def connect() -> sqlite3.Connection:
            # check_same_thread=False: a pooled connection is used by one thread at a time,
            # but not always the same one.
            return sqlite3.connect(path, check_same_thread=False, timeout=30, isolation_level=None)

        pool = Pool(pool_size, create_factory=connect, destroy_factory=sqlite3.Connection.close, name="demo")
        start = threading.Barrier(threads)
        errors: list[BaseException] = []

        def work(thread: int) -> None:
            try:
                start.wait()
                for n in range(queries):
                    with pool.get_session() as conn:  # conn is a sqlite3.Connection
                        if n % 10 == 0:
                            conn.execute("INSERT INTO hits VALUES (?, ?)", (thread, n))
                        else:
                            conn.execute("SELECT count(*) FROM hits").fetchone()
            except BaseException as exc:  # reported below
                errors.append(exc)

        began = time.perf_counter()
        workers = [threading.Thread(target=work, args=(i,)) for i in range(threads)]
        for worker in workers:
            worker.start()
        for worker in workers:
            worker.join()
        elapsed = time.perf_counter() - began
        with pool.get_session() as conn:
            rows = conn.execute("SELECT count(*) FROM hits").fetchone()[0]
        stats = pool.stats()
        pool.close()
        if errors:
            raise errors[0]
        return DemoResult(threads, pool_size, threads * queries, rows, elapsed, stats, pool.stats())


def main(argv: list[str] | None = None) -> None:
    parser = argparse.ArgumentParser(prog="python -m pooling.demo", description=__doc__.splitlines()[2])
    parser.add_argument("--threads", type=int, default=8)
    parser.add_argument("--pool-size", type=int, default=4)
    parser.add_argument("--queries", type=int, default=500, help="queries per thread")
    args = parser.parse_args(argv)
    result = run(args.threads, args.pool_size, args.queries)
    stats = result.stats
    after = result.after_close
    print(
        f"pooling {__version__} demo: {result.threads} threads sharing "
        f"a pool of {result.pool_size} sqlite3 connections"
    )
    print(f"  {result.operations} queries in {result.seconds:.3f}s, {result.rows} rows inserted")
    print(f"  sessions created: {stats.created}  (never more than pool_size={stats.pool_size} alive)")
    print(f"  leases handed out: {stats.leases}")
    print(f"  callers that had to wait: {stats.wait_count}, longest wait {stats.wait_time_max * 1000:.2f} ms")
    print(f"  mean time a connection was held: {stats.hold_time_mean * 1e6:.1f} us")
    print(f"  timeouts: {stats.timeouts}, factory errors: {stats.create_errors}")
    print(f"  after close(): {after.size} alive, {after.destroyed} destroyed")


if __name__ == "__main__":
    main()
