"""Why objects are alive: reference paths from roots, as the C engine found them.

``why(obj)`` analyses the live heap now; a capture written by ``leaktrace run`` holds
the same analysis made when the program ended (record 0x40), for the largest sites,
the leak suspects and the unreachable cycles. This module turns both into ``Path``
objects and renders them the way a person reads references::

    module app.cache → _CACHE['user:42'] → .orders[3] → Order
"""

from __future__ import annotations

from dataclasses import dataclass
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

    @classmethod
    def from_records(cls, records: list[dict[str, Any]]) -> Retention:
        result = cls({}, [], [], {})
        for rec in records:
            what = rec["what"]
            if what == "site":
                result.site_paths.setdefault(rec["node"], []).append(Path.from_core(rec["path"]))
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


@dataclass(frozen=True)
class Holder:
    """What holds a site's objects: the container at the end of a retention path."""

    kind: str  # "functools.lru_cache", "re cache", "dict", "sequence", "attribute", ...
    bounded: bool | None  # True when the holder has a bound, None when not known
    bound: int | None  # the bound, when it can be read
    text: str  # the path from its root to the holder

    def describe(self) -> str:
        if self.bounded:
            limit = f", at most {self.bound} entries" if self.bound is not None else ""
            return f"{self.text} (bounded: {self.kind}{limit})"
        if self.kind == "functools.lru_cache":
            return f"{self.text} ({self.kind}; its maxsize is not recorded)"
        return f"{self.text} (a {self.kind})"

    def to_json(self) -> dict[str, object]:
        return {"kind": self.kind, "bounded": self.bounded, "bound": self.bound, "text": self.text}


def holder_for(paths: list[Path]) -> Holder | None:
    """The holder of a site's objects: from the first of its paths that ends in an
    item of a container (or a bounded structure), else from its first path."""
    holders = [holder_of(p) for p in paths]
    for h in holders:
        if h.kind != "reference":
            return h
    return holders[0] if holders else None


def _re_bound() -> int | None:
    import re

    bound = getattr(re, "_MAXCACHE", None)
    return bound if isinstance(bound, int) else None


def holder_of(path: Path) -> Holder:
    """The holder of a path's target: a functools.lru_cache or re's cache anywhere on
    the path (bounded structures the edges name), else the innermost container the path
    goes through (a dict, a sequence, a set), else the reference itself."""
    edges = path.edges
    for i, (kind, name) in enumerate(edges):
        if kind == "other" and "lru_cache" in name:
            head = Path(path.root_kind, path.root, edges[:i], "", 0, 0)
            return Holder("functools.lru_cache", None, None, _path_head(head))
    if (
        path.root_kind == "module"
        and path.root == "re"
        and edges
        and edges[0][1].startswith("_cache")
    ):
        head = Path(path.root_kind, path.root, edges[:1], "", 0, 0)
        return Holder("re's compiled-pattern cache", True, _re_bound(), _path_head(head))
    # The innermost container on the path: what holds many objects like this one.
    kinds = {"key": "dict", "dict_key": "dict", "index": "sequence", "set_item": "set"}
    for i in range(len(edges) - 1, -1, -1):
        if edges[i][0] in kinds:
            head = Path(path.root_kind, path.root, edges[:i], "", 0, 0)
            return Holder(kinds[edges[i][0]], None, None, _path_head(head))
    head = Path(path.root_kind, path.root, edges, "", 0, 0)
    return Holder("reference", None, None, _path_head(head))


def _path_head(path: Path) -> str:
    """A path's text without its target."""
    return str(path).rsplit(" → ", 1)[0]
