"""Planted: a slow leak (64 bytes every 25 requests) at a site that also churns.

Every request builds and drops a working set of random size at the same line as the
leak, so the site's live bytes jump up and down by far more than the leak adds between
two snapshots.
"""

from __future__ import annotations

import random
import sys

REQUESTS = int(sys.argv[1]) if len(sys.argv) > 1 else 30000

_leaked: list[bytes] = []
_working: list[bytes] = []


def alloc(n: int) -> bytes:
    return bytes(n)  # PLANT: leaking


def handle(i: int, rng: random.Random) -> None:
    _working[:] = [alloc(64) for _ in range(rng.randrange(40))]
    if i % 25 == 0:
        _leaked.append(alloc(64))


def main() -> None:
    rng = random.Random(7)
    for i in range(REQUESTS):
        handle(i, rng)
    print(len(_leaked) > 0)


main()
