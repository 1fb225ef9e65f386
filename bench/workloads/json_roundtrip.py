"""Workload: JSON round trips.

Serialises nested structures with ``json.dumps`` and parses them back with
``json.loads``. A few parsed documents stay alive until exit.

Usage: python json_roundtrip.py [SCALE]
"""

from __future__ import annotations

import json
from typing import Any

from _scale import read_scale

BASE_ROUNDS = 16000
# Kept alive until exit on purpose: something for a leak report to find.
KEPT: list[dict[str, Any]] = []


def make_doc(seed: int) -> dict[str, Any]:
    return {
        "id": seed,
        "name": f"doc-{seed}",
        "tags": [f"t{(seed + i) % 13}" for i in range(8)],
        "items": [
            {"sku": seed * 100 + i, "qty": i, "price": i * 1.25, "ok": i % 3 == 0}
            for i in range(20)
        ],
        "meta": {"nested": {"depth": [1, 2, {"x": seed, "y": None}]}},
    }


def main() -> None:
    rounds = max(1, int(BASE_ROUNDS * read_scale()))
    total_len = 0
    for r in range(rounds):
        text = json.dumps(make_doc(r), sort_keys=True)
        back = json.loads(text)
        total_len += len(text) + len(back["items"])
        if r % 500 == 0:
            KEPT.append(back)
    print(f"json_roundtrip: rounds={rounds} kept={len(KEPT)} total_len={total_len}")


if __name__ == "__main__":
    main()
