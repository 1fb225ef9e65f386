"""Workload: deep recursion that allocates at every level.

Recursively builds nested lists and tuples 200-500 frames deep, so every
allocation is made under a deep Python stack (deeper than the default
capture depth of 64). One tree stays alive until exit.

Usage: python recursion.py [SCALE]
"""

from __future__ import annotations

import sys
from typing import Any

from _scale import read_scale

BASE_ROUNDS = 7000
MIN_DEPTH = 200
MAX_DEPTH = 500
# Kept alive until exit on purpose: something for a leak report to find.
KEPT: list[tuple[Any, ...]] = []


def build(depth: int, seed: int) -> tuple[Any, ...]:
    payload = [seed, depth, seed ^ depth]
    if depth == 0:
        return (payload,)
    child = build(depth - 1, seed)
    return (payload, child, (depth, seed))


def measure(tree: tuple[Any, ...]) -> int:
    count = 0
    node: tuple[Any, ...] | None = tree
    while node is not None:
        count += len(node[0])
        node = node[1] if len(node) > 1 else None
    return count


def main() -> None:
    sys.setrecursionlimit(MAX_DEPTH + 200)
    rounds = max(1, int(BASE_ROUNDS * read_scale()))
    span = MAX_DEPTH - MIN_DEPTH + 1
    total = 0
    for r in range(rounds):
        tree = build(MIN_DEPTH + (r * 37) % span, r)
        total += measure(tree)
        if r == rounds // 2:
            KEPT.append(tree)
    print(f"recursion: rounds={rounds} kept={len(KEPT)} total={total}")


if __name__ == "__main__":
    main()
