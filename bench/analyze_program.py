"""The program bench/analyze.py captures: a request loop that allocates tens of
millions of times at a few dozen stacks and keeps a little of it (a slow leak).

Usage: python bench/analyze_program.py ITERATIONS
Each iteration makes about six allocations (a str, an int, a tuple, a list and its
items, a dict entry), so 9 M iterations give more than 50 M allocation events.
"""

from __future__ import annotations

import sys

LEAK_EVERY = 5_000


def parse(i: int) -> tuple[str, int]:
    return str(i), i * 3 + 1_000_000


def render(key: str, value: int) -> list[object]:
    return [key, value, key + "!"]


def handle(i: int, cache: dict[int, list[object]], leaked: list[object]) -> int:
    key, value = parse(i)
    page = render(key, value)
    if i % LEAK_EVERY == 0:
        leaked.append(page)  # the slow leak
    cache[i % 64] = page
    return len(page)


def serve(iterations: int) -> list[object]:
    cache: dict[int, list[object]] = {}
    leaked: list[object] = []
    total = 0
    for i in range(iterations):
        total += handle(i, cache, leaked)
    return leaked


if __name__ == "__main__":
    kept = serve(int(sys.argv[1]))
    print(f"kept {len(kept)} pages")
