"""Recipe: a pool of keep-alive HTTP connections (``http.client``, standard library only).

Each pooled session is one ``http.client.HTTPConnection``: one TCP connection to one host, reused
across requests (HTTP/1.1 keep-alive), used by one thread at a time. Rules of the road:

* read each response to the end before the lease is released, or the next caller would read
  the rest of it;
* a connection the server closed, or one left in a bad state by an error, is thrown away with
  ``lease.invalidate()`` instead of being returned.

``main()`` starts a tiny ``http.server`` on 127.0.0.1 (port chosen by the OS), sends requests from
several threads through a pool of 3 connections and reports how many TCP connections the server
saw: 3 at most, however many requests were made.

Run it: ``python examples/recipe_http.py``
"""

from __future__ import annotations

import http.client
import http.server
import json
import threading
from typing import Any

from pooling import Pool


def make_pool(host: str, port: int, size: int = 3) -> Pool[http.client.HTTPConnection]:
    """A pool of keep-alive connections to ``host:port``."""

    def create() -> http.client.HTTPConnection:
        conn = http.client.HTTPConnection(host, port, timeout=10)
        conn.connect()  # connect now: a refused connection reaches the get_session() caller
        return conn

    def destroy(conn: http.client.HTTPConnection) -> None:
        conn.close()

    return Pool(size, create, destroy, max_idle_time=30.0, name=f"http://{host}:{port}")


def get_json(pool: Pool[http.client.HTTPConnection], path: str) -> Any:
    """GET *path* through a pooled connection; retries once on a connection the server dropped."""
    for attempt in range(2):
        lease = pool.get_session(timeout=10)
        try:
            conn = lease.session
            conn.request("GET", path, headers={"Accept": "application/json"})
            response = conn.getresponse()
            body = response.read()  # read to the end: the connection is reusable only then
        except (http.client.RemoteDisconnected, ConnectionError):
            lease.invalidate()  # the server closed this idle connection: don't return it
            if attempt:
                raise
            continue
        except BaseException:
            lease.invalidate()  # state unknown (half-sent request, unread response)
            raise
        else:
            if response.will_close:  # the server said "Connection: close"
                lease.invalidate()
            else:
                lease.close()  # back to the pool, ready for the next request
        return json.loads(body)
    raise AssertionError("unreachable")


class _Handler(http.server.BaseHTTPRequestHandler):
    protocol_version = "HTTP/1.1"  # keep-alive

    def do_GET(self) -> None:
        server: _Server = self.server  # type: ignore[assignment]
        with server.lock:
            server.requests += 1
        body = json.dumps({"path": self.path, "peer_port": self.client_address[1]}).encode()
        self.send_response(200)
        self.send_header("Content-Type", "application/json")
        self.send_header("Content-Length", str(len(body)))
        self.end_headers()
        self.wfile.write(body)

    def log_message(self, format: str, *args: Any) -> None:  # quiet
        pass


class _Server(http.server.ThreadingHTTPServer):
    daemon_threads = True

    def __init__(self) -> None:
        super().__init__(("127.0.0.1", 0), _Handler)
        self.lock = threading.Lock()
        self.requests = 0


def main(threads: int = 6, requests_per_thread: int = 20) -> dict[str, int]:
    """Serve on 127.0.0.1:0, send requests through the pool; count requests and TCP connections."""
    server = _Server()
    serving = threading.Thread(target=server.serve_forever, daemon=True)
    serving.start()
    host, port = server.server_address[:2]
    peers: set[int] = set()
    peers_lock = threading.Lock()
    try:
        with make_pool(str(host), int(port)) as pool:

            def work() -> None:
                for i in range(requests_per_thread):
                    data = get_json(pool, f"/item/{i}")
                    with peers_lock:
                        peers.add(data["peer_port"])

            workers = [threading.Thread(target=work) for _ in range(threads)]
            for w in workers:
                w.start()
            for w in workers:
                w.join()
            stats = pool.stats()
    finally:
        server.shutdown()
        server.server_close()
    return {
        "requests": server.requests,
        "tcp_connections": len(peers),
        "created": stats.created,
        "pool_size": stats.pool_size,
    }


if __name__ == "__main__":
    print(main())
