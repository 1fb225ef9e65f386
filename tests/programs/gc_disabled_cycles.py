"""Leaky program: the collector is disabled and every request leaves a reference cycle.

Usage: python gc_disabled_cycles.py [REQUESTS] [PAYLOAD_SIZE]

A request and its session refer to each other; once the caller drops them, only
the cycle keeps them (and the payload) alive, and with gc disabled nothing frees
them. No root reaches this memory.
"""

from __future__ import annotations

import gc
import sys

REQUESTS = int(sys.argv[1]) if len(sys.argv) > 1 else 200
PAYLOAD_SIZE = int(sys.argv[2]) if len(sys.argv) > 2 else 32 * 1024


class Session:
    def __init__(self) -> None:
        self.request: Request | None = None


class Request:
    def __init__(self, request_id: int) -> None:
        self.payload = request_id.to_bytes(4, "little") * (PAYLOAD_SIZE // 4)  # LEAK-SITE
        self.session = Session()
        self.session.request = self


def main() -> None:
    gc.disable()
    served = 0
    for request_id in range(REQUESTS):
        request = Request(request_id)
        served += len(request.payload)
        del request
    print(f"served {REQUESTS} requests ({served} bytes) with the collector off")


main()
