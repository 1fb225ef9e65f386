"""Retention benchmark: reference paths and dominators on a heap of a million objects.

Builds, in this process, an application-like heap (a module-level cache of users,
each with orders and line items, around 1.2 million objects the collector sees or
reaches), picks 100 of the deepest objects as "leaked", then times in the same run:

* leaktrace: the C engine (``_core.find_paths``) finding a shortest path from a root
  to each of the 100 objects: one graph build (tp_traverse over the whole heap,
  reverse edges) and one multi-source search, without and with the dominator tree;
* objgraph: ``objgraph.find_backref_chain(obj, objgraph.is_proper_module)`` for the
  same objects, one after the other. Each call scans the heap with
  ``gc.get_referrers`` at every step, so it is given a time budget: the objects it
  finishes within the budget are timed and the rest extrapolated (the table says so).

It also reports leaktrace's analysis memory per object (the peak of its own arrays,
counted by its allocator). A markdown table goes to stdout, progress to stderr.

Usage: python bench/retention.py [--users N] [--budget SECONDS] [--targets N]
"""

from __future__ import annotations

import argparse
import gc
import platform
import sys
import time
import types
from typing import Any

from leaktrace import _core

try:
    import objgraph
except ImportError:  # the table says it was not measured
    objgraph = None


class LineItem:
    __slots__ = ("price", "sku")

    def __init__(self, sku: str, price: float) -> None:
        self.sku = sku
        self.price = price


class Order:
    def __init__(self, number: int) -> None:
        self.number = number
        self.items = [LineItem(f"sku-{number}-{i}", i * 1.5) for i in range(4)]
        self.tags = ("new", number)


class User:
    def __init__(self, uid: int) -> None:
        self.uid = uid
        self.name = f"user-{uid}"
        self.orders = [Order(uid * 10 + k) for k in range(3)]
        self.prefs = {"theme": "dark", "lang": "en", "id": uid}


def build_heap(users: int) -> types.ModuleType:
    """A module ``app.cache`` whose ``_CACHE`` dict holds every user."""
    module = types.ModuleType("app.cache")
    module._CACHE = {f"user:{uid}": User(uid) for uid in range(users)}
    sys.modules["app.cache"] = module
    return module


def pick_targets(module: types.ModuleType, count: int) -> list[Any]:
    cache = module._CACHE
    step = max(1, len(cache) // count)
    keys = list(cache)[::step][:count]
    return [cache[key].orders[2].items[3] for key in keys]


def time_leaktrace(targets: list[Any], dominators: bool) -> dict[str, Any]:
    start = time.perf_counter()
    # All of this thread's frames are the benchmark's own: they hold the targets list.
    result = _core.find_paths(tuple(targets), 1, dominators, -1)
    result["wall_s"] = time.perf_counter() - start
    found = [paths[0] for paths in result["paths"] if paths]
    assert len(found) == len(targets), "every target must have a path"
    assert all(p["root_kind"] == "module" and p["root"] == "app.cache" for p in found), found[:3]
    return result


def time_objgraph(targets: list[Any], budget: float) -> tuple[int, float]:
    """Objects done within the budget and the time they took."""
    done, spent = 0, 0.0
    for obj in targets:
        if spent >= budget:
            break
        start = time.perf_counter()
        chain = objgraph.find_backref_chain(obj, objgraph.is_proper_module, max_depth=20)
        spent += time.perf_counter() - start
        assert len(chain) > 1, "objgraph found no chain"
        done += 1
    return done, spent


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--users", type=int, default=20_000, help="heap size (default 20000)")
    parser.add_argument("--targets", type=int, default=100)
    parser.add_argument("--budget", type=float, default=120.0, help="objgraph's seconds")
    args = parser.parse_args()

    print(f"building the heap ({args.users:,} users)...", file=sys.stderr)
    module = build_heap(args.users)
    targets = pick_targets(module, args.targets)
    gc.collect()
    gc.disable()  # no collection in the middle of a timing (gc.freeze would hide
    # the heap from gc.get_referrers, which objgraph relies on)

    print("leaktrace: paths...", file=sys.stderr)
    paths = time_leaktrace(targets, dominators=False)
    print("leaktrace: paths and dominators...", file=sys.stderr)
    full = time_leaktrace(targets, dominators=True)
    objects = paths["objects"]
    per_object = full["analysis_bytes"] / objects

    rows = [
        ("heap objects in the graph", f"{objects:,} ({paths['edges']:,} references)", ""),
        (
            f"leaktrace: paths for {len(targets)} objects",
            f"{paths['wall_s']:.3f} s",
            f"graph {paths['build_ns'] / 1e9:.3f} s, search and naming "
            f"{paths['paths_ns'] / 1e9:.3f} s",
        ),
        ("leaktrace: dominator tree", f"{full['dominators_ns'] / 1e9:.3f} s", "on the same graph"),
        (
            "leaktrace: analysis memory",
            f"{per_object:.1f} B/object",
            f"peak {full['analysis_bytes'] / 2**20:.1f} MiB of its own arrays",
        ),
    ]
    if objgraph is None:
        rows.append(("objgraph.find_backref_chain", "not measured", "pip install objgraph"))
    else:
        print(f"objgraph: up to {args.budget:.0f} s...", file=sys.stderr)
        done, spent = time_objgraph(targets, args.budget)
        estimate = spent / done * len(targets)
        how = "measured" if done == len(targets) else f"{done} done in the budget, extrapolated"
        rows.append(
            (
                f"objgraph.find_backref_chain, {len(targets)} objects",
                f"{estimate:.1f} s",
                f"{spent / done:.2f} s each; {how}",
            )
        )
        rows.append(
            ("leaktrace vs objgraph (paths)", f"{estimate / paths['wall_s']:.0f} times faster", "")
        )

    print(f"\nCPython {platform.python_version()}, {platform.machine()}, {platform.node()}")
    print("\n| measure | value | note |\n| --- | --- | --- |")
    for name, value, note in rows:
        print(f"| {name} | {value} | {note} |")


if __name__ == "__main__":
    main()
