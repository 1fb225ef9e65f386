"""Planted: functools.lru_cache(maxsize=256) fed new keys: full early, bounded after."""

from __future__ import annotations

import functools
import sys

CALLS = int(sys.argv[1]) if len(sys.argv) > 1 else 60000


@functools.lru_cache(maxsize=256)
def render(key: int) -> str:
    return f"<div id={key}>" + "x" * 300 + "</div>"  # PLANT: plateaued


def main() -> None:
    total = 0
    for i in range(CALLS):
        total += len(render(i % 5000))
    print(total > 0)


main()
