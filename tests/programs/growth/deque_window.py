"""Planted: a collections.deque(maxlen=1000) window of recent events, fed all run long.

Full after the first thousand events, each append then drops the oldest one: bounded
by its maxlen, which the verdict reads from the deque.
"""

from __future__ import annotations

import collections
import sys

EVENTS = int(sys.argv[1]) if len(sys.argv) > 1 else 60000

_recent: collections.deque[str] = collections.deque(maxlen=1000)


def observe(i: int) -> None:
    _recent.append(f"event {i:08d} " + "." * 200)  # PLANT: plateaued


def main() -> None:
    for i in range(EVENTS):
        observe(i)
        scratch = [str(j) for j in range(20)]
        del scratch
    print(len(_recent))


main()
