"""Planted: a leak over a 30 s run, under steady churn (a benchmark, not in the suite).

Usage: python long_run.py [SECONDS]
"""

from __future__ import annotations

import sys
import time

SECONDS = float(sys.argv[1]) if len(sys.argv) > 1 else 30.0

_registry: dict[int, bytes] = {}


def serve(i: int) -> int:
    rows = [{"n": j, "s": str(j) * 3} for j in range(50)]
    if i % 10 == 0:
        _registry[i] = bytes(256)  # PLANT: leaking
    return len(rows)


def main() -> None:
    end = time.monotonic() + SECONDS
    i = 0
    while time.monotonic() < end:
        serve(i)
        i += 1
    print(i > 0)


main()
