"""Workload: a live heap of more than 1 GB in millions of blocks.

Builds 3.5 million entries (a 240-byte bytes object and an int each: 7 million
live blocks, about 1.1 GB with their lists) and keeps them while it replaces
every fourth entry twice, so that frees and allocations land in a live table
of millions of entries and the node counters of a few sites, where cache
misses show. Neither kind of object is tracked by the cyclic collector, whose
passes would otherwise dominate the run. Everything is dropped at the end.

Usage: python bigheap.py [SCALE]
"""

from __future__ import annotations

from _scale import read_scale

BASE_ENTRIES = 3_500_000
PAYLOAD = 240


def main() -> None:
    n = max(1, int(BASE_ENTRIES * read_scale()))
    blobs = [bytes(PAYLOAD) for _ in range(n)]
    numbers = [i + 1000 for i in range(n)]
    for r in range(2):
        for i in range(r, n, 4):
            blobs[i] = bytes(PAYLOAD)
            numbers[i] = i + 2000 + r
    total = sum(len(b) for b in blobs[::1000]) + sum(numbers[::1000])
    print(f"bigheap: entries={n} checksum={total}")
    del blobs, numbers


if __name__ == "__main__":
    main()
