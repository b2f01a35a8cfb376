"""Recipe: a pool of redis-py clients, one connection each.

A ``redis.Redis`` client already keeps a pool of its own, which by default opens one more
connection whenever every connection is busy, with no cap. For plain commands that is all you
need. Pooling *clients* built with ``max_connections=1`` gives you, per process:

* a hard cap on sockets to the server (``pool_size``), with callers waiting in line, first come
  first served, up to a timeout, instead of opening one more connection per busy thread;
* a connection that is yours for the whole lease: a ``WATCH``/``MULTI`` transaction, a
  ``SELECT``-ed database or a blocking pop can't be interleaved with another thread's commands;
* a ``PING`` before handing out a connection that sat idle, so a server restart costs no request.

Needs ``pip install redis`` and a server; the URL comes from ``POOLING_REDIS_URL`` (default
``redis://127.0.0.1:6379/0``).

Run it: ``python examples/recipe_redis.py``
"""

from __future__ import annotations

import os
import threading
import uuid
from typing import Any

import redis

from pooling import Pool

DEFAULT_URL = "redis://127.0.0.1:6379/0"


def make_pool(url: str | None = None, size: int = 4, client_name: str | None = None) -> Pool[redis.Redis]:
    """A pool of single-connection clients; ``Pool[redis.Redis]`` is inferred from ``create``."""
    url = url or os.environ.get("POOLING_REDIS_URL", DEFAULT_URL)

    def create() -> redis.Redis:
        client = redis.Redis.from_url(
            url,
            max_connections=1,  # the client's own pool holds one connection: one socket per session
            socket_timeout=5,
            socket_connect_timeout=5,
            client_name=client_name,  # CLIENT SETNAME on connect: visible in CLIENT LIST
        )
        client.ping()  # connect now: a creation error reaches the get_session() caller
        return client

    def check(client: redis.Redis) -> None:
        client.ping()  # raises redis.ConnectionError when the server went away

    def destroy(client: redis.Redis) -> None:
        client.close()  # closes the client's connection

    return Pool(size, create, destroy, check=check, check_interval=0.5, name="redis")


def transfer(pool: Pool[redis.Redis], src: str, dst: str, amount: int) -> None:
    """Move *amount* from key *src* to key *dst* in an optimistic WATCH/MULTI transaction."""
    # The pipeline uses the client's one connection; leaving the with-block un-WATCHes it.
    with pool.get_session(timeout=10) as client, client.pipeline() as pipe:
        while True:
            try:
                pipe.watch(src, dst)  # type: ignore[no-untyped-call]  # unannotated in redis-py
                balance = int(pipe.get(src) or 0)
                pipe.multi()
                pipe.set(src, balance - amount)
                pipe.incrby(dst, amount)
                pipe.execute()
                return
            except redis.WatchError:
                continue  # another thread changed src or dst meanwhile: retry


def _connections_named(client: redis.Redis, name: str) -> int:
    return sum(1 for c in client.client_list() if c.get("name") == name)


def main(url: str | None = None, threads: int = 8, moves: int = 25) -> dict[str, Any]:
    """Run concurrent WATCH/MULTI transfers; return the balances and the server's connection count."""
    tag = uuid.uuid4().hex[:12]
    name = f"pooling-recipe-{tag}"
    a, b = f"pooling:recipe:{tag}:a", f"pooling:recipe:{tag}:b"
    with make_pool(url, client_name=name) as pool:
        with pool.get_session() as client:
            client.set(a, 1000)
            client.set(b, 0)
        try:

            def work() -> None:
                for _ in range(moves):
                    transfer(pool, a, b, 1)

            workers = [threading.Thread(target=work) for _ in range(threads)]
            for w in workers:
                w.start()
            for w in workers:
                w.join()
            with pool.get_session() as client:
                balance_a, balance_b = (int(v or 0) for v in client.mget(a, b))
                server_connections = _connections_named(client, name)
            stats = pool.stats()
        finally:
            with pool.get_session() as client:
                client.delete(a, b)
    return {
        "a": balance_a,
        "b": balance_b,
        "server_connections": server_connections,
        "created": stats.created,
        "pool_size": stats.pool_size,
    }


if __name__ == "__main__":
    print(main())
