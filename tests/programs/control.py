"""Control program: lots of short-lived objects and a bounded cache; no leak.

Usage: python control.py [ITERATIONS]

Every object allocated per iteration dies before the next batch; the only
state that survives is an OrderedDict LRU capped at CACHE_LIMIT small entries.
"""

from __future__ import annotations

import sys
from collections import OrderedDict

ITERATIONS = int(sys.argv[1]) if len(sys.argv) > 1 else 100_000
CACHE_LIMIT = 64


class BoundedCache:
    def __init__(self, limit: int) -> None:
        self.limit = limit
        self.entries: OrderedDict[int, str] = OrderedDict()
        self.hits = 0
        self.misses = 0

    def get(self, key: int) -> str:
        value = self.entries.get(key)
        if value is not None:
            self.hits += 1
            self.entries.move_to_end(key)
            return value
        self.misses += 1
        value = f"entry-{key:06d}-" + "v" * 48
        self.entries[key] = value
        if len(self.entries) > self.limit:
            self.entries.popitem(last=False)
        return value


def handle(request_id: int, cache: BoundedCache) -> int:
    request = {"id": request_id, "path": f"/items/{request_id % 500}", "tags": [request_id % 7]}
    key = (request["path"], request_id % 3)
    hot = request_id % 4 != 0
    body = cache.get(request_id % 48 if hot else request_id % 400)
    response = [request["id"], key, len(body)]
    return len(response) + len(request["tags"])


def main() -> None:
    cache = BoundedCache(CACHE_LIMIT)
    total = 0
    batch: list[dict[str, int]] = []
    for request_id in range(ITERATIONS):
        total += handle(request_id, cache)
        batch.append({"n": request_id})
        if len(batch) == 1000:
            scratch = bytes(64 * 1024)  # big but short-lived
            total += len(scratch) // 1024
            batch = []
    print(f"handled {ITERATIONS} requests, total {total}, cache {len(cache.entries)} entries,")
    print(f"hits {cache.hits}, misses {cache.misses}")


main()
