"""A workload that leaks at five sites, for bench/sampling_accuracy.py.

Request handling churns through short-lived objects; five caches grow without bound
and hold, of the leaked bytes, about 50%, 25%, 15%, 8% and 2%, in blocks of
different sizes. Usage: python leaky_service.py [LEAK_MB] (default 64).
"""

from __future__ import annotations

import sys

SESSIONS: list[bytes] = []
RESPONSES: list[str] = []
EVENTS: list[tuple[int, str, float]] = []
BLOBS: list[bytearray] = []
TOKENS: list[bytes] = []


def handle(i: int) -> None:
    request = {"id": i, "path": f"/items/{i % 97}", "headers": [("k", str(i))] * 4}
    SESSIONS.append(bytes(700))  # 50%
    if i % 2 == 0:
        RESPONSES.append("x" * 650 + str(i))  # 25%
    if i % 4 == 0:
        BLOBS.append(bytearray(1500))  # 15%
    EVENTS.append((i, request["path"], 1.5))  # about 8%: tuple, str and float
    if i % 10 == 0:
        TOKENS.append(bytes(250))  # 2%
    del request


def main() -> None:
    leak_mb = float(sys.argv[1]) if len(sys.argv) > 1 else 64.0
    for i in range(int(leak_mb * 1024 * 1024 / 1400)):
        handle(i)


if __name__ == "__main__":
    main()
