"""Reading captures: stacks, sites and the classification of what is a user's leak.

The C reader (``_core.read_capture``) validates the file and returns its tables;
this module turns them into frames, stacks and sites and decides which sites a
report shows.
"""

from __future__ import annotations

import math
import os
import runpy
from dataclasses import dataclass, field
from pathlib import Path

from . import _core, symbols
from .retention import Retention

CaptureError = _core.CaptureError  # re-exported for the reporters

_PACKAGE_DIR = str(Path(__file__).resolve().parent) + os.sep
_RUNPY_FILES = (os.path.abspath(runpy.__file__), "<frozen runpy>")
_IMPORT_MACHINERY = ("<frozen importlib._bootstrap>", "<frozen importlib._bootstrap_external>")

SNAPSHOT_KINDS = ("interval", "mark", "final")
TRUNCATED_FRAME = 0  # frame id of the marker the format puts below truncated stacks


@dataclass(frozen=True)
class Frame:
    function: str
    file: str
    line: int
    kind: str = "python"  # or "native": a C frame (recorded with --native)

    def to_json(self) -> dict[str, object]:
        return {"function": self.function, "file": self.file, "line": self.line, "kind": self.kind}


@dataclass
class Site:
    """Allocations grouped by their (trimmed) stack, innermost frame first."""

    stack: tuple[Frame, ...]
    bytes: int = 0
    count: int = 0
    alloc_bytes: int = 0
    alloc_count: int = 0
    truncated: bool = False  # outer frames beyond the depth limit were not recorded
    nodes: list[int] = field(default_factory=list, repr=False)  # trace-tree nodes grouped here

    def to_json(self) -> dict[str, object]:
        return {
            "bytes": self.bytes,
            "count": self.count,
            "allocated_bytes": self.alloc_bytes,
            "allocations": self.alloc_count,
            "truncated": self.truncated,
            "stack": [f.to_json() for f in self.stack],
        }


@dataclass
class Excluded:
    """Live memory a leak report leaves out, with the reason."""

    bytes: int = 0
    count: int = 0

    def add(self, site: Site) -> None:
        self.bytes += site.bytes
        self.count += site.count


@dataclass
class Snapshot:
    seq: int
    kind: str
    time_ns: int
    label: str | None
    heap_bytes: int
    heap_count: int
    raw_sites: list[tuple[int, int, int, int, int]] = field(repr=False)
    rss_bytes: int | None = None  # the process's resident set size, when recorded


def _unscale(count: int, scale: int) -> int:
    """A fixed-point block count of a sampled capture, rounded to whole blocks."""
    return (count + scale // 2) // scale


def _is_own_frame(frame: Frame) -> bool:
    return frame.file.startswith(_PACKAGE_DIR) or frame.file in _RUNPY_FILES


def _trim_own_frames(stack: tuple[Frame, ...]) -> tuple[Frame, ...]:
    """Drops leaktrace's and runpy's frames from the outer end of a stack.

    ``leaktrace run`` starts the program from a ``python -c`` stub, whose frame is
    ``<string>`` just outside leaktrace's own frames.
    """
    end = len(stack)
    if end >= 2 and stack[-1].file == "<string>" and _is_own_frame(stack[-2]):
        end -= 1
    while end and _is_own_frame(stack[end - 1]):
        end -= 1
    return stack[:end]


def _is_import_frame(frame: Frame) -> bool:
    return frame.file in _IMPORT_MACHINERY


class Capture:
    """A capture file, read and validated."""

    def __init__(self, path: str | os.PathLike[str], *, allow_partial: bool = False) -> None:
        self.path = os.fspath(path)
        data = _core.read_capture(self.path, allow_partial=allow_partial)
        self.complete: bool = data["complete"]
        self.valid_size: int = data["valid_size"]
        self.file_size: int = data["file_size"]
        self.format_version: tuple[int, int] = data["format_version"]
        self.meta: dict[str, str] = data["meta"]
        self.stats: dict[str, int] = data["stats"] or {}
        self._frames = [Frame(*f) for f in data["frames"]]
        self._symbolize_native_frames(data["native_maps"])
        self._nodes: list[tuple[int, int]] = data["nodes"]
        self._stacks: dict[int, tuple[tuple[Frame, ...], bool]] = {0: ((), False)}
        self.retention = Retention.from_records(data.get("retention", []))
        # Sampled captures (docs/sampling.md) hold estimates, block counts in fixed point.
        self.sampling: dict[str, int] | None = data["sampling"]
        self.parent: dict[str, object] | None = data["parent"]
        self.attached: bool = data["attached"]
        if self.sampling:
            scale = self.sampling["count_scale"]
            for s in data["snapshots"]:
                s["heap_count"] = _unscale(s["heap_count"], scale)
                s["sites"] = [
                    (node, _unscale(lc, scale), lb, _unscale(ac, scale), ab)
                    for node, lc, lb, ac, ab in s["sites"]
                ]
            for key in ("total_allocations", "total_frees"):
                if key in self.stats:
                    self.stats[key] = _unscale(self.stats[key], scale)
        self.snapshots = [
            Snapshot(
                s["seq"],
                SNAPSHOT_KINDS[s["kind"]],
                s["time_ns"],
                s["label"],
                s["heap_bytes"],
                s["heap_count"],
                s["sites"],
                s["rss_bytes"],
            )
            for s in data["snapshots"]
        ]

    def _symbolize_native_frames(
        self, native_maps: list[tuple[int, int, int, bytes, bytes]]
    ) -> None:
        symbolize_native_frames(self._frames, native_maps)

    @property
    def sample_rate(self) -> int:
        """Mean bytes between samples; 0 when every allocation was recorded."""
        return self.sampling["rate"] if self.sampling else 0

    def error_bound(self, nbytes: int) -> int:
        """Two standard deviations of a sampled byte estimate (0 when not sampled).

        The variance of an estimate made of samples of weight w and size s is estimated
        by the sum of w * (w - s), and w - s never exceeds the rate, so rate * estimate
        bounds it (docs/sampling.md).
        """
        return math.ceil(2 * math.sqrt(self.sample_rate * nbytes)) if nbytes > 0 else 0

    @property
    def final(self) -> Snapshot:
        """The last snapshot: taken at stop, or the last one a partial capture holds."""
        return self.snapshots[-1]

    def stack(self, node: int) -> tuple[tuple[Frame, ...], bool]:
        """The recorded stack of a node, innermost frame first, and whether it was truncated."""
        cached = self._stacks.get(node)
        if cached is not None:
            return cached
        # Walk up to the nearest ancestor already built, then build down from it,
        # so that every node's stack is built once (the reader caps the depth).
        chain = []
        n = node
        while n not in self._stacks:  # the root (0) is always there
            chain.append(n)
            n = self._nodes[n][0]
        frames, truncated = self._stacks[n]
        for n in reversed(chain):
            frame = self._nodes[n][1]
            if frame == TRUNCATED_FRAME:
                truncated = True
            else:
                frames = (self._frames[frame], *frames)
            self._stacks[n] = (frames, truncated)
        return self._stacks[node]

    def sites(self, snapshot: Snapshot | None = None) -> list[Site]:
        """Every site of a snapshot with its full stack (nothing trimmed or left out)."""
        snap = snapshot or self.final
        sites = []
        for node, live_count, live_bytes, alloc_count, alloc_bytes in snap.raw_sites:
            stack, truncated = self.stack(node)
            sites.append(
                Site(stack, live_bytes, live_count, alloc_bytes, alloc_count, truncated, [node])
            )
        return sites

    def leaks(
        self, snapshot: Snapshot | None = None, *, include_all: bool = False
    ) -> tuple[list[Site], dict[str, Excluded]]:
        """Live sites grouped by trimmed stack, largest first, and what was left out.

        leaktrace's own frames and runpy's are trimmed from the outer end of each
        stack. Unless include_all is set, allocations made while importing a module
        and allocations with no Python frame (made by the interpreter itself, or by
        threads without the GIL) are left out of the list and summed up instead.
        """
        grouped: dict[tuple[tuple[Frame, ...], bool], Site] = {}
        excluded = {"imports": Excluded(), "no_python_frame": Excluded()}
        # Nodes whose blocks were all freed still count in their group's allocation
        # totals (another instruction on the same line may hold live blocks).
        for site in self.sites(snapshot):
            stack = site.stack if site.truncated else _trim_own_frames(site.stack)
            if not include_all:
                if not site.stack:
                    excluded["no_python_frame"].add(site)
                    continue
                if not stack:
                    continue  # made by leaktrace itself while stopping
                if any(_is_import_frame(f) for f in stack):
                    excluded["imports"].add(site)
                    continue
            key = (stack, site.truncated)
            group = grouped.get(key)
            if group is None:
                group = grouped[key] = Site(key[0], truncated=site.truncated)
            group.bytes += site.bytes
            group.count += site.count
            group.alloc_bytes += site.alloc_bytes
            group.alloc_count += site.alloc_count
            group.nodes.extend(site.nodes)
        live = (g for g in grouped.values() if g.count)
        ranked = sorted(live, key=lambda s: (-s.bytes, -s.count))
        return ranked, excluded


def symbolize_native_frames(
    frames: list[Frame], native_maps: list[tuple[int, int, int, bytes, bytes]]
) -> None:
    """Replaces the raw-address frames of a --native capture by named native frames."""
    native = [i for i, f in enumerate(frames) if f.file == symbols.NATIVE_FILE]
    if not native:
        return
    addresses = {i: int(frames[i].function, 16) for i in native}
    found = symbols.symbolize(addresses.values(), native_maps)
    for i, address in addresses.items():
        s = found[address]
        frames[i] = Frame(s.function, s.file, s.line, "native")


def partial_note(seq: int, time_ns: int, valid_size: int, file_size: int) -> str:
    """The one line that says how far a partial capture reaches (its last snapshot)."""
    return (
        f"partial capture (the tracked process died before stopping): it reaches snapshot "
        f"#{seq} at {time_ns / 1e9:.3f} s; {valid_size} of {file_size} bytes valid"
    )
