"""The soak (tests/soak.py) in short mode, and the regressions it found, as small tests.

``python tests/soak.py --seconds 300`` is the long run; here each profile runs a few seconds.
"""

from __future__ import annotations

import os
import subprocess
import sys
import threading
import time
from pathlib import Path

import pytest
from soak import SoakConfig, run_soak

from pooling import Pool

pytestmark = [pytest.mark.slow, pytest.mark.timeout(120)]

SOAK = Path(__file__).resolve().parent / "soak.py"
SECONDS = float(os.environ.get("POOLING_SOAK_SECONDS", "3"))


@pytest.mark.parametrize("hooks", [True, False], ids=["hooks", "plain"])
def test_soak_short(hooks: bool) -> None:
    """32 threads over a pool of 4 with faults injected: no invariant broken, nothing left over."""
    # A short run creates only ~100 sessions: a higher factory fault rate makes sure the factory
    # faults do happen (at 3 % the chance of none would be a few percent, a flaky test).
    result = run_soak(
        SoakConfig(
            seconds=SECONDS,
            hooks=hooks,
            seed=20240605 + hooks,
            factory_fault=0.15,  # a short run makes ~100 sessions: 3 % could inject no fault
            destroyer_fault=0.15,
            grace=15,
        )
    )
    report = result.report()
    print(report)
    assert result.violation_count == 0, report
    assert result.leftovers == 0, report
    assert result.stuck_threads == 0, report
    # It did soak: every kind of step ran, and every kind of fault was injected.
    ops = result.operations
    for kind in (
        "acquire timeout=forever",
        "acquire timeout=nowait",
        "acquire timeout=default",
        "acquire timeout=short",
        "release: with",
        "release: close()",
        "release: del",
        "release: invalidate()",
        "release: cycle + gc.collect()",
        "release: cycle, collected later",
        "release: from another thread",
        "destroy_all_sessions",
        "resize",
    ):
        assert ops[kind] > 0, f"no {kind!r} in {SECONDS}s\n{report}"
    assert result.outcomes["got a session"] > 100, report
    assert result.faults["factory"] > 0, report
    assert result.faults["destroyer"] > 0, report
    if hooks:
        assert result.faults["reset"] > 0, report
        assert result.faults["check"] > 0, report  # the check does run (see the test below)
    assert result.stats.created == result.sessions_created == result.stats.destroyed


def test_soak_command_line() -> None:
    """`python tests/soak.py --seconds N` runs standalone and prints its figures."""
    proc = subprocess.run(
        [sys.executable, str(SOAK), "--seconds", "1", "--threads", "8", "--seed", "7", "--profile", "plain"],
        capture_output=True,
        text=True,
        timeout=60,
    )
    out = proc.stdout
    for text in ("operations:", "faults injected:", "invariant violations: 0", "left over after close: 0"):
        assert text in out, out + proc.stderr
    assert proc.returncode == 0, out + proc.stderr


# -- what the soak found, reduced ------------------------------------------------------------------


def test_check_runs_for_a_session_handed_to_a_waiter() -> None:
    """check_interval=0 means "check every time", also for a session handed straight to a waiter.

    The soak's hooks profile sees every hand-off skip the check: the caller compares the session's
    return time with a `now` taken before it queued, so the difference is negative, below any
    interval.
    """
    checked: list[object] = []
    pool: Pool[object] = Pool(1, object, check=checked.append, check_interval=0.0)
    lease = pool.get_session()
    session = lease.session
    got: list[object] = []
    waiter = threading.Thread(target=lambda: got.append(pool.get_session(timeout=5).session))
    waiter.start()
    deadline = time.monotonic() + 5
    while pool.stats().waiting == 0 and time.monotonic() < deadline:
        time.sleep(0.005)
    lease.close()
    waiter.join(5)
    assert got == [session]
    assert checked == [session], "a session returned and handed to a waiter was not checked"
    pool.close()


def test_check_runs_for_an_idle_session_returned_a_moment_ago() -> None:
    """check_interval=0: an idle session is checked even if it came back microseconds ago."""
    checked: list[object] = []
    pool: Pool[object] = Pool(1, object, check=checked.append, check_interval=0.0)
    for _ in range(50):
        pool.get_session().close()
    assert len(checked) == 49  # every checkout but the first (a new session is not checked)
    pool.close()


def test_check_runs_for_a_session_returned_while_the_caller_starts(monkeypatch: pytest.MonkeyPatch) -> None:
    """check_interval=0: also a session that comes back between the moment `get_session` reads the
    clock and the moment it takes an idle session (the soak's hooks profile sees this now and
    then: the age `now - returned_at` is negative, below any interval, and the check is skipped).

    Deterministic: the pool's clock is wrapped so that the lease is released right after the
    caller read the clock (white box: ``pooling._pool._monotonic``).
    """
    import pooling._pool as core

    checked: list[object] = []
    pool: Pool[object] = Pool(1, object, check=checked.append, check_interval=0.0)
    held = pool.get_session()
    session = held.session
    real = core._monotonic
    armed = [True]

    def clock() -> float:
        now = real()
        if armed[0] and sys._getframe(1).f_code.co_name == "_get_session":
            armed[0] = False
            held.close()  # returned just after the caller read the clock
        return now

    monkeypatch.setattr(core, "_monotonic", clock)
    with pool.get_session(timeout=1) as again:
        assert again is session
    assert not armed[0], "the clock hook did not fire: the test needs updating"
    assert checked == [session], "the session was handed out without its check"
    pool.close()
