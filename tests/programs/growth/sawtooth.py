"""Planted: a batch buffer filled and flushed again and again (memory in use, not a leak).

The buffer holds up to BATCH records, then is written out and cleared; the run ends
with it most of the way full, so at exit it is one of the largest sites.
"""

from __future__ import annotations

import sys

ROUNDS = int(sys.argv[1]) if len(sys.argv) > 1 else 100000
BATCH = 20000

_buffer: list[str] = []
_written = 0


def record(i: int) -> None:
    global _written
    _buffer.append(f"{i:08d}" * 40)  # PLANT: transient
    if len(_buffer) >= BATCH:
        _written += sum(len(r) for r in _buffer)
        _buffer.clear()


def main() -> None:
    for i in range(ROUNDS + BATCH * 4 // 5):
        record(i)
    print(_written > 0)


main()
