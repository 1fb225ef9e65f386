"""Planted: a leak in a run of about 0.3 s (no option should be needed to see it)."""

from __future__ import annotations

import time

_kept: list[bytes] = []


def work(i: int) -> int:
    scratch = [str(j) for j in range(200)]
    _kept.append(bytes(512))  # PLANT: leaking
    return len(scratch) + i


def main() -> None:
    end = time.monotonic() + 0.3
    i = 0
    while time.monotonic() < end:
        work(i)
        i += 1
    print(i > 0)


main()
