"""One streamed read of a capture by the C analyzer: everything a report needs.

``_core.read`` (src/core/analyze/lt_analysis.c) reads the capture in two streamed
passes, in memory bounded by the distinct stacks, and folds its trace tree into
trimmed stacks with the one trimming policy of :mod:`.frames` (leaktrace's own frames,
runpy's, the ``python -c`` stub, the import machinery, frameless memory). Each node of
that trimmed tree is a site. :class:`Analysis` holds what came back: per site the
live and allocated figures at the last snapshot, the live ones at the peak snapshot and
at up to two picked snapshots (a diff's sides), the growth series at chosen points, the
capture nodes it holds; the sums left out; the timeline, stats, meta, retention
records. Arrays stay the C arrays (memoryviews); Python objects are made only for what
a report asks for, so a report of the top sites of 200,000 stacks makes few of them.

:class:`~.capture.Capture` and :func:`~.profile.load_profile` are views over it.
"""

from __future__ import annotations

import os
import sys
from collections.abc import Sequence

from .. import _core
from . import frames as policy
from .model import SNAPSHOT_KINDS, Excluded, Frame, Site, Snapshot, unscale
from .symbols import symbolize_native_frames

PROGRESS_DELAY_S = 0.5
NO_FRAME_ID = 0xFFFFFFFF  # the frame of the trimmed tree's root (and of the capture's)
TRUNCATED_ID = 0xFFFFFFFE  # the frame of a truncation marker in the trimmed tree
NO_ROW = 0xFFFFFFFF
NO_SITE = 0xFFFFFFFF  # in node_site: a capture node that no site lists


def _u64(data: bytes) -> memoryview:
    return memoryview(data).cast("Q")


def _u32(data: bytes) -> memoryview:
    return memoryview(data).cast("I")


def _f64(data: bytes) -> memoryview[float]:
    return memoryview(data).cast("d")


def _progress_fd() -> int:
    try:
        return sys.stderr.fileno() if sys.stderr.isatty() else -1
    except (AttributeError, ValueError, OSError):
        return -1


class Analysis:
    """What one pass of the analyzer kept of a capture (see the module's doc).

    `source` is where to read it if not at `path` (an open descriptor's /proc path).
    """

    def __init__(
        self,
        path: str | os.PathLike[str],
        *,
        source: str | None = None,
        allow_partial: bool = False,
        include_all: bool = False,
        picks: Sequence[int] = (),
        points: Sequence[int] | None = None,
        max_points: int = 0,
        raw_snapshot: int | None = None,
    ) -> None:
        self.path = os.fspath(path)
        self.include_all = include_all
        data = _core.read(
            source or self.path,
            allow_partial=allow_partial,
            own_prefix=os.fsencode(policy.PACKAGE_DIR),
            own_files=list(policy.RUNPY_FILES),
            include_all=include_all,
            picks=list(picks),
            points=None if points is None else list(points),
            max_points=max_points,
            raw_snapshot=-2 if raw_snapshot is None else raw_snapshot,
            progress_fd=_progress_fd(),
            progress_delay=PROGRESS_DELAY_S,
        )
        self.complete: bool = data["complete"]
        self.valid_size: int = data["valid_size"]
        self.file_size: int = data["file_size"]
        self.format_version: tuple[int, int] = data["format_version"]
        self.meta: dict[str, str] = data["meta"]
        self.stats: dict[str, int] = data["stats"] or {}
        self.native_maps = data["native_maps"]
        self.retention_records: list[dict[str, object]] = data["retention"]
        self.sampling: dict[str, int] | None = data["sampling"]
        self.parent: dict[str, object] | None = data["parent"]
        self.attached: bool = data["attached"]
        scale = self.sampling["count_scale"] if self.sampling else 0
        if scale:
            for key in ("total_allocations", "total_frees"):
                if key in self.stats:
                    self.stats[key] = unscale(self.stats[key], scale)
        self.snapshots = [
            Snapshot(
                seq,
                SNAPSHOT_KINDS[kind],
                time_ns,
                label,
                heap_bytes,
                unscale(heap_count, scale) if scale else heap_count,
                rss,
            )
            for seq, kind, time_ns, label, heap_bytes, heap_count, rss in data["snapshots"]
        ]
        self.peak_index: int = data["peak_index"]
        # Frames: one per value. Naming native frames can make two equal (two return
        # addresses on one line): `canonical` maps each to the first of its value.
        self.frames = [Frame(*f) for f in data["frames"]]
        symbolize_native_frames(self.frames, self.native_maps)
        self.canonical = list(range(len(self.frames)))
        first: dict[Frame, int] = {}
        for i, f in enumerate(self.frames):
            self.canonical[i] = first.setdefault(f, i)
        self.merged_frames = any(c != i for i, c in enumerate(self.canonical))
        self.node_parent = _u32(data["node_parent"])
        self.node_frame = _u32(data["node_frame"])
        self.tree_parent = _u32(data["tree_parent"])
        self.tree_frame = _u32(data["tree_frame"])
        self.tree_truncated = memoryview(data["tree_truncated"])  # 1 per truncated site
        self.live_count = _u64(data["live_count"])
        self.live_bytes = _u64(data["live_bytes"])
        self.alloc_count = _u64(data["alloc_count"])
        self.alloc_bytes = _u64(data["alloc_bytes"])
        self.peak_count = _u64(data["peak_count"])
        self.peak_bytes = _u64(data["peak_bytes"])
        self.rows = _u32(data["rows"])
        self.site_nodes = _u32(data["site_nodes"])
        self.site_nodes_start = _u32(data["site_nodes_start"])
        self.node_site = _u32(data["node_site"])  # the inverse of site_nodes
        self.ranked = _u32(data["ranked"])
        self.excluded = _excluded(data["excluded"])
        # Each picked snapshot: (count, bytes, alloc_count, alloc_bytes) per site, and
        # its live sites ranked.
        self.picks = {
            index: (_u64(sites), _u32(ranked), _excluded(excluded))
            for index, sites, ranked, excluded in data["picks"]
        }
        self.points: list[int] = data["points"]
        self.work: list[int] = data["work"]
        # Rows of len(points) live bytes, uint64: the analyzer's own array, not a copy.
        self.series_values = _u64(data["series"])
        # The raw snapshot's sites: rows of (node, live_count, live_bytes, alloc_count,
        # alloc_bytes), counts still in fixed point when sampled.
        self._raw = None if data["raw"] is None else _u64(data["raw"])
        self._scale = scale
        # the same rows: each site's cumulative allocated bytes
        self._alloc_series = _u64(data["alloc_series"])
        # The growth verdict of every site, made by the analyzer from its series
        # (src/core/analyze/lt_verdicts.h; reading/growth.py names them), and the leak
        # list: the sites alive at the last snapshot, leaking ones first (rank_key).
        self.verdict_class = memoryview(data["verdict_class"])  # index into CLASSES
        self.verdict_reason = memoryview(data["verdict_reason"])  # into GROWTH_REASONS
        self.verdict_rate = _f64(data["verdict_rate"])
        self.verdict_rate_per_second = _f64(data["verdict_rate_per_second"])
        self.verdict_confidence = _f64(data["verdict_confidence"])
        self.verdict_points = _u32(data["verdict_points"])
        self.verdict_total = memoryview(data["verdict_total"]).cast("q")
        self.leak_order = _u32(data["leak_order"])
        self._stacks: dict[int, tuple[Frame, ...]] = {0: ()}
        self._truncated: dict[int, bool] = {0: False}
        self._node_stacks: dict[int, tuple[tuple[Frame, ...], bool]] = {0: ((), False)}

    @property
    def final(self) -> Snapshot:
        return self.snapshots[-1]

    # ---- stacks ----

    def site_stack(self, site: int) -> tuple[tuple[Frame, ...], bool]:
        """A site's trimmed stack, innermost frame first, and whether it was truncated."""
        stacks, truncated = self._stacks, self._truncated
        if site not in stacks:
            chain = []
            g = site
            while g not in stacks:  # the root (0) is always there
                chain.append(g)
                g = self.tree_parent[g]
            for g in reversed(chain):
                parent = self.tree_parent[g]
                frame = self.tree_frame[g]
                if frame == TRUNCATED_ID:
                    stacks[g] = stacks[parent]
                    truncated[g] = True
                else:
                    stacks[g] = (self.frames[self.canonical[frame]], *stacks[parent])
                    truncated[g] = truncated[parent]
        return stacks[site], truncated[site]

    def node_stack(self, node: int) -> tuple[tuple[Frame, ...], bool]:
        """A capture node's recorded stack (untrimmed) and whether it was truncated."""
        cache = self._node_stacks
        if node not in cache:
            chain = []
            n = node
            while n not in cache:
                chain.append(n)
                n = self.node_parent[n]
            for n in reversed(chain):
                frames, truncated = cache[self.node_parent[n]]
                frame = self.node_frame[n]
                if frame == 0:  # the truncation marker is always frame 0
                    cache[n] = (frames, True)
                else:
                    cache[n] = ((self.frames[self.canonical[frame]], *frames), truncated)
        return cache[node]

    def site_of_node(self, node: int) -> int | None:
        """The site whose nodes (nodes_of) include this capture node, or None."""
        site = self.node_site[node] if 0 <= node < len(self.node_site) else NO_SITE
        return None if site == NO_SITE else site

    def nodes_of(self, site: int) -> list[int]:
        return list(self.site_nodes[self.site_nodes_start[site] : self.site_nodes_start[site + 1]])

    # ---- sites ----

    def site(self, g: int) -> Site:
        stack, truncated = self.site_stack(g)
        return Site(
            stack,
            self.live_bytes[g],
            self.live_count[g],
            self.alloc_bytes[g],
            self.alloc_count[g],
            truncated,
            self.nodes_of(g),
            g,
        )

    def leaks(self) -> list[tuple[int, Site]]:
        """The sites alive at the last snapshot, most bytes first, with their site ids."""
        out = [(g, self.site(g)) for g in self.ranked]
        return _merge_equal(out) if self.merged_frames else out

    def picked(self, index: int) -> tuple[list[Site], dict[str, Excluded]]:
        """The sites alive at picked snapshot `index`, ranked, and what was left out."""
        values, ranked, excluded = self.picks[index]
        out = []
        for g in ranked:
            stack, truncated = self.site_stack(g)
            count, nbytes, alloc_count, alloc_bytes = values[4 * g : 4 * g + 4]
            site = Site(
                stack, nbytes, count, alloc_bytes, alloc_count, truncated, self.nodes_of(g), g
            )
            out.append((g, site))
        sites = [s for _, s in (_merge_equal(out) if self.merged_frames else out)]
        return sites, {k: Excluded(e.bytes, e.count) for k, e in excluded.items()}

    def series(self, g: int) -> list[int] | None:
        row = self.rows[g]
        if row == NO_ROW:
            return None
        n = len(self.points)
        return list(self.series_values[row * n : row * n + n])

    def alloc_series(self, g: int) -> list[int] | None:
        """The site's cumulative allocated bytes at the series points."""
        row = self.rows[g]
        if row == NO_ROW:
            return None
        n = len(self.points)
        return list(self._alloc_series[row * n : row * n + n])

    def raw_sites(self) -> list[Site]:
        """The untrimmed sites of the raw snapshot, one per capture node."""
        raw, scale = self._raw, self._scale
        if raw is None:
            raise ValueError("this analysis kept no raw snapshot")
        out = []
        for i in range(0, len(raw), 5):
            node, live_count, live_bytes, alloc_count, alloc_bytes = raw[i : i + 5]
            if scale:
                live_count, alloc_count = unscale(live_count, scale), unscale(alloc_count, scale)
            stack, truncated = self.node_stack(node)
            out.append(
                Site(stack, live_bytes, live_count, alloc_bytes, alloc_count, truncated, [node])
            )
        return out


def _excluded(raw: dict[str, tuple[int, int]]) -> dict[str, Excluded]:
    return {name: Excluded(nbytes, count) for name, (nbytes, count) in raw.items()}


def _merge_equal(sites: list[tuple[int, Site]]) -> list[tuple[int, Site]]:
    """Sites whose stacks became equal when native frames were named, added up."""
    grouped: dict[tuple[tuple[Frame, ...], bool], tuple[int, Site]] = {}
    for g, site in sites:
        key = (site.stack, site.truncated)
        if key not in grouped:
            grouped[key] = (g, site)
            continue
        group = grouped[key][1]
        group.bytes += site.bytes
        group.count += site.count
        group.alloc_bytes += site.alloc_bytes
        group.alloc_count += site.alloc_count
        group.nodes.extend(site.nodes)
    merged = list(grouped.values())
    merged.sort(key=lambda item: (-item[1].bytes, -item[1].count))
    return merged
