"""Leaky program: an unbounded cache dict held as a class attribute.

Usage: python class_cache.py [REQUESTS] [ENTRY_SIZE]

A new ``ReportRenderer`` is created per request and then dropped, but the cache
lives on the class, and it is keyed by request id, so it never hits and never
shrinks.
"""

from __future__ import annotations

import sys
from typing import ClassVar

REQUESTS = int(sys.argv[1]) if len(sys.argv) > 1 else 200
ENTRY_SIZE = int(sys.argv[2]) if len(sys.argv) > 2 else 32 * 1024


class ReportRenderer:
    _cache: ClassVar[dict[int, bytes]] = {}

    def render(self, request_id: int) -> bytes:
        cached = self._cache.get(request_id)
        if cached is None:
            header = f"report #{request_id}\n".encode()
            cached = header.ljust(ENTRY_SIZE, b".")  # LEAK-SITE
            self._cache[request_id] = cached
        return cached


def main() -> None:
    served = 0
    for request_id in range(REQUESTS):
        renderer = ReportRenderer()
        body = renderer.render(request_id)
        served += len(body)
        del renderer
    print(f"served {REQUESTS} reports ({served} bytes), cache size {len(ReportRenderer._cache)}")


main()
