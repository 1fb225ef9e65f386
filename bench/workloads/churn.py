"""Workload: dict and list churn.

Builds and discards dicts and lists: literals, ``update``, appends,
comprehensions, slicing and sorting. A small cache stays alive until exit.

Usage: python churn.py [SCALE]
"""

from __future__ import annotations

from _scale import read_scale

BASE_ROUNDS = 11000
ROWS = 120
# Kept alive until exit on purpose: something for a leak report to find.
CACHE: dict[int, list[int]] = {}


def one_round(r: int) -> int:
    rows: list[dict[str, int]] = []
    for i in range(ROWS):
        row = {"id": i, "round": r, "sq": i * i}
        row.update({f"k{i % 7}": i, f"m{i % 5}": r})
        rows.append(row)
    evens = [row for row in rows if row["id"] % 2 == 0]
    index = {row["id"]: row for row in evens}
    squares = sorted((row["sq"] for row in rows), reverse=True)
    chunks = [squares[i : i + 10] for i in range(0, len(squares), 10)]
    buf: list[int] = []
    for chunk in chunks:
        buf.extend(chunk)
        buf.append(len(chunk))
    return len(index) + len(buf) + sum(squares[:3])


def main() -> None:
    rounds = max(1, int(BASE_ROUNDS * read_scale()))
    total = 0
    for r in range(rounds):
        total += one_round(r)
        if r % 50 == 0:
            CACHE[r] = [r] * 16
    print(f"churn: rounds={rounds} cached={len(CACHE)} total={total}")


if __name__ == "__main__":
    main()
