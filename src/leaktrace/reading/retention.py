"""Why objects are alive: reference paths from roots, as the C engine found them.

``why(obj)`` analyses the live heap now; a capture written by ``leaktrace run`` holds
the same analysis made when the program ended (record 0x40), for the largest sites,
the leak suspects and the unreachable cycles. This module turns both into ``Path``
objects and renders them the way a person reads references::

    module app.cache → _CACHE['user:42'] → .orders[3] → Order
"""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Any

from .. import _core

ROOT_LABELS = {
    "module": "module",
    "class": "class",
    "frame": "frame",
    "exception": "exception being handled:",
    "external": "held from C or by an untracked object:",
    "garbage": "",
}


@dataclass(frozen=True)
class Path:
    """A chain of references from a root to an object, root first."""

    root_kind: str  # module, class, frame, exception, external, garbage
    root: str
    edges: tuple[tuple[str, str], ...]  # (kind, text): attr, key, index, set_item, ...
    target: str  # the type of the object the path ends at
    object_bytes: int
    retained_bytes: int  # freed with the object (its dominator subtree); 0 when not computed

    @classmethod
    def from_core(cls, raw: dict[str, Any]) -> Path:
        return cls(
            raw["root_kind"],
            raw["root"],
            tuple((kind, text) for kind, text in raw["edges"]),
            raw["target"],
            raw["object_bytes"],
            raw["retained_bytes"],
        )

    def __str__(self) -> str:
        if self.root_kind == "garbage" and not self.edges:
            return f"unreachable cyclic garbage → {self.target}"
        text = f"{ROOT_LABELS[self.root_kind]} {self.root}".strip()
        for i, (kind, name) in enumerate(self.edges):
            text += _edge_text(kind, name, first=i == 0 and self.root_kind == "module")
        return f"{text} → {self.target}"

    def to_json(self) -> dict[str, object]:
        return {
            "root_kind": self.root_kind,
            "root": self.root,
            "edges": [{"kind": kind, "name": name} for kind, name in self.edges],
            "target": self.target,
            "object_bytes": self.object_bytes,
            "retained_bytes": self.retained_bytes,
            "text": str(self),
        }


def _edge_text(kind: str, name: str, *, first: bool) -> str:
    if kind in ("key", "index"):
        return f"[{name}]"
    if kind == "attr":
        return f" → {name}" if first else f" → .{name}"
    if kind == "set_item":
        return " → item of set"
    if kind == "dict_key":
        return f" → key {name}"
    if kind == "closure":
        return f" → closure cell '{name}'"
    if kind == "local":
        return f" → local '{name}'"
    return f" → {name}"


def paths_of(obj: object, *, max_paths: int = 5, caller_frames: int = 1) -> list[Path]:
    """Reference paths that keep obj alive: the shortest from a root first.

    Then one path through each other object that refers to obj, up to max_paths.
    Works with or without tracking. The locals of the caller_frames innermost
    frames of this thread (this function's included) count only when nothing else
    reaches obj. An empty list means obj is referenced from no object the collector
    knows (an int or str held only by C code, say).
    """
    result = _core.find_paths((obj,), max_paths, True, caller_frames + 1)
    return [Path.from_core(p) for p in result["paths"][0]]


@dataclass(frozen=True)
class Suspect:
    """An object that retains a large share of the leaked memory."""

    leaked_bytes: int
    path: Path

    def to_json(self) -> dict[str, object]:
        return {"leaked_bytes": self.leaked_bytes, "path": self.path.to_json()}


@dataclass(frozen=True)
class Cycle:
    """Unreachable objects kept only by reference cycles the collector has not freed.

    Look-alike clusters (made of the same types) are counted together.
    """

    clusters: int
    objects: int
    bytes: int
    sites: tuple[tuple[int, int], ...]  # (node, bytes), the largest first
    path: Path  # once around the cycle, from its first object back to it

    def around(self) -> str:
        text = self.path.root
        for kind, name in self.path.edges:
            text += _edge_text(kind, name, first=False)
        return f"{text} → (back to {self.path.root})" if self.path.edges else text


@dataclass
class Retention:
    """The retention records of a capture."""

    site_paths: dict[int, list[Path]]  # by trace-tree node
    suspects: list[Suspect]
    cycles: list[Cycle]
    summary: dict[str, int]
    # by trace-tree node, as its paths: what holds each sample (captures from 2.1 on)
    site_holders: dict[int, list[Holder]] = field(default_factory=dict)

    @classmethod
    def from_records(cls, records: list[dict[str, Any]]) -> Retention:
        result = cls({}, [], [], {})
        for rec in records:
            what = rec["what"]
            if what == "site":
                result.site_paths.setdefault(rec["node"], []).append(Path.from_core(rec["path"]))
            elif what == "holder":
                holder = Holder.from_core(rec)
                result.site_holders.setdefault(rec["node"], []).append(holder)
            elif what == "suspect":
                result.suspects.append(Suspect(rec["leaked_bytes"], Path.from_core(rec["path"])))
            elif what == "cycle":
                sites = tuple(tuple(s) for s in rec["sites"])
                path = Path.from_core(rec["path"])
                cycle = Cycle(rec["clusters"], rec["objects"], rec["bytes"], sites, path)
                result.cycles.append(cycle)
            elif what == "summary":
                result.summary = rec["summary"]
        return result

    def paths_for(self, nodes: list[int], limit: int = 3) -> list[Path]:
        """Paths of a site's surviving objects, those retaining the most first."""
        paths = [p for n in nodes for p in self.site_paths.get(n, [])]
        paths.sort(key=lambda p: -p.retained_bytes)
        return paths[:limit]

    def holder_for(self, nodes: list[int]) -> Holder | None:
        """What holds a site's objects: the holder of its first sample held by a
        container, else of its first sample; None without HOLDER records."""
        holders = [h for n in nodes for h in self.site_holders.get(n, [])]
        held = [h for h in holders if h.kind != "reference"] or holders
        return held[0] if held else None


# The holder kinds of the HOLDER records (lt_holder_kind in lt_format.h), and the
# name of the bound each bounded kind reads.
HOLDER_KINDS = (
    "reference",
    "dict",
    "sequence",
    "set",
    "collections.deque",
    "functools.lru_cache",
    "re's compiled-pattern cache",
    "capacity",
)
BOUND_NAMES = {
    "collections.deque": "maxlen",
    "functools.lru_cache": "maxsize",
    "re's compiled-pattern cache": "re._MAXCACHE",
    "capacity": "capacity",
}


@dataclass(frozen=True)
class Holder:
    """What holds a site's objects: the container on its retention path that holds the
    most items (src/core/heap/lt_holder.h), with its bound when it has one."""

    kind: str  # one of HOLDER_KINDS
    bounded: bool | None  # True with a bound, False for a deque or lru_cache without one
    bound: int | None  # the bound read (maxsize, maxlen, capacity, re._MAXCACHE)
    entries: int  # the items the holder held when the program ended
    text: str  # the path from its root to the holder
    type: str  # the holder's type ("list", "functools._lru_cache_wrapper", "LRUCache")

    @classmethod
    def from_core(cls, raw: dict[str, Any]) -> Holder:
        kind = HOLDER_KINDS[raw["kind"]]
        bound = raw["bound"] or None
        bounded = None
        if kind in BOUND_NAMES:
            bounded = True if bound else False if kind != "re's compiled-pattern cache" else None
        path = Path.from_core(raw["path"])
        text = str(Path(path.root_kind, path.root, path.edges, "", 0, 0)).rsplit(" → ", 1)[0]
        return cls(kind, bounded, bound, raw["entries"], text, path.target)

    def describe(self, stopped: bool = False) -> str:
        """The holder as the text report says it; stopped: its site plateaued."""
        items = f"{self.entries:,} item{'s' if self.entries != 1 else ''}"
        if self.bounded:
            limit = f"{BOUND_NAMES[self.kind]}={self.bound}"
            what = self.kind if self.kind != "capacity" else f"{self.type} with a capacity"
            return f"{self.text} (bounded: {what}, {items} of {limit})"
        if self.bounded is False:
            unbounded = "maxsize=None" if self.kind == "functools.lru_cache" else "no maxlen"
            return f"{self.text} ({self.kind} with {unbounded}: unbounded, {items})"
        if self.kind == "reference":
            return f"{self.text} (a reference from {self.type})"
        grew = ", stopped growing" if stopped else ""
        return f"{self.text} (a {self.type} of {items}{grew})"

    def to_json(self) -> dict[str, object]:
        return {
            "kind": self.kind,
            "bounded": self.bounded,
            "bound": self.bound,
            "entries": self.entries,
            "type": self.type,
            "text": self.text,
        }
