"""Reading captures with random access: stacks, sites and which sites a leak list shows.

The C reader (``_core.read_capture``) validates the file and returns its tables;
:class:`Capture` turns them into the model's frames, stacks and sites
(:mod:`.model`), trimmed and classified by the one policy of :mod:`.frames`.
"""

from __future__ import annotations

import math
import os

from .. import _core
from . import frames as policy
from .model import SNAPSHOT_KINDS, TRUNCATED_FRAME, Excluded, Frame, Site, Snapshot, unscale
from .retention import Retention
from .symbols import symbolize_native_frames

CaptureError = _core.CaptureError


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
                s["heap_count"] = unscale(s["heap_count"], scale)
                s["sites"] = [
                    (node, unscale(lc, scale), lb, unscale(ac, scale), ab)
                    for node, lc, lb, ac, ab in s["sites"]
                ]
            for key in ("total_allocations", "total_frees"):
                if key in self.stats:
                    self.stats[key] = unscale(self.stats[key], scale)
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
            stack = site.stack if site.truncated else policy.trim(site.stack)
            if not include_all:
                if not site.stack:
                    excluded["no_python_frame"].add(site)
                    continue
                if not stack:
                    continue  # made by leaktrace itself while stopping
                if policy.in_import(stack):
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
