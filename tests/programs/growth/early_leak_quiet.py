"""Planted: a leak while serving requests, then a long export phase that leaks nothing.

Each of the first REQUESTS requests keeps a record in ``_sessions``; the export that
follows allocates as much again in temporary JSON text, none of it kept. Judged by
time or by its tail alone the leak looks "plateaued": it stopped growing at the end.
"""

from __future__ import annotations

import json
import sys

REQUESTS = int(sys.argv[1]) if len(sys.argv) > 1 else 6000

_sessions: list[dict[str, object]] = []


def handle(i: int) -> int:
    rendered = [f"{i}:{j}" for j in range(60)]  # the request's own work, freed
    _sessions.append({"id": i, "payload": "s" * 400})  # PLANT: leaking
    return len(rendered)


def export() -> int:
    size = 0
    for _ in range(4):
        for start in range(0, len(_sessions), 500):
            size += len(json.dumps(_sessions[start : start + 500]))
    return size


def main() -> None:
    for i in range(REQUESTS):
        handle(i)
    print(export() > 0)


main()
