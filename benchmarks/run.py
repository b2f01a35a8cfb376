#!/usr/bin/env python3
"""pooling benchmarks: one entry point, a table on stdout, optional JSON and PNG.

    python benchmarks/run.py                       # everything, ~8 minutes
    python benchmarks/run.py --quick               # CI smoke run, < 60 s
    python benchmarks/run.py --scenarios uncontended,hold --json out.json --plot

Method (the box this runs on is small, shared and noisy):

* repetitions interleave the implementations (A B C, B C A, C A B, ...), so slow drifts
  of the machine hit every implementation alike;
* every figure is reported as median [min..max] over the repetitions;
* every comparison is a ratio computed *within one repetition* (A_r / floor_r, the two
  measured seconds apart) and then summarised, never a ratio of figures from two runs.

The "floor pool" (benchmarks/_impls.py) is the smallest correct pool, one Condition and a
list; overhead targets are relative to it. It is not FIFO-fair, so under contention it
starves threads: that is reported, not hidden. The "fifo floor" is the minimal FIFO
hand-off pool, the second reference point for fairness.

Peers missing from the environment (or database servers that are down) are skipped with
a note; the run still exits 0. Install the peers with
``pip install -r benchmarks/requirements.txt``.
"""

from __future__ import annotations

import argparse
import contextlib
import gc
import json
import os
import platform
import statistics
import subprocess
import sys
import threading
import time
from collections.abc import Callable, Iterable, Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

HERE = Path(__file__).resolve().parent
ROOT = HERE.parent
if str(HERE) not in sys.path:
    sys.path.insert(0, str(HERE))

from _impls import (  # noqa: E402
    IMPLS,
    Adapter,
    DBUtilsAdapter,
    FakeSession,
    Impl,
    NoPoolAdapter,
    PoolingWithAdapter,
    SQLAlchemyNoResetAdapter,
    destroy_session,
    missing_requirement,
    version_of,
)

POOL_SIZE = 4
DEFAULT_PLOT = ROOT / "docs" / "benchmarks.png"
SCENARIOS = ("uncontended", "hold", "slow_create", "churn", "mysql", "postgres")

# --------------------------------------------------------------------------------------
# Small statistics helpers
# --------------------------------------------------------------------------------------


def summary(values: Sequence[float]) -> dict[str, float] | None:
    vals = [v for v in values if v is not None]
    if not vals:
        return None
    return {"median": statistics.median(vals), "min": min(vals), "max": max(vals)}


def percentile(sorted_vals: Sequence[float], q: float) -> float:
    if not sorted_vals:
        return float("nan")
    k = min(len(sorted_vals) - 1, max(0, round(q * (len(sorted_vals) - 1))))
    return sorted_vals[k]


def ratios(a: Sequence[float], b: Sequence[float]) -> list[float]:
    """Per-repetition ratios a_r / b_r (same repetition, measured seconds apart)."""
    return [x / y for x, y in zip(a, b, strict=False) if x is not None and y]


def fmt_mmm(values: Sequence[float] | None, spec: str = ".0f", unit: str = "") -> str:
    s = summary(values or [])
    if s is None:
        return "-"
    med, lo, hi = (format(s[k], spec) for k in ("median", "min", "max"))
    if len(values or []) == 1:
        return f"{med}{unit}"
    return f"{med}{unit} [{lo}..{hi}]"


def fmt_ratio(values: Sequence[float] | None) -> str:
    s = summary(values or [])
    if s is None:
        return "-"
    if len(values or []) == 1:
        return f"{s['median']:.2f}x"
    return f"{s['median']:.2f}x [{s['min']:.2f}..{s['max']:.2f}]"


def fmt_bytes(n: float) -> str:
    sign = "-" if n < 0 else "+"
    n = abs(n)
    for unit in ("B", "KiB", "MiB", "GiB"):
        if n < 1024 or unit == "GiB":
            return f"{sign}{n:.0f} {unit}" if unit == "B" else f"{sign}{n:.1f} {unit}"
        n /= 1024
    return f"{sign}{n:.1f} GiB"  # pragma: no cover


# --------------------------------------------------------------------------------------
# Result model
# --------------------------------------------------------------------------------------


@dataclass
class Row:
    key: str
    label: str
    kind: str
    skipped: str | None = None
    metrics: dict[str, list[float]] = field(default_factory=dict)
    ratios: dict[str, list[float]] = field(default_factory=dict)
    extra: dict[str, Any] = field(default_factory=dict)

    def add(self, metric: str, value: float) -> None:
        self.metrics.setdefault(metric, []).append(value)

    def to_json(self) -> dict[str, Any]:
        return {
            "label": self.label,
            "kind": self.kind,
            "skipped": self.skipped,
            "metrics": {k: {"values": v, **(summary(v) or {})} for k, v in self.metrics.items()},
            "ratios": {k: {"values": v, **(summary(v) or {})} for k, v in self.ratios.items()},
            **({"extra": self.extra} if self.extra else {}),
        }


@dataclass
class Target:
    impl: str
    what: str
    target: str
    measured: str
    ok: bool | None  # None: could not be evaluated


@dataclass
class Result:
    name: str
    title: str
    params: dict[str, Any]
    rows: dict[str, Row] = field(default_factory=dict)
    notes: list[str] = field(default_factory=list)
    skipped: str | None = None
    targets: list[Target] = field(default_factory=list)
    columns: list[tuple[str, Callable[[Row], str]]] = field(default_factory=list)
    seconds: float = 0.0

    def to_json(self) -> dict[str, Any]:
        return {
            "title": self.title,
            "params": self.params,
            "skipped": self.skipped,
            "notes": self.notes,
            "seconds": round(self.seconds, 2),
            "rows": {k: r.to_json() for k, r in self.rows.items()},
            "targets": [t.__dict__ for t in self.targets],
        }


@dataclass
class Config:
    quick: bool
    reps: int | None
    impls: set[str] | None
    verbose: bool

    def n_reps(self, full: int, quick: int) -> int:
        return self.reps if self.reps is not None else (quick if self.quick else full)


def log(cfg: Config, msg: str) -> None:
    if cfg.verbose:
        print(f"  .. {msg}", file=sys.stderr, flush=True)


# --------------------------------------------------------------------------------------
# Running implementations
# --------------------------------------------------------------------------------------


def select(cfg: Config, keys: Iterable[str]) -> list[Impl]:
    return [IMPLS[k] for k in keys if cfg.impls is None or k in cfg.impls]


def make_rows(res: Result, impls: Sequence[Impl]) -> list[Row]:
    rows = []
    for impl in impls:
        row = Row(impl.key, impl.label, impl.kind, skipped=missing_requirement(impl))
        res.rows[impl.key] = row
        rows.append(row)
    return rows


def interleaved(rows: Sequence[Row], reps: int, offset: int = 0) -> Iterable[tuple[int, Row]]:
    """A B C, B C A, C A B, ...: every rep visits every live row, order rotated."""
    for r in range(reps):
        live = [row for row in rows if row.skipped is None]
        if not live:
            return
        k = (r + offset) % len(live)
        for row in live[k:] + live[:k]:
            yield r, row


def build(row: Row, make: Callable[[], Adapter]) -> Adapter | None:
    try:
        return make()
    except Exception as exc:
        row.skipped = f"setup failed: {type(exc).__name__}: {exc}"
        return None


def warm(adapter: Adapter, size: int) -> None:
    handles = [adapter.acquire() for _ in range(size)]
    for h in handles:
        adapter.release(h)
    del handles, h


def close_all(adapters: dict[str, Adapter]) -> None:
    for adapter in adapters.values():
        with contextlib.suppress(Exception):
            adapter.close()


def add_ratio(rows: Sequence[Row], ref_key: str, metric: str, name: str | None = None) -> None:
    ref = next((r for r in rows if r.key == ref_key and r.skipped is None), None)
    if ref is None:
        return
    for row in rows:
        if row.skipped is None and metric in row.metrics:
            row.ratios[name or metric] = ratios(row.metrics[metric], ref.metrics[metric])


def med(values: Sequence[float] | None) -> float | None:
    s = summary(values or [])
    return None if s is None else s["median"]


def ratio_target(
    impl: str, what: str, wanted: str, ratios: Sequence[float] | None, ok: Callable[[float], bool]
) -> Target:
    """A target met when `ok` holds for the median of per-repetition ratios (None: not measured)."""
    m = med(ratios)
    return Target(impl, what, wanted, fmt_ratio(ratios), None if m is None else ok(m))


def build_memory_adapters(rows: list[Row], warm_loop: int = 0) -> dict[str, Adapter]:
    """Adapters over in-memory sessions for the rows that are not skipped, warmed up."""
    adapters: dict[str, Adapter] = {}
    for row in rows:
        if row.skipped is None:
            impl = IMPLS[row.key]
            a = build(row, lambda impl=impl: impl.adapter(POOL_SIZE, FakeSession, destroy_session))
            if a is not None:
                warm(a, POOL_SIZE)
                if warm_loop:
                    a.loop(warm_loop)
                adapters[row.key] = a
    return adapters


# --------------------------------------------------------------------------------------
# Scenario 1: uncontended
# --------------------------------------------------------------------------------------

UNCONTENDED_KEYS = (
    "queue",
    "floor",
    "fifo_floor",
    "pooling_with",
    "pooling_del",
    "sqlalchemy",
    "dbutils",
    "gcp",
)


def scenario_uncontended(cfg: Config) -> Result:
    n = 20_000 if cfg.quick else 200_000
    blocks = 10 if cfg.quick else 20
    block_n = n // blocks
    reps = cfg.n_reps(5, 3)
    res = Result(
        "uncontended",
        f"uncontended: 1 thread, pool of {POOL_SIZE}, acquire+release, ns per round trip",
        {"ops_per_rep": n, "blocks_per_rep": blocks, "reps": reps, "pool_size": POOL_SIZE},
    )
    res.notes.append(
        f"a repetition runs {blocks} rounds of {block_n:,}-op blocks, implementations "
        "interleaved within each round; an implementation's figure for the repetition is its "
        "fastest block (on a busy box, noise only ever adds time); vs = per-repetition ratio."
    )
    rows = make_rows(res, select(cfg, UNCONTENDED_KEYS))
    adapters = build_memory_adapters(rows, warm_loop=block_n)
    live = [row for row in rows if row.key in adapters]
    clock = time.perf_counter_ns
    try:
        for r in range(reps):
            best = dict.fromkeys(adapters, float("inf"))
            total = dict.fromkeys(adapters, 0)
            gc.collect()
            for _, row in interleaved(live, blocks, offset=r):
                loop = adapters[row.key].loop
                t0 = clock()
                loop(block_n)
                dt = clock() - t0
                best[row.key] = min(best[row.key], dt / block_n)
                total[row.key] += dt
            for row in live:
                row.add("ns_per_op", best[row.key])
                row.add("ns_per_op_mean", total[row.key] / (block_n * blocks))
    finally:
        close_all(adapters)
    add_ratio(rows, "floor", "ns_per_op", "vs_floor")
    add_ratio(rows, "queue", "ns_per_op", "vs_queue")
    res.columns = [
        ("ns per round trip", lambda r: fmt_mmm(r.metrics.get("ns_per_op"), ".0f")),
        ("vs floor pool", lambda r: fmt_ratio(r.ratios.get("vs_floor"))),
        ("vs queue.Queue", lambda r: fmt_ratio(r.ratios.get("vs_queue"))),
    ]
    for key, limit, idiom in (("pooling_with", 1.5, "with"), ("pooling_del", 1.7, "del")):
        row = res.rows.get(key)
        if row is None:
            continue
        res.targets.append(
            ratio_target(
                key,
                f"uncontended `{idiom}` round trip vs floor pool",
                f"<= {limit:.1f}x",
                row.ratios.get("vs_floor"),
                lambda m, limit=limit: m <= limit,
            )
        )
    return res


# --------------------------------------------------------------------------------------
# Scenario 2: hold (16 threads, pool of 4, each holds 200 us)
# --------------------------------------------------------------------------------------

HOLD_KEYS = UNCONTENDED_KEYS


class _HoldRecord:
    def __init__(self, n_threads: int) -> None:
        self.lock = threading.Lock()
        self.out = 0
        self.max_out = 0
        self.ops = [0] * n_threads
        self.waits: list[list[float]] = [[] for _ in range(n_threads)]
        self.errors: list[str] = []


def _hold_worker(
    idx: int,
    adapter: Adapter,
    *,
    start: threading.Barrier,
    stop: threading.Event,
    hold_s: float,
    rec: _HoldRecord,
) -> None:
    acquire, release, sleep, clock = adapter.acquire, adapter.release, time.sleep, time.perf_counter
    lock, waits, ops = rec.lock, rec.waits[idx], 0
    try:
        start.wait()
        while not stop.is_set():
            t0 = clock()
            h = acquire()
            t1 = clock()
            in_window = not stop.is_set()
            with lock:
                rec.out += 1
                rec.max_out = max(rec.max_out, rec.out)
            waits.append(t1 - t0)
            if in_window:
                ops += 1
            sleep(hold_s)
            with lock:
                rec.out -= 1
            release(h)
            del h  # the `del` variant of pooling releases here
    except Exception as exc:  # pragma: no cover - reported in the table
        rec.errors.append(f"{type(exc).__name__}: {exc}")
    finally:
        rec.ops[idx] = ops


def run_workers(
    worker: Callable[..., None], adapter: Adapter, n_threads: int, window_s: float, **kwargs: Any
) -> tuple[_HoldRecord, float, float]:
    """Start `n_threads` copies of `worker` at once (a barrier), let them run for `window_s`,
    stop and join them: their record, the window's wall time and the process's CPU time."""
    rec = _HoldRecord(n_threads)
    start = threading.Barrier(n_threads + 1)
    stop = threading.Event()
    threads = [
        threading.Thread(
            target=worker,
            args=(i, adapter),
            daemon=True,
            kwargs={**kwargs, "start": start, "stop": stop, "rec": rec},
        )
        for i in range(n_threads)
    ]
    for t in threads:
        t.start()
    gc.collect()
    start.wait()
    c0, t0 = time.process_time(), time.perf_counter()
    time.sleep(window_s)
    stop.set()
    elapsed = time.perf_counter() - t0
    for t in threads:
        t.join(60)
    cpu = time.process_time() - c0
    if any(t.is_alive() for t in threads):
        rec.errors.append("worker threads still blocked 60 s after stop (deadlock?)")
    return rec, elapsed, cpu


def scenario_hold(cfg: Config) -> Result:
    n_threads, hold_s = 16, 200e-6
    window = 0.3 if cfg.quick else 2.0
    reps = cfg.n_reps(5, 2)
    res = Result(
        "hold",
        f"hold: {n_threads} threads, pool of {POOL_SIZE}, each holds its session 200 us (time.sleep)",
        {
            "threads": n_threads,
            "pool_size": POOL_SIZE,
            "hold_s": hold_s,
            "hold_method": "time.sleep (releases the GIL, like real I/O)",
            "window_s": window,
            "reps": reps,
        },
    )
    res.notes.append(
        "hold is time.sleep(200e-6), which releases the GIL like real I/O; Linux sleeps a "
        "little longer than asked, so the ideal is a bit under 4 / 200 us = 20k ops/s."
    )
    res.notes.append(
        "starved = threads that got no session during the window of a repetition (worst "
        "repetition shown); waits include the ones that ended after the window."
    )
    rows = make_rows(res, select(cfg, HOLD_KEYS))
    adapters = build_memory_adapters(rows)
    try:
        for _, row in interleaved(rows, reps):
            rec, elapsed, cpu = run_workers(_hold_worker, adapters[row.key], n_threads, window, hold_s=hold_s)
            total = sum(rec.ops)
            waits = sorted(w for ws in rec.waits for w in ws)
            row.add("ops_per_s", total / elapsed)
            row.add("wait_p50_ms", percentile(waits, 0.50) * 1e3)
            row.add("wait_p99_ms", percentile(waits, 0.99) * 1e3)
            row.add("wait_max_ms", (waits[-1] if waits else float("nan")) * 1e3)
            row.add("starved", sum(1 for o in rec.ops if o == 0))
            row.add("min_thread_share", min(rec.ops) / (total / n_threads) if total else 0.0)
            row.add("max_out", rec.max_out)
            row.add("cpu_s", cpu)
            row.add("cpu_us_per_op", cpu / total * 1e6 if total else float("nan"))
            if rec.errors:
                row.extra.setdefault("errors", []).extend(rec.errors[:3])
                if "still blocked" in rec.errors[-1]:
                    row.skipped = "deadlocked: " + rec.errors[-1]
    finally:
        close_all(adapters)
    add_ratio(rows, "floor", "ops_per_s", "thr_vs_floor")
    add_ratio(rows, "floor", "cpu_us_per_op", "cpu_vs_floor")
    add_ratio(rows, "fifo_floor", "ops_per_s", "thr_vs_fifo")
    res.columns = [
        ("ops/s", lambda r: fmt_mmm(r.metrics.get("ops_per_s"), ".0f")),
        ("vs floor", lambda r: fmt_ratio(r.ratios.get("thr_vs_floor"))),
        ("vs fifo", lambda r: fmt_ratio(r.ratios.get("thr_vs_fifo"))),
        (
            "wait p50/p99/max ms",
            lambda r: (
                "/".join(f"{med(r.metrics.get(m)) or 0:.2f}" for m in ("wait_p50_ms", "wait_p99_ms"))
                + f"/{med(r.metrics.get('wait_max_ms')) or 0:.1f}"
            ),
        ),
        ("starved", lambda r: f"{max(r.metrics.get('starved') or [0]):.0f}"),
        ("min share", lambda r: f"{med(r.metrics.get('min_thread_share')) or 0:.2f}"),
        ("max out", lambda r: f"{max(r.metrics.get('max_out') or [0]):.0f}"),
        ("CPU s", lambda r: f"{med(r.metrics.get('cpu_s')) or 0:.2f}"),
        ("CPU/op vs floor", lambda r: fmt_ratio(r.ratios.get("cpu_vs_floor"))),
    ]
    res.notes.append(
        "min share = fewest ops of any thread / mean ops per thread (1.00 = perfectly fair); "
        "CPU s = time.process_time() of the whole process over one window."
    )
    for key in ("pooling_with", "pooling_del"):
        row = res.rows.get(key)
        if row is None or row.skipped:
            continue
        res.targets.append(
            ratio_target(
                key,
                "hold throughput vs floor pool",
                ">= 0.95x",
                row.ratios.get("thr_vs_floor"),
                lambda m: m >= 0.95,
            )
        )
        starved = max(row.metrics.get("starved") or [0])
        res.targets.append(
            Target(key, "hold starved threads (worst rep)", "0", f"{starved:.0f}", starved == 0)
        )
        wmax = row.metrics.get("wait_max_ms") or []
        wm = med(wmax)
        res.targets.append(
            Target(
                key,
                "hold max wait (median of reps)",
                "< 20 ms",
                fmt_mmm(wmax, ".1f", " ms"),
                None if wm is None else wm < 20,
            )
        )
        mo = max(row.metrics.get("max_out") or [0])
        res.targets.append(
            Target(
                key, "hold sessions out at once (worst rep)", f"<= {POOL_SIZE}", f"{mo:.0f}", mo <= POOL_SIZE
            )
        )
        res.targets.append(
            ratio_target(
                key,
                "hold CPU per op vs floor pool",
                "<= 1.00x",
                row.ratios.get("cpu_vs_floor"),
                lambda m: m <= 1.0,
            )
        )
    return res


# --------------------------------------------------------------------------------------
# Scenario 3: slow_create
# --------------------------------------------------------------------------------------

SLOW_KEYS = ("floor", "fifo_floor", "pooling_with", "sqlalchemy", "dbutils", "gcp")
SLOW_CREATE_S = 0.05


def _slow_factory() -> FakeSession:
    time.sleep(SLOW_CREATE_S)
    return FakeSession()


def run_slow_rep(adapter: Adapter, n: int) -> tuple[float, list[str]]:
    start = threading.Barrier(n + 1)
    all_hold = threading.Barrier(n, timeout=30)
    got = [0.0] * n
    errors: list[str] = []

    def worker(i: int) -> None:
        try:
            start.wait()
            h = adapter.acquire()
            got[i] = time.perf_counter()
            all_hold.wait()
            adapter.release(h)
            del h
        except Exception as exc:
            errors.append(f"{type(exc).__name__}: {exc}")

    threads = [threading.Thread(target=worker, args=(i,), daemon=True) for i in range(n)]
    for t in threads:
        t.start()
    start.wait()
    t0 = time.perf_counter()
    for t in threads:
        t.join(60)
    return max(got) - t0, errors


def scenario_slow_create(cfg: Config) -> Result:
    n = 8
    reps = cfg.n_reps(5, 2)
    res = Result(
        "slow_create",
        f"slow_create: empty pool of {n}, factory sleeps {SLOW_CREATE_S * 1e3:.0f} ms, "
        f"{n} threads start at a Barrier: time until all {n} hold one",
        {"pool_size": n, "threads": n, "factory_s": SLOW_CREATE_S, "reps": reps},
    )
    res.notes.append("queue.Queue is not in this scenario: it has no factory (pre-filled).")
    res.notes.append("vs 1 create = elapsed / one factory call timed in the same repetition.")
    rows = make_rows(res, select(cfg, SLOW_KEYS))
    for r, row in interleaved(rows, reps):
        impl = IMPLS[row.key]
        adapter = build(row, lambda impl=impl: impl.adapter(n, _slow_factory, destroy_session))
        if adapter is None:
            continue
        t0 = time.perf_counter()
        _slow_factory()
        one = time.perf_counter() - t0
        try:
            elapsed, errors = run_slow_rep(adapter, n)
        finally:
            with contextlib.suppress(Exception):
                adapter.close()
        if errors:
            row.skipped = f"failed in rep {r}: {errors[0]}"
            continue
        row.add("elapsed_ms", elapsed * 1e3)
        row.add("one_create_ms", one * 1e3)
        row.ratios.setdefault("vs_one_create", []).append(elapsed / one)
    add_ratio(rows, "floor", "elapsed_ms", "vs_floor")
    res.columns = [
        ("all hold after (ms)", lambda r: fmt_mmm(r.metrics.get("elapsed_ms"), ".1f")),
        ("vs 1 create", lambda r: fmt_ratio(r.ratios.get("vs_one_create"))),
        ("vs floor pool", lambda r: fmt_ratio(r.ratios.get("vs_floor"))),
    ]
    row = res.rows.get("pooling_with")
    if row is not None and not row.skipped:
        res.targets.append(
            ratio_target(
                "pooling_with",
                f"slow_create: {n} threads all hold",
                "< 1.2x one create",
                row.ratios.get("vs_one_create"),
                lambda m: m < 1.2,
            )
        )
    return res


# --------------------------------------------------------------------------------------
# Scenario 4: churn (subprocess per implementation)
# --------------------------------------------------------------------------------------

CHURN_KEYS = UNCONTENDED_KEYS
CHURN_QUICK_KEYS = ("floor", "pooling_with", "pooling_del")
CHURN_MARKS = 10
TRACEMALLOC_LIMIT = 64 * 1024
RSS_LIMIT = 1024 * 1024


class _Rss:
    """Current RSS in bytes. /proc/self/statm is opened once and re-read with pread, because
    open() leaves a few small allocations behind on every call (they would show as growth)."""

    def __init__(self) -> None:
        self.page = os.sysconf("SC_PAGE_SIZE") if hasattr(os, "sysconf") else 4096
        try:
            self.fd: int | None = os.open("/proc/self/statm", os.O_RDONLY)
        except OSError:
            self.fd = None

    def __call__(self) -> int:
        if self.fd is not None:
            return int(os.pread(self.fd, 128, 0).split()[1]) * self.page
        import resource  # not Linux: peak RSS is the best there is

        peak = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss
        return peak if sys.platform == "darwin" else peak * 1024


def churn_child(key: str, cycles: int) -> dict[str, Any]:
    """Runs in a fresh interpreter: `cycles` acquire+release, memory at every 10 %."""
    import tracemalloc
    from array import array

    adapter = IMPLS[key].adapter(POOL_SIZE, FakeSession, destroy_session)
    warm(adapter, POOL_SIZE)
    adapter.loop(1000)
    chunk = cycles // CHURN_MARKS
    # Preallocated so that recording a mark allocates nothing that outlives it.
    rss, traced = array("q", [0] * CHURN_MARKS), array("q", [0] * CHURN_MARKS)
    rss_bytes = _Rss()
    rss_bytes()
    gc.collect()
    tracemalloc.start()
    t0 = time.perf_counter()
    for i in range(CHURN_MARKS):
        adapter.loop(chunk)
        gc.collect()
        traced[i] = tracemalloc.get_traced_memory()[0]
        rss[i] = rss_bytes()
    elapsed = time.perf_counter() - t0
    tracemalloc.stop()
    adapter.close()
    marks = [{"cycles": (i + 1) * chunk, "rss": rss[i], "traced": traced[i]} for i in range(CHURN_MARKS)]
    return {"marks": marks, "seconds": elapsed}


def scenario_churn(cfg: Config) -> Result:
    cycles = 100_000 if cfg.quick else 1_000_000
    res = Result(
        "churn",
        f"churn: {cycles:,} acquire+release in a fresh subprocess, memory growth from the "
        "10% mark to the end",
        {
            "cycles": cycles,
            "pool_size": POOL_SIZE,
            "marks": CHURN_MARKS,
            "tracemalloc_limit_bytes": TRACEMALLOC_LIMIT,
            "rss_limit_bytes": RSS_LIMIT,
        },
    )
    res.notes.append(
        "one subprocess per implementation (1 repetition; memory growth is not timing noise); "
        "tracemalloc is on for the whole loop, gc.collect() before every mark; RSS from "
        "/proc/self/statm."
    )
    keys = CHURN_QUICK_KEYS if cfg.quick and cfg.impls is None else CHURN_KEYS
    if keys is CHURN_QUICK_KEYS:
        res.notes.append("quick mode: only the floor pool and pooling (one subprocess each).")
    rows = make_rows(res, select(cfg, keys))
    for row in rows:
        if row.skipped:
            continue
        cmd = [
            sys.executable,
            str(Path(__file__).resolve()),
            "--churn-child",
            row.key,
            "--cycles",
            str(cycles),
        ]
        try:
            proc = subprocess.run(cmd, capture_output=True, text=True, timeout=600, check=False)
        except subprocess.TimeoutExpired:
            row.skipped = "child timed out"
            continue
        if proc.returncode != 0:
            tail = (proc.stderr.strip().splitlines() or ["?"])[-1]
            row.skipped = f"child failed: {tail}"
            continue
        out = json.loads(proc.stdout.strip().splitlines()[-1])
        marks = out["marks"]
        first, last = marks[0], marks[-1]
        row.add("rss_growth", last["rss"] - first["rss"])
        row.add("traced_growth", last["traced"] - first["traced"])
        row.add(
            "bytes_per_kcycle",
            (last["traced"] - first["traced"]) / ((last["cycles"] - first["cycles"]) / 1e3),
        )
        row.add("us_per_cycle", out["seconds"] / cycles * 1e6)
        row.extra["marks"] = marks
    res.columns = [
        ("tracemalloc growth", lambda r: fmt_bytes(r.metrics["traced_growth"][0]) if r.metrics else "-"),
        ("B per 1k cycles", lambda r: f"{r.metrics['bytes_per_kcycle'][0]:.2f}" if r.metrics else "-"),
        ("RSS growth", lambda r: fmt_bytes(r.metrics["rss_growth"][0]) if r.metrics else "-"),
        ("us/cycle (traced)", lambda r: f"{r.metrics['us_per_cycle'][0]:.2f}" if r.metrics else "-"),
    ]
    for key in ("pooling_with", "pooling_del"):
        row = res.rows.get(key)
        if row is None or row.skipped or not row.metrics:
            continue
        tg, rg = row.metrics["traced_growth"][0], row.metrics["rss_growth"][0]
        res.targets.append(
            Target(
                key,
                "churn: growth 10% -> 100% of the cycles",
                f"tracemalloc < {TRACEMALLOC_LIMIT // 1024} KiB, RSS < {RSS_LIMIT // 1024} KiB",
                f"{fmt_bytes(tg)} traced, {fmt_bytes(rg)} RSS",
                tg < TRACEMALLOC_LIMIT and rg < RSS_LIMIT,
            )
        )
    return res


# --------------------------------------------------------------------------------------
# Scenarios 5 and 6: real databases
# --------------------------------------------------------------------------------------


class _PoolingMySQLAdapter(PoolingWithAdapter):
    """pooling's own ``pooling.mysql.MysqlConnectionPool`` (``with`` idiom)."""

    def __init__(self, pool: Any) -> None:
        self.pool = pool


class _PsycopgPoolAdapter(Adapter):
    """psycopg_pool ``ConnectionPool(min_size=size, max_size=size)``, getconn/putconn."""

    def __init__(self, size: int, conninfo: str, kwargs: dict[str, Any]) -> None:
        from psycopg_pool import ConnectionPool

        self.pool = ConnectionPool(
            conninfo, min_size=size, max_size=size, kwargs=kwargs, open=True, timeout=60.0
        )
        self.pool.wait(timeout=30.0)
        self.acquire = self.pool.getconn  # type: ignore[method-assign]
        self.release = self.pool.putconn  # type: ignore[method-assign]

    def close(self) -> None:
        self.pool.close()


def _db_worker(
    idx: int,
    adapter: Adapter,
    *,
    query: Callable[[Any], Any],
    start: threading.Barrier,
    stop: threading.Event,
    rec: _HoldRecord,
) -> None:
    acquire, release, session = adapter.acquire, adapter.release, adapter.session
    ops = 0
    try:
        start.wait()
        while not stop.is_set():
            h = acquire()
            in_window = not stop.is_set()
            with rec.lock:
                rec.out += 1
                rec.max_out = max(rec.max_out, rec.out)
            query(session(h))
            with rec.lock:
                rec.out -= 1
            release(h)
            del h
            if in_window:
                ops += 1
    except Exception as exc:
        rec.errors.append(f"{type(exc).__name__}: {exc}")
    finally:
        rec.ops[idx] = ops


Builder = tuple[str, str, str, Callable[[], Adapter]]  # key, label, kind, make


def db_builders(
    connect: Callable[[], Any],
    dbapi: Any,
    ours: dict[str, tuple[str, Callable[[], Adapter]]],
    peers: Sequence[str],
) -> list[Builder]:
    """The rows of a database scenario: the floors, `ours` (pooling's rows, and any peer made
    differently per database), the `peers` named, and a new connection per query."""
    size = POOL_SIZE
    dbutils_cls = type(f"DBUtils_{dbapi.__name__}", (DBUtilsAdapter,), {"dbapi": dbapi})
    every: dict[str, tuple[str, Callable[[], Adapter]]] = {
        "floor": ("floor pool", lambda: IMPLS["floor"].adapter(size, connect, destroy_session)),
        "fifo_floor": ("fifo floor", lambda: IMPLS["fifo_floor"].adapter(size, connect, destroy_session)),
        "sqlalchemy": ("SQLAlchemy QueuePool", lambda: IMPLS["sqlalchemy"].adapter(size, connect)),
        "sqlalchemy_noreset": ("SQLAlchemy (no reset)", lambda: SQLAlchemyNoResetAdapter(size, connect)),
        "dbutils": ("DBUtils PooledDB", lambda: dbutils_cls(size, connect)),
        "gcp": ("generic-connection-pool", lambda: IMPLS["gcp"].adapter(size, connect, destroy_session)),
        "nopool": ("new connection per query", lambda: NoPoolAdapter(size, connect, destroy_session)),
        **ours,
    }
    kinds = {"floor": "floor", "fifo_floor": "floor"}
    kinds.update((k, "pooling") for k in ours if k not in peers)
    kinds.update((k, "peer") for k in peers)
    kinds["nopool"] = "baseline"
    return [(key, every[key][0], kind, every[key][1]) for key, kind in kinds.items()]


def run_db_scenario(
    cfg: Config,
    res: Result,
    builders: list[Builder],
    query: Callable[[Any], Any],
) -> None:
    peers = [key for key, _, kind, _ in builders if kind == "peer"]
    n_threads = res.params["threads"]
    # A database server has pauses of its own (a purge, a checkpoint) that can last seconds: many
    # short windows, interleaved, spread them over every row instead of sinking a few.
    window = 0.3 if cfg.quick else 1.0
    reps = cfg.n_reps(9, 2)
    res.params.update(window_s=window, reps=reps)
    rows: list[Row] = []
    adapters: dict[str, Adapter] = {}
    for key, label, kind, make in builders:
        if cfg.impls is not None and key not in cfg.impls:
            continue
        row = Row(key, label, kind)
        res.rows[key] = row
        rows.append(row)
        adapter = build(row, make)
        if adapter is not None:
            try:
                warm(adapter, POOL_SIZE)
                adapters[key] = adapter
            except Exception as exc:
                row.skipped = f"warm-up failed: {type(exc).__name__}: {exc}"
                with contextlib.suppress(Exception):
                    adapter.close()
    try:
        for _, row in interleaved(rows, reps):
            rec, elapsed, cpu = run_workers(_db_worker, adapters[row.key], n_threads, window, query=query)
            if rec.errors:
                row.skipped = f"error: {rec.errors[0]}"
                continue
            total = sum(rec.ops)
            row.add("qps", total / elapsed)
            row.add("starved", sum(1 for o in rec.ops if o == 0))
            row.add("max_out", rec.max_out)
            row.add("cpu_us_per_q", cpu / total * 1e6 if total else float("nan"))
    finally:
        close_all(adapters)
    live_peers = [
        k for k in peers if k in res.rows and not res.rows[k].skipped and res.rows[k].metrics.get("qps")
    ]
    for row in rows:
        if row.skipped or "qps" not in row.metrics:
            continue
        if live_peers:
            # per repetition: this row / the best peer of that same repetition
            best = [
                max(res.rows[k].metrics["qps"][i] for k in live_peers) for i in range(len(row.metrics["qps"]))
            ]
            row.ratios["vs_best_peer"] = ratios(row.metrics["qps"], best)
    add_ratio(rows, "nopool", "qps", "vs_nopool")
    res.columns = [
        ("queries/s", lambda r: fmt_mmm(r.metrics.get("qps"), ".0f")),
        ("vs best peer", lambda r: fmt_ratio(r.ratios.get("vs_best_peer"))),
        ("vs no pool", lambda r: fmt_ratio(r.ratios.get("vs_nopool"))),
        ("starved", lambda r: f"{max(r.metrics.get('starved') or [0]):.0f}"),
        ("max out", lambda r: f"{max(r.metrics.get('max_out') or [0]):.0f}"),
        ("CPU us/query", lambda r: f"{med(r.metrics.get('cpu_us_per_q')) or 0:.0f}"),
    ]
    res.notes.append(
        "vs best peer = per repetition, this row's queries/s / the best peer's "
        f"({', '.join(live_peers) or 'none available'}) in that same repetition."
    )
    for key in [k for k, _, kind, _ in builders if kind == "pooling"]:
        row = res.rows.get(key)
        if row is None or row.skipped or "vs_best_peer" not in row.ratios:
            continue
        res.targets.append(
            ratio_target(
                key,
                f"{res.name}: queries/s vs best peer",
                ">= 0.95x (noise)",
                row.ratios["vs_best_peer"],
                lambda m: m >= 0.95,
            )
        )
        starved = max(row.metrics.get("starved") or [0])
        res.targets.append(Target(key, f"{res.name}: starved threads", "0", f"{starved:.0f}", starved == 0))


def _mysql_params() -> tuple[dict[str, Any] | None, str]:
    try:
        import MySQLdb
    except Exception as exc:
        return None, f"MySQLdb (mysqlclient) not importable: {exc}"
    host = os.environ.get("BENCH_MYSQL_HOST", "127.0.0.1")
    port = int(os.environ.get("BENCH_MYSQL_PORT", "3306"))
    tried = []
    for user, password in (("test", "test"), ("root", "")):
        params = {
            "host": host,
            "port": port,
            "user": user,
            "password": password,
            "database": "test",
            "connect_timeout": 3,
            "autocommit": True,
        }
        try:
            MySQLdb.connect(**params).close()
            return params, ""
        except Exception as exc:
            tried.append(f"{user}: {exc}")
    return None, f"no MySQL/MariaDB at {host}:{port} ({'; '.join(tried)})"


def _select_1(conn: Any) -> None:
    """The query of both database scenarios, in the DB-API cursor form (DBUtils' wrapper has no
    Connection.execute())."""
    cur = conn.cursor()
    cur.execute("SELECT 1")
    cur.fetchall()
    cur.close()


def _mysql_pooling_builder(params: dict[str, Any]) -> tuple[str, Callable[[], Adapter]]:
    """pooling.mysql.MysqlConnectionPool when it exists, else a plain Pool of MySQLdb."""
    try:
        from pooling.mysql import MysqlConnectionPool
    except Exception:
        MysqlConnectionPool = None
    if MysqlConnectionPool is not None:

        def make() -> Adapter:
            # Same connection settings as every other row (its own default is DictCursor).
            kwargs = {**params, "cursorclass": "MySQLdb.cursors.Cursor"}
            return _PoolingMySQLAdapter(MysqlConnectionPool(POOL_SIZE, kwargs=kwargs))

        return "pooling.mysql.MysqlConnectionPool (with)", make
    import MySQLdb

    def make_plain() -> Adapter:
        return PoolingWithAdapter(POOL_SIZE, lambda: MySQLdb.connect(**params), destroy_session)

    return "pooling Pool(MySQLdb.connect) (with)", make_plain


def scenario_mysql(cfg: Config) -> Result:
    res = Result(
        "mysql", f"mysql: 8 threads run SELECT 1, pool of {POOL_SIZE}", {"threads": 8, "pool_size": POOL_SIZE}
    )
    params, why = _mysql_params()
    if params is None:
        res.skipped = why
        return res
    import MySQLdb

    res.params["server"] = f"{params['host']}:{params['port']} user={params['user']}"
    res.notes.append(
        "every connection autocommit=True with the plain tuple Cursor (MysqlConnectionPool "
        "too); each pool at its defaults otherwise: MysqlConnectionPool checks a session idle "
        ">= 0.5 s and resets from the status flags, SQLAlchemy rolls back on return, DBUtils "
        "pings on checkout and rolls back on return; 'SQLAlchemy (no reset)' is QueuePool "
        "with reset_on_return=None."
    )

    def connect() -> Any:
        return MySQLdb.connect(**params)

    label, make_pooling = _mysql_pooling_builder(params)
    ours: dict[str, tuple[str, Callable[[], Adapter]]] = {"pooling": (label, make_pooling)}
    if label.startswith("pooling.mysql"):  # and the plain Pool over the same driver, for scale
        ours["pooling_plain"] = (
            "pooling Pool(MySQLdb.connect) (with)",
            lambda: PoolingWithAdapter(POOL_SIZE, connect, destroy_session),
        )
    builders = db_builders(
        connect, MySQLdb, ours, peers=("sqlalchemy", "sqlalchemy_noreset", "dbutils", "gcp")
    )
    run_db_scenario(cfg, res, builders, _select_1)
    return res


def _pg_conninfo() -> tuple[str | None, str]:
    try:
        import psycopg
    except Exception as exc:
        return None, f"psycopg not importable: {exc}"
    host = os.environ.get("BENCH_PG_HOST", "127.0.0.1")
    port = os.environ.get("BENCH_PG_PORT", "5432")
    tried = []
    for user in ("postgres", "root"):
        conninfo = f"host={host} port={port} dbname=test user={user} connect_timeout=3"
        try:
            psycopg.connect(conninfo).close()
            return conninfo, ""
        except Exception as exc:
            tried.append(f"{user}: {' '.join(str(exc).split())}")
    return None, f"no PostgreSQL at {host}:{port} ({'; '.join(tried)})"


def scenario_postgres(cfg: Config) -> Result:
    res = Result(
        "postgres",
        f"postgres: 8 threads run SELECT 1 (psycopg 3), pool of {POOL_SIZE}",
        {"threads": 8, "pool_size": POOL_SIZE},
    )
    conninfo, why = _pg_conninfo()
    if conninfo is None:
        res.skipped = why
        return res
    import psycopg

    res.params["server"] = conninfo.replace(" connect_timeout=3", "")
    res.notes.append(
        "every connection autocommit=True; psycopg_pool used via getconn/putconn at its "
        "defaults (it checks the transaction status on return); SQLAlchemy and DBUtils at "
        "their defaults (rollback on return; DBUtils also pings on checkout)."
    )

    def connect() -> Any:
        return psycopg.connect(conninfo, autocommit=True)

    ours: dict[str, tuple[str, Callable[[], Adapter]]] = {
        "pooling": (
            "pooling Pool(psycopg.connect) (with)",
            lambda: PoolingWithAdapter(POOL_SIZE, connect, destroy_session),
        ),
        "psycopg_pool": (
            "psycopg_pool ConnectionPool",
            lambda: _PsycopgPoolAdapter(POOL_SIZE, conninfo, {"autocommit": True}),
        ),
    }
    builders = db_builders(
        connect, psycopg, ours, peers=("psycopg_pool", "sqlalchemy", "sqlalchemy_noreset", "dbutils")
    )
    run_db_scenario(cfg, res, builders, _select_1)
    return res


RUNNERS: dict[str, Callable[[Config], Result]] = {
    "uncontended": scenario_uncontended,
    "hold": scenario_hold,
    "slow_create": scenario_slow_create,
    "churn": scenario_churn,
    "mysql": scenario_mysql,
    "postgres": scenario_postgres,
}

# --------------------------------------------------------------------------------------
# Output: table, JSON, plot
# --------------------------------------------------------------------------------------


def render_table(headers: Sequence[str], body: Sequence[Sequence[str]]) -> str:
    widths = [max(len(h), *(len(r[i]) for r in body)) if body else len(h) for i, h in enumerate(headers)]
    line = "  ".join(h.ljust(w) for h, w in zip(headers, widths, strict=True))
    out = [line, "  ".join("-" * w for w in widths)]
    out += ["  ".join(c.ljust(w) for c, w in zip(r, widths, strict=True)).rstrip() for r in body]
    return "\n".join(out)


def print_result(res: Result) -> None:
    print(f"\n== {res.title}")
    shown = {k: v for k, v in res.params.items() if k not in ("pool_size",)}
    print("   " + ", ".join(f"{k}={v}" for k, v in shown.items()) + f"   ({res.seconds:.1f} s)")
    if res.skipped:
        print(f"   SKIPPED: {res.skipped}")
        return
    headers = ["implementation", *(h for h, _ in res.columns)]
    body = []
    for row in res.rows.values():
        if row.skipped and not row.metrics:
            body.append([row.label, "skipped (see below)"] + [""] * (len(headers) - 2))
            continue
        body.append([row.label, *(get(row) for _, get in res.columns)])
    print(render_table(headers, body))
    for row in res.rows.values():
        if row.skipped:
            print(f"   skipped {row.label}: {row.skipped}")
    for note in res.notes:
        print(f"   note: {note}")


def flag_unmeasured(res: Result) -> None:
    """A pooling row that could not be measured shows up in the targets as n/a, not nowhere."""
    measured = {t.impl for t in res.targets}
    for row in res.rows.values():
        if row.kind == "pooling" and row.skipped and row.key not in measured:
            res.targets.append(Target(row.key, f"{res.name}: not measured", "-", row.skipped, None))


def print_targets(results: Sequence[Result]) -> None:
    targets = [(r.name, t) for r in results for t in r.targets]
    print("\n== targets (pooling)")
    if not targets:
        print("   (none evaluated)")
        return
    body = [
        [t.impl, t.what, t.target, t.measured, {True: "PASS", False: "FAIL", None: "n/a"}[t.ok]]
        for _, t in targets
    ]
    print(render_table(["impl", "target", "wanted", "measured (median [min..max])", "result"], body))
    failed = sum(1 for _, t in targets if t.ok is False)
    print(f"   {len(targets) - failed} of {len(targets)} targets met")


def meta(cfg: Config, argv: Sequence[str]) -> dict[str, Any]:
    dists = (
        "pooling",
        "SQLAlchemy",
        "DBUtils",
        "generic-connection-pool",
        "psycopg",
        "psycopg-pool",
        "mysqlclient",
        "matplotlib",
    )
    return {
        "argv": list(argv),
        "quick": cfg.quick,
        "date": time.strftime("%Y-%m-%dT%H:%M:%S%z"),
        "python": sys.version.split()[0],
        "implementation": platform.python_implementation(),
        "platform": platform.platform(),
        "cpus": os.cpu_count(),
        "switchinterval": sys.getswitchinterval(),
        "versions": {d: version_of(d) for d in dists},
        "pooling_source": pooling_fingerprint(),
    }


def pooling_fingerprint() -> str | None:
    """sha1 of the imported pooling package's .py files: which code was measured."""
    import hashlib

    try:
        import pooling
    except Exception:
        return None
    h = hashlib.sha1()
    for f in sorted(Path(pooling.__file__).parent.glob("*.py")):
        h.update(f.name.encode() + b"\0" + f.read_bytes())
    return h.hexdigest()[:12]


def write_plot(results: Sequence[Result], path: Path) -> str | None:
    try:
        import matplotlib

        matplotlib.use("Agg")
        import matplotlib.pyplot as plt
        from matplotlib.ticker import FuncFormatter
    except Exception as exc:
        return f"matplotlib not available ({exc}); no plot written"
    by = {r.name: r for r in results if not r.skipped}
    panels = [n for n in SCENARIOS if n in by]
    if not panels:
        return "nothing to plot"
    ncols = 3 if len(panels) > 4 else 2 if len(panels) > 1 else 1
    nrows = (len(panels) + ncols - 1) // ncols
    fig, axes = plt.subplots(nrows, ncols, figsize=(6.2 * ncols, 4.4 * nrows), squeeze=False)
    colors = {"floor": "#9e9e9e", "pooling": "#1f77b4", "peer": "#ff7f0e", "baseline": "#d62728"}

    def bars(ax: Any, res: Result, metric: str, *, xlabel: str, title: str, scale: float = 1.0) -> None:
        rows = [r for r in res.rows.values() if r.metrics.get(metric)]
        labels = [r.label for r in rows]
        vals = [summary(r.metrics[metric]) for r in rows]
        meds = [v["median"] * scale for v in vals]
        lo = [(v["median"] - v["min"]) * scale for v in vals]
        hi = [(v["max"] - v["median"]) * scale for v in vals]
        ax.barh(
            range(len(rows)), meds, xerr=[lo, hi], capsize=3, color=[colors.get(r.kind, "#888") for r in rows]
        )
        ax.set_yticks(range(len(rows)), labels, fontsize=8)
        ax.invert_yaxis()
        ax.set_xlabel(xlabel)
        ax.set_title(title, fontsize=10)
        ax.grid(axis="x", alpha=0.3)
        ax.xaxis.set_major_formatter(
            FuncFormatter(lambda v, _: f"{v / 1000:g}k" if abs(v) >= 1000 else f"{v:g}")
        )
        ax.margins(x=0.15)
        for i, (m, v) in enumerate(zip(meds, vals, strict=True)):
            ax.annotate(
                f"{m:,.0f}" if m >= 10 else f"{m:.2f}",
                (v["max"] * scale, i),
                xytext=(5, 0),
                textcoords="offset points",
                va="center",
                fontsize=7,
            )

    for ax, name in zip(axes.flat, panels, strict=False):
        res = by[name]
        if name == "uncontended":
            bars(
                ax,
                res,
                "ns_per_op",
                xlabel="ns per acquire+release (lower is better)",
                title="uncontended, 1 thread",
            )
        elif name == "hold":
            bars(
                ax,
                res,
                "ops_per_s",
                xlabel="ops/s (higher is better)",
                title="hold: 16 threads, pool of 4, 200 us each",
            )
        elif name == "slow_create":
            bars(
                ax,
                res,
                "elapsed_ms",
                xlabel="ms until 8 threads hold one (lower is better)",
                title="slow_create: empty pool of 8, factory 50 ms",
            )
            ax.axvline(SLOW_CREATE_S * 1e3, color="k", ls=":", lw=1)
        elif name == "churn":
            top = 1024.0
            for row in res.rows.values():
                marks = row.extra.get("marks")
                if not marks:
                    continue
                base = marks[0]["traced"]
                ys = [m["traced"] - base for m in marks]
                top = max(top, *ys)
                ax.plot(
                    [m["cycles"] / 1e3 for m in marks],
                    ys,
                    marker=".",
                    label=row.label,
                    lw=2.2 if row.kind == "pooling" else 1,
                    color=colors["pooling"] if row.kind == "pooling" else None,
                    ls="--" if row.key == "pooling_del" else "-",
                )
            ax.set_ylim(-0.05 * top, 1.2 * top)
            ax.set_xlabel("thousand acquire+release cycles")
            ax.set_ylabel("bytes still allocated since the 10% mark")
            ax.set_title(
                f"churn: tracemalloc growth (target: flat; limit {TRACEMALLOC_LIMIT // 1024} KiB)",
                fontsize=10,
            )
            ax.legend(fontsize=7, ncols=2)
            ax.grid(alpha=0.3)
        else:
            bars(
                ax,
                res,
                "qps",
                xlabel="queries/s (higher is better)",
                title=f"{name}: 8 threads SELECT 1, pool of 4",
            )
    for ax in list(axes.flat)[len(panels) :]:
        ax.axis("off")
    fig.suptitle(
        "pooling benchmarks (median, whiskers min..max; "
        f"Python {sys.version.split()[0]}, {os.cpu_count()} CPUs)",
        fontsize=11,
    )
    fig.tight_layout()
    path.parent.mkdir(parents=True, exist_ok=True)
    fig.savefig(path, dpi=110)
    plt.close(fig)
    return None


# --------------------------------------------------------------------------------------
# CLI
# --------------------------------------------------------------------------------------


def results_from_json(doc: dict[str, Any]) -> list[Result]:
    """Enough of the Results saved by --json to draw them again (no table columns)."""
    results = []
    for name, sc in doc["scenarios"].items():
        res = Result(name, sc["title"], sc["params"], skipped=sc["skipped"])
        for key, r in sc["rows"].items():
            res.rows[key] = Row(
                key,
                r["label"],
                r["kind"],
                r["skipped"],
                {m: v["values"] for m, v in r["metrics"].items()},
                {m: v["values"] for m, v in r["ratios"].items()},
                r.get("extra", {}),
            )
        results.append(res)
    return results


def parse_args(argv: Sequence[str]) -> argparse.Namespace:
    p = argparse.ArgumentParser(
        description=__doc__.split("\n\n")[0], formatter_class=argparse.RawDescriptionHelpFormatter
    )
    p.add_argument(
        "--quick", action="store_true", help="small sizes, whole run under 60 s (CI: proves the harness runs)"
    )
    p.add_argument(
        "--scenarios", default=",".join(SCENARIOS), help=f"comma-separated subset of: {', '.join(SCENARIOS)}"
    )
    p.add_argument(
        "--impls",
        default=None,
        help="comma-separated implementation keys to keep (default: all); "
        f"in-memory keys: {', '.join(IMPLS)}",
    )
    p.add_argument("--reps", type=int, default=None, help="override repetitions per scenario")
    p.add_argument("--json", metavar="PATH", type=Path, help="write all results as JSON")
    p.add_argument(
        "--plot",
        metavar="PATH",
        type=Path,
        nargs="?",
        const=DEFAULT_PLOT,
        help=f"draw a PNG (default path: {DEFAULT_PLOT.relative_to(ROOT)})",
    )
    p.add_argument("-v", "--verbose", action="store_true", help="progress on stderr")
    p.add_argument(
        "--replot",
        metavar="JSON",
        type=Path,
        help="draw the --plot PNG from a saved --json file instead of running anything",
    )
    p.add_argument("--churn-child", metavar="IMPL", help=argparse.SUPPRESS)
    p.add_argument("--cycles", type=int, default=0, help=argparse.SUPPRESS)
    return p.parse_args(argv)


def main(argv: Sequence[str] | None = None) -> int:
    argv = list(sys.argv[1:] if argv is None else argv)
    args = parse_args(argv)
    if args.churn_child:
        print(json.dumps(churn_child(args.churn_child, args.cycles)))
        return 0
    if args.replot:
        out = args.plot or DEFAULT_PLOT
        problem = write_plot(results_from_json(json.loads(args.replot.read_text())), out)
        print(problem or f"wrote {out}")
        return 0
    names = [s.strip() for s in args.scenarios.split(",") if s.strip()]
    unknown = [n for n in names if n not in RUNNERS]
    if unknown:
        print(
            f"unknown scenario(s): {', '.join(unknown)}; choose from {', '.join(SCENARIOS)}", file=sys.stderr
        )
        return 2
    impls = None if args.impls is None else {s.strip() for s in args.impls.split(",")}
    cfg = Config(quick=args.quick, reps=args.reps, impls=impls, verbose=args.verbose)
    info = meta(cfg, argv)
    print(
        f"pooling benchmarks{' (quick)' if cfg.quick else ''}: Python {info['python']} "
        f"on {info['platform']}, {info['cpus']} CPUs; pooling {info['versions']['pooling']} "
        f"(source sha1 {info['pooling_source']})"
    )
    t_all = time.perf_counter()
    results: list[Result] = []
    for name in names:
        log(cfg, f"scenario {name}")
        t0 = time.perf_counter()
        try:
            res = RUNNERS[name](cfg)
        except Exception as exc:  # a broken scenario must not hide the others
            res = Result(name, name, {})
            res.skipped = f"crashed: {type(exc).__name__}: {exc}"
        res.seconds = time.perf_counter() - t0
        flag_unmeasured(res)
        results.append(res)
        print_result(res)
        sys.stdout.flush()
    print_targets(results)
    total = time.perf_counter() - t_all
    print(f"\ntotal {total:.1f} s")
    if args.json:
        args.json.parent.mkdir(parents=True, exist_ok=True)
        doc = {
            "meta": {**info, "seconds": round(total, 1)},
            "scenarios": {r.name: r.to_json() for r in results},
        }
        args.json.write_text(json.dumps(doc, indent=1, default=float) + "\n")
        print(f"wrote {args.json}")
    if args.plot:
        problem = write_plot(results, args.plot)
        print(problem or f"wrote {args.plot}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
