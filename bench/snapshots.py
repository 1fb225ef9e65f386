"""Cost of interval snapshots: ``leaktrace run`` with and without ``--interval``.

Two tables go to stdout:

1. For every workload in ``bench/workloads/``, the median wall time (over --repeat
   interleaved runs) untracked, under ``leaktrace run`` and under
   ``leaktrace run --interval S`` for each S of --intervals, as ratios to untracked,
   with the number of snapshots the capture holds.
2. The cost of one snapshot in-process against the number of distinct sites (stacks
   that have allocated): a snapshot encodes one entry per site, not per live block.

Usage: python bench/snapshots.py [--repeat N] [--scale X] [--intervals S ...]
"""

from __future__ import annotations

import argparse
import os
import statistics
import subprocess
import sys
import tempfile
import time
from pathlib import Path

WORKLOAD_DIR = Path(__file__).resolve().parent / "workloads"


def wall(argv: list[str]) -> float:
    start = time.perf_counter()
    proc = subprocess.run(argv, stdout=subprocess.DEVNULL, stderr=subprocess.PIPE, text=True)
    elapsed = time.perf_counter() - start
    if proc.returncode != 0:
        tail = proc.stderr.strip().splitlines()[-1:] or ["(no output)"]
        raise SystemExit(f"bench: {' '.join(argv)} failed: {tail[0]}")
    return elapsed


def run_table(python: str, repeat: int, scale: str, intervals: list[float]) -> None:
    import leaktrace

    modes = ["untracked", "leaktrace", *(f"--interval {s:g}" for s in intervals)]
    print("| workload | " + " | ".join(modes) + " | snapshots |")
    print("| --- |" + " --- |" * (len(modes) + 1))
    with tempfile.TemporaryDirectory() as tmp:
        for script in sorted(WORKLOAD_DIR.glob("[!_]*.py")):
            capture = os.path.join(tmp, "c.ltc")
            argvs = {"untracked": [python, str(script), scale]}
            run = [python, "-m", "leaktrace", "run", "-q", "-o", capture]
            argvs["leaktrace"] = [*run, str(script), scale]
            for s in intervals:
                argvs[f"--interval {s:g}"] = [*run, "--interval", str(s), str(script), scale]
            times: dict[str, list[float]] = {m: [] for m in modes}
            for _ in range(repeat):
                for mode in modes:
                    times[mode].append(wall(argvs[mode]))
            snapshots = len(leaktrace.load(capture).snapshots)  # of the last interval mode
            base = statistics.median(times["untracked"])
            cells = [f"{base:.2f} s"] + [
                f"{statistics.median(times[m]) / base:.2f}x" for m in modes[1:]
            ]
            print(f"| {script.stem} | " + " | ".join(cells) + f" | {snapshots} |")
            sys.stdout.flush()


def snapshot_table() -> None:
    import leaktrace

    print()
    print("| distinct sites | one snapshot (ms) | capture bytes per snapshot |")
    print("| --- | --- | --- |")
    for nsites in (100, 1_000, 10_000):
        # Each function is a distinct code object, so each allocation is its own site.
        namespace: dict[str, object] = {}
        source = "".join(f"def f{i}():\n    return bytearray(16)\n" for i in range(nsites))
        exec(compile(source, f"<sites {nsites}>", "exec"), namespace)
        with tempfile.TemporaryDirectory() as tmp:
            path = os.path.join(tmp, "s.ltc")
            leaktrace.start(path)
            kept = [namespace[f"f{i}"]() for i in range(nsites)]  # type: ignore[operator]
            leaktrace.snapshot()
            size = os.path.getsize(path)
            costs = []
            for _ in range(20):
                start = time.perf_counter()
                leaktrace.snapshot()
                costs.append(time.perf_counter() - start)
            per_snapshot = (os.path.getsize(path) - size) / 20
            leaktrace.stop()
            del kept
        print(f"| {nsites:,} | {statistics.median(costs) * 1e3:.3f} | {per_snapshot:,.0f} |")


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--repeat", type=int, default=3)
    parser.add_argument("--scale", type=float, default=0.5)
    parser.add_argument("--intervals", type=float, nargs="+", default=[0.1, 0.01])
    args = parser.parse_args()
    print(f"Python {sys.version.split()[0]}, {os.cpu_count()} CPUs, load {os.getloadavg()[0]:.2f}")
    print()
    run_table(sys.executable, args.repeat, str(args.scale), args.intervals)
    snapshot_table()
    return 0


if __name__ == "__main__":
    sys.exit(main())
