"""Fork safety: a child never uses, pools or destroys the parent's sessions (os.fork directly)."""

from __future__ import annotations

import json
import os
import sys
import traceback
from collections.abc import Callable
from typing import Any

import pytest
from conftest import Factory, Session

from pooling import Pool

pytestmark = [
    pytest.mark.skipif(not hasattr(os, "fork") or sys.platform == "win32", reason="needs os.fork"),
    pytest.mark.timeout(30),
]


def in_child(body: Callable[[], dict[str, Any]]) -> dict[str, Any]:
    """Run ``body`` in a forked child; return the dict it returned (sent back over a pipe)."""
    read_fd, write_fd = os.pipe()
    pid = os.fork()
    if pid == 0:  # pragma: no cover - runs in the child
        code = 0
        try:
            os.close(read_fd)
            try:
                report = body()
            except BaseException:
                report = {"error": traceback.format_exc()}
                code = 1
            with os.fdopen(write_fd, "w") as out:
                json.dump(report, out)
        finally:
            os._exit(code)
    os.close(write_fd)
    with os.fdopen(read_fd) as inp:
        data = inp.read()
    _, status = os.waitpid(pid, 0)
    report = json.loads(data) if data else {"error": f"no report; wait status {status}"}
    assert "error" not in report, report["error"]
    assert os.waitstatus_to_exitcode(status) == 0
    return report


def numbers(sessions: list[Session]) -> list[int]:
    return [s.number for s in sessions]


@pytest.mark.parametrize("hooks", [False, True], ids=["plain", "with-hooks"])
def test_child_makes_its_own_sessions_and_never_touches_the_parents(factory: Factory, hooks: bool) -> None:
    touched: list[tuple[str, int]] = []  # (callback, session number): what user code was run on

    def record(name: str) -> Callable[..., None]:
        return lambda session, *args: touched.append((name, session.number))

    options: dict[str, Any] = {}
    if hooks:
        options = {
            name: record(name) for name in ("reset", "check", "on_checkin", "on_checkout", "on_destroy")
        }
        options["max_usage"] = 100
    pool = factory.make_pool(4, **options)
    idle_lease = pool.get_session()
    idle_session = idle_lease.session
    idle_lease.close()
    leased = pool.get_session()
    assert leased.session is idle_session
    kept = pool.get_session()  # a second leased one, invalidated in the child
    extra = pool.get_session()
    extra_session = extra.session
    extra.close()  # two idle sessions at fork time
    parent_sessions = list(factory.created)
    assert len(parent_sessions) == 3

    def child() -> dict[str, Any]:
        report: dict[str, Any] = {}
        touched.clear()
        inherited = set(map(id, parent_sessions))
        fresh = pool.get_session(timeout=0)
        report["fresh_is_parents"] = id(fresh.session) in inherited
        report["stats_after_fork"] = [pool.stats().size, pool.stats().in_use, pool.stats().idle]
        leased.close()  # an inherited lease: neither pooled nor destroyed
        kept.invalidate()  # neither destroyed
        report["destroyed_after_releases"] = numbers(factory.destroyed)
        report["idle_after_releases"] = pool.stats().idle
        second = pool.get_session(timeout=0)
        report["second_is_parents"] = id(second.session) in inherited
        fresh.close()
        second.close()
        pool.destroy_all_sessions()
        report["destroyed_after_destroy_all"] = numbers(factory.destroyed)
        third = pool.get_session(timeout=0)
        report["third_is_parents"] = id(third.session) in inherited
        third.close()
        pool.close()
        report["destroyed_after_close"] = numbers(factory.destroyed)
        report["parent_numbers"] = numbers(parent_sessions)
        report["closed_flags"] = [s.closed for s in parent_sessions]
        report["violations"] = factory.violations
        report["touched"] = touched
        return report

    report = in_child(child)
    parents = set(report["parent_numbers"])
    assert report["fresh_is_parents"] is False
    assert report["second_is_parents"] is False
    assert report["third_is_parents"] is False
    assert report["stats_after_fork"] == [1, 1, 0]  # the child knows only its own session
    assert report["destroyed_after_releases"] == []
    assert report["idle_after_releases"] == 0
    assert not parents & set(report["destroyed_after_destroy_all"])
    assert len(report["destroyed_after_destroy_all"]) == 2  # the child's two idle ones
    assert not parents & set(report["destroyed_after_close"])
    assert report["closed_flags"] == [False, False, False]
    assert report["violations"] == []
    # No user callback (reset, check, hooks) ever ran on a parent's session in the child.
    assert [t for t in report["touched"] if t[1] in parents] == []

    # The parent's pool is unaffected.
    assert factory.destroyed == []
    stats = pool.stats()
    assert (stats.size, stats.in_use, stats.idle) == (3, 2, 1)
    with pool.get_session(timeout=0) as conn:
        assert conn is extra_session
    assert leased.session is idle_session
    leased.close()
    kept.close()
    pool.close()
    assert sorted(numbers(factory.destroyed)) == sorted(numbers(parent_sessions))
    assert factory.violations == []


def test_fork_with_a_pending_idle_deque_and_a_maintainer(factory: Factory) -> None:
    pool = factory.make_pool(3, min_idle=1, max_idle_time=60)
    from conftest import wait_until

    wait_until(lambda: pool.stats().idle == 1, "min_idle filled in the parent")
    parent_numbers = numbers(factory.created)

    def child() -> dict[str, Any]:
        lease = pool.get_session(timeout=0)
        number = lease.session.number
        lease.close()
        pool.close()
        return {"number": number, "destroyed": numbers(factory.destroyed)}

    report = in_child(child)
    assert report["number"] not in parent_numbers
    assert not set(parent_numbers) & set(report["destroyed"])
    assert pool.stats().idle == 1
    with pool.get_session(timeout=0) as conn:
        assert conn.number in parent_numbers
    pool.close()


def test_pool_created_in_the_child_works(factory: Factory) -> None:
    def child() -> dict[str, Any]:
        pool: Pool[Session] = factory.make_pool(2)
        with pool.get_session() as a:
            pass
        with pool.get_session() as b:
            pass
        pool.close()
        return {"same": a is b, "destroyed": len(factory.destroyed)}

    assert in_child(child) == {"same": True, "destroyed": 1}
