"""A program with about as many distinct stacks as it has leaked objects, for
bench/analyze.py --program stacks: the case where a capture is large because stacks
are many, not events.

Usage: python bench/analyze_many_stacks.py OBJECTS
Twelve functions call each other along random paths six deep; each path ends in an
allocation that is kept, so most of the OBJECTS leaked blocks have a stack of their own.
"""

from __future__ import annotations

import random
import sys
from collections.abc import Callable

kept: list[bytearray] = []
Step = Callable[[list[int], int], None]


def make_steps(count: int) -> list[Step]:
    steps: list[Step] = []
    for i in range(count):
        source = (
            f"def step_{i}(path, depth):\n"
            "    if depth == 0:\n"
            "        kept.append(bytearray(len(path) + 1))\n"
            "        return\n"
            "    STEPS[path[depth - 1]](path, depth - 1)\n"
        )
        namespace: dict[str, object] = {"kept": kept, "STEPS": steps}
        exec(source, namespace)
        steps.append(namespace[f"step_{i}"])  # type: ignore[arg-type]
    return steps


def main(objects: int) -> None:
    steps = make_steps(12)
    rng = random.Random(1)
    for _ in range(objects):
        path = [rng.randrange(12) for _ in range(6)]
        steps[path[-1]](path, 6)


if __name__ == "__main__":
    main(int(sys.argv[1]))
    print(f"kept {len(kept)} blocks")
