"""A long run: hundreds of millions of allocations under tracking, with the tracker's own
memory sampled as the program's live heap grows and shrinks.

    python tests/stress/long_run.py --allocations 300e6
    make -C tests/stress long-run ALLOCATIONS=300e6

The program builds and drops "waves" of objects (a string, a tuple and an int per
item) from a handful of lines, so the number of distinct stacks is small and fixed
while the number of events is huge. The waves are small, then a few very wide ones,
then small again, twice: the live table must grow with the live blocks and give the
memory back when they are gone; the intern tables (frames, stack nodes, strings)
grow with the distinct stacks only, not with the events.

Prints a table of samples (taken between waves, and at the crest of each wide one)
and a JSON summary; exits 1 if the tracker's memory does not come back down after
the wide waves, if the stacks outnumber what a few lines can make, or if an
allocation was dropped.
"""

from __future__ import annotations

import argparse
import json
import os
import sys
import time
from collections.abc import Callable

import leaktrace
from leaktrace import _core

SMALL_WAVE = 2_000
WIDE_WAVE = 1_000_000
WIDE_WAVES = 3
MAX_NODES = 500


def wave(width: int, at_crest: Callable[[], None] | None = None) -> None:
    items = [("x" * (k % 61 + 1), k + 1_000) for k in range(width)]
    if at_crest is not None:
        at_crest()
    del items


def sample(phase: str, started: float) -> dict[str, object]:
    s = _core.stats()
    return {
        "phase": phase,
        "seconds": round(time.monotonic() - started, 1),
        "allocations": s["total_allocations"],
        "live_blocks": s["heap_count"],
        "tracker_mib": round(s["tracker_current_bytes"] / 2**20, 2),
        "tracker_peak_mib": round(s["tracker_memory_bytes"] / 2**20, 2),
        "nodes": s["nodes"],
        "frames": s["frames"],
        "strings": s["strings"],
    }


def run_small(target: int, phase: str, started: float, rows: list, every: float) -> None:
    next_sample = time.monotonic() + every
    while _core.stats()["total_allocations"] < target:
        for _ in range(50):
            wave(SMALL_WAVE)
        if time.monotonic() >= next_sample:
            rows.append(sample(phase, started))
            print_row(rows[-1])
            next_sample += every
    rows.append(sample(phase, started))
    print_row(rows[-1])


COLUMNS = ("phase", "seconds", "allocations", "live_blocks", "tracker_mib", "nodes", "frames")


def print_row(row: dict[str, object]) -> None:
    print("  ".join(f"{row[c]!s:>12}" for c in COLUMNS), flush=True)


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--allocations", type=float, default=300e6)
    parser.add_argument("--output", default="long_run.ltc")
    parser.add_argument("--every", type=float, default=30.0, help="seconds between samples")
    args = parser.parse_args(argv)
    total = int(args.allocations)

    started = time.monotonic()
    leaktrace.start(args.output)
    rows: list[dict[str, object]] = []
    print("  ".join(f"{c:>12}" for c in COLUMNS))
    # Two identical cycles of small waves, wide waves, small waves: the second
    # must find every stack known and give back what its wide waves took.
    ends, wide = [], []
    for cycle in (1, 2):
        run_small(total * (2 * cycle - 1) // 4, f"{cycle}:small", started, rows, args.every)
        for _ in range(WIDE_WAVES):

            def at_crest(cycle: int = cycle) -> None:
                wide.append(sample(f"{cycle}:crest", started))
                rows.append(wide[-1])
                print_row(wide[-1])

            wave(WIDE_WAVE, at_crest)
        run_small(total * cycle // 2, f"{cycle}:small", started, rows, args.every)
        ends.append(rows[-1])
    stats = leaktrace.stop()
    first, second = ends
    summary = {
        "python": ".".join(map(str, sys.version_info[:3])),
        "allocations": stats["total_allocations"],
        "frees": stats["total_frees"],
        "seconds": round(time.monotonic() - started, 1),
        "tracker_memory_bytes": stats["tracker_memory_bytes"],
        "tracker_mib_at_crests": max(r["tracker_mib"] for r in wide),
        "tracker_mib_end_of_cycles": [first["tracker_mib"], second["tracker_mib"]],
        "nodes_end_of_cycles": [first["nodes"], second["nodes"]],
        "dropped_allocations": stats["dropped_allocations"],
        "capture_bytes": os.path.getsize(args.output),
    }
    print(json.dumps(summary, indent=2))
    problems = []
    if stats["dropped_allocations"]:
        problems.append("allocations were dropped")
    # A few lines of program: a few hundred (code, instruction) stacks at most,
    # however many allocations they make.
    if second["nodes"] > MAX_NODES:
        problems.append(f"{second['nodes']} stack nodes, more than {MAX_NODES}")
    crest = summary["tracker_mib_at_crests"]
    if any(end["tracker_mib"] > max(1.0, crest / 10) for end in ends):
        problems.append(f"the tracker kept its memory after the wide waves ({crest} MiB)")
    for p in problems:
        print(f"long_run: {p}", file=sys.stderr)
    return 1 if problems else 0


if __name__ == "__main__":
    sys.exit(main())
