"""Workload: object creation.

Creates instances of a small class with ``__dict__``, a class with
``__slots__`` and plain tuples, linking them into short-lived chains that
are dropped right away. About 1% of the batches stay alive until exit.

Usage: python objects.py [SCALE]
"""

from __future__ import annotations

from _scale import read_scale

BASE_ROUNDS = 12000
BATCH = 200
# Kept alive until exit on purpose: something for a leak report to find.
KEPT: list[tuple[Node | None, Point]] = []


class Point:
    def __init__(self, x: int, y: int, label: str) -> None:
        self.x = x
        self.y = y
        self.label = label


class Node:
    __slots__ = ("next", "tag", "value")

    def __init__(self, value: int, next_node: Node | None, tag: tuple[int, int]) -> None:
        self.value = value
        self.next = next_node
        self.tag = tag


def build_batch(seed: int) -> tuple[Node | None, list[Point]]:
    head: Node | None = None
    points: list[Point] = []
    for i in range(BATCH):
        head = Node(seed + i, head, (i, seed))
        points.append(Point(i, seed, f"p{i}"))
    return head, points


def main() -> None:
    rounds = max(1, int(BASE_ROUNDS * read_scale()))
    checksum = 0
    for r in range(rounds):
        head, points = build_batch(r)
        checksum += points[-1].x + (head.value if head else 0)
        if r % 100 == 0:
            KEPT.append((head, points[0]))
    print(f"objects: rounds={rounds} kept={len(KEPT)} checksum={checksum}")


if __name__ == "__main__":
    main()
