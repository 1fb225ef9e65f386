"""Planted: an LRU in the manner of SQLAlchemy's compiled cache (sqlalchemy.util.LRUCache).

Entries go into a plain dict; when it holds more than capacity * (1 + threshold)
entries the least recently used ones are pruned down to capacity. Its size saws
between capacity and 1.5 x capacity: bounded, never released.
"""

from __future__ import annotations

import sys

STATEMENTS = int(sys.argv[1]) if len(sys.argv) > 1 else 40000


class LRUCache:
    def __init__(self, capacity: int = 500, threshold: float = 0.5) -> None:
        self.capacity = capacity
        self.threshold = threshold
        self._data: dict[str, list[object]] = {}
        self._counter = 0

    def get(self, key: str) -> object | None:
        item = self._data.get(key)
        if item is None:
            return None
        self._counter += 1
        item[2] = self._counter
        return item[1]

    def put(self, key: str, value: object) -> None:
        self._counter += 1
        self._data[key] = [key, value, self._counter]
        if len(self._data) > self.capacity * (1 + self.threshold):
            by_age = sorted(self._data.values(), key=lambda item: item[2], reverse=True)
            for item in by_age[self.capacity :]:
                del self._data[item[0]]  # type: ignore[arg-type]


_compiled = LRUCache()


def compile_statement(i: int) -> object:
    key = f"SELECT * FROM t WHERE id = :{i % 3000}"
    found = _compiled.get(key)
    if found is None:
        found = ("compiled", key * 8)  # PLANT: plateaued
        _compiled.put(key, found)
    return found


def main() -> None:
    for i in range(STATEMENTS):
        compile_statement(i * 7919)
    print(len(_compiled._data) > 0)


main()
