#!/usr/bin/env python3
"""Profile pooling's uncontended acquire+release with cProfile (top functions).

    python benchmarks/profile_pooling.py                  # `with` and `del`, 200k each
    python benchmarks/profile_pooling.py --idiom del -n 500000 --top 20
    py-spy record -r 2000 -o /tmp/pooling.svg -- python benchmarks/profile_pooling.py --spin 10

``--spin SECONDS`` runs the loop without cProfile for that long (a target for a sampling
profiler such as py-spy, which does not distort the timings the way cProfile does).
"""

from __future__ import annotations

import argparse
import cProfile
import pstats
import sys
import time
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parent))

from _impls import IMPLS, FakeSession, destroy_session


def main() -> int:
    p = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    p.add_argument("--idiom", choices=("with", "del", "both"), default="both")
    p.add_argument("-n", type=int, default=200_000, help="round trips to profile")
    p.add_argument("--top", type=int, default=15, help="rows of the profile to print")
    p.add_argument("--sort", default="tottime", help="pstats sort key (tottime, cumulative)")
    p.add_argument("--spin", type=float, default=0.0, help="run unprofiled for SECONDS")
    args = p.parse_args()
    idioms = ("with", "del") if args.idiom == "both" else (args.idiom,)
    for idiom in idioms:
        adapter = IMPLS[f"pooling_{idiom}"].adapter(4, FakeSession, destroy_session)
        adapter.loop(10_000)
        if args.spin:
            end = time.monotonic() + args.spin
            while time.monotonic() < end:
                adapter.loop(10_000)
            continue
        t0 = time.perf_counter()
        adapter.loop(args.n)
        plain = (time.perf_counter() - t0) / args.n * 1e9
        prof = cProfile.Profile()
        prof.enable()
        adapter.loop(args.n)
        prof.disable()
        print(f"\n=== pooling `{idiom}`: {args.n:,} round trips, {plain:.0f} ns each unprofiled")
        stats = pstats.Stats(prof)
        stats.sort_stats(args.sort).print_stats(args.top)
        adapter.close()
    return 0


if __name__ == "__main__":
    sys.exit(main())
