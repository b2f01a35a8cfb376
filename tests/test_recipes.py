"""Runs every ``examples/recipe_*.py`` against the real local services.

A recipe whose driver is not installed or whose server does not answer is skipped with the reason,
unless ``POOLING_REQUIRE_SERVICES=1`` is set (as CI does): then it fails instead.
"""

from __future__ import annotations

import importlib.util
import os
import socket
import sys
from pathlib import Path
from types import ModuleType
from urllib.parse import urlsplit

import pytest

EXAMPLES = Path(__file__).resolve().parent.parent / "examples"
REQUIRE_SERVICES = os.environ.get("POOLING_REQUIRE_SERVICES") == "1"


def _unavailable(reason: str) -> None:
    if REQUIRE_SERVICES:
        pytest.fail(f"{reason} (POOLING_REQUIRE_SERVICES=1)", pytrace=False)
    pytest.skip(reason)


def _need_module(name: str, install: str) -> None:
    if importlib.util.find_spec(name) is None:
        _unavailable(f"the {name!r} package is not installed (pip install {install})")


def _need_server(what: str, host: str, port: int) -> None:
    try:
        with socket.create_connection((host, port), timeout=2):
            pass
    except OSError as exc:
        _unavailable(f"no {what} server at {host}:{port} ({exc})")


def _load(name: str) -> ModuleType:
    """Import ``examples/<name>.py`` as a fresh module (examples/ is not a package)."""
    path = EXAMPLES / f"{name}.py"
    spec = importlib.util.spec_from_file_location(f"pooling_examples_{name}", path)
    assert spec is not None and spec.loader is not None
    module = importlib.util.module_from_spec(spec)
    sys.modules[spec.name] = module
    try:
        spec.loader.exec_module(module)
    except BaseException:
        del sys.modules[spec.name]
        raise
    return module


def _pg_host_port() -> tuple[str, int]:
    host, port = "127.0.0.1", 5432
    for part in os.environ.get("POOLING_PG_DSN", "").split():
        key, _, value = part.partition("=")
        if key == "host":
            host = value
        elif key == "port":
            port = int(value)
    return host, port


def test_every_recipe_has_a_test() -> None:
    recipes = {p.stem for p in EXAMPLES.glob("recipe_*.py")}
    tested = {name[len("test_") :] for name in globals() if name.startswith("test_recipe_")}
    assert recipes, f"no recipes found in {EXAMPLES}"
    assert recipes <= tested, f"recipes without a test: {sorted(recipes - tested)}"


def test_recipe_sqlite() -> None:
    result = _load("recipe_sqlite").main(threads=8, rows_per_thread=25)
    assert result["rows"] == 8 * 25
    assert 1 <= result["created"] <= result["pool_size"] == 4


@pytest.mark.postgres
def test_recipe_psycopg() -> None:
    _need_module("psycopg", '"psycopg[binary]"')
    _need_server("PostgreSQL", *_pg_host_port())
    result = _load("recipe_psycopg").main(threads=8, rows_per_thread=10)
    assert result["rows"] == 80
    assert result["threads"] == 8
    assert result["server_version"] > 0
    assert 1 <= result["created"] <= result["pool_size"] == 5


@pytest.mark.redis
def test_recipe_redis() -> None:
    _need_module("redis", "redis")
    url = urlsplit(os.environ.get("POOLING_REDIS_URL", "redis://127.0.0.1:6379/0"))
    _need_server("Redis", url.hostname or "127.0.0.1", url.port or 6379)
    result = _load("recipe_redis").main(threads=8, moves=25)
    assert result["b"] == 8 * 25
    assert result["a"] + result["b"] == 1000  # WATCH/MULTI lost no update
    assert 1 <= result["created"] <= result["pool_size"] == 4
    # One socket per pooled client: the server saw exactly as many connections as were created.
    assert result["server_connections"] == result["created"]


def test_recipe_http() -> None:
    result = _load("recipe_http").main(threads=6, requests_per_thread=20)
    assert result["requests"] == 6 * 20
    # Keep-alive connections were reused: never more TCP connections than sessions.
    assert 1 <= result["tcp_connections"] <= result["created"] <= result["pool_size"] == 3


@pytest.mark.skipif(sys.platform == "win32", reason="the fork start method is POSIX-only")
def test_recipe_prefork() -> None:
    result = _load("recipe_prefork").main(children=3, rounds=5)
    assert result["exit_codes"] == [0, 0, 0]
    assert result["rows"] == 15
    assert len(result["child_pids"]) == 3
    assert result["parent_pid"] not in result["child_pids"]
    assert result["children_used_own_connections"] is True
    assert result["parent_reused_its_connection"] is True
    assert result["created_in_parent"] == 1
