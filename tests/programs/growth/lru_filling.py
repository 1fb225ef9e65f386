"""Planted: a functools.lru_cache(maxsize=4096) that is still filling when the run ends.

Every call brings a new key, so its live bytes rise from start to end as a leak's
would; but the cache cannot hold more than maxsize entries, which the verdict reads
from the cache itself: bounded, not leaking.
"""

from __future__ import annotations

import functools
import sys

CALLS = int(sys.argv[1]) if len(sys.argv) > 1 else 3500


@functools.lru_cache(maxsize=4096)
def render(key: int) -> str:
    return f"<p id={key}>" + "y" * 600 + "</p>"  # PLANT: plateaued


def main() -> None:
    total = 0
    for i in range(CALLS):
        total += len(render(i))
        total += len([str(j) for j in range(100)])
    print(total > 0)


main()
