"""Leaky program: a module-level list grows on every simulated request.

Usage: python global_list.py [REQUESTS] [ITEM_SIZE]

Each request keeps ITEM_SIZE bytes alive forever in ``_request_log``. Every
request also allocates a larger scratch buffer that is freed again, so a tool
that ranked sites by total allocation (instead of live memory) would point at
the wrong line.
"""

from __future__ import annotations

import sys

REQUESTS = int(sys.argv[1]) if len(sys.argv) > 1 else 200
ITEM_SIZE = int(sys.argv[2]) if len(sys.argv) > 2 else 32 * 1024

_request_log: list[bytes] = []


def handle_request(request_id: int) -> int:
    scratch = bytes(2 * ITEM_SIZE)  # short-lived: freed when the function returns
    tag = request_id.to_bytes(4, "little")
    _request_log.append(tag * (ITEM_SIZE // 4))  # LEAK-SITE
    return len(scratch) + request_id


def main() -> None:
    checksum = 0
    for request_id in range(REQUESTS):
        checksum += handle_request(request_id)
    print(f"handled {REQUESTS} requests, log holds {len(_request_log)} entries")


main()
