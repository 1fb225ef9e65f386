"""The sites of a leak report as columns: one row per site, in the report's order.

The text and JSON reports list the last snapshot's sites, leaking ones first when the
capture has a growth series. A capture of a program with many stacks has hundreds of
thousands of them, and a Python object per site (and per growth) would cost most of a
report's time, so :class:`SiteTable` keeps them as arrays: the analyzer's own
(:mod:`.analysis`) in the common case, or arrays made from :class:`~.model.Site`
objects when the sites had to be regrouped in Python (merged captures, native frames
named alike, attached captures). The JSON report writes the arrays in C
(``_core.json_rows``); the text report makes objects for the few rows it shows.

Each row's stack is a node of a tree of frames (``tree_parent``, ``tree_frame``: the
analyzer's trimmed tree, or one built from the sites' stacks), its frames innermost
first from that node to the root.
"""

from __future__ import annotations

from array import array
from bisect import bisect_right
from collections.abc import Callable, Sequence
from dataclasses import dataclass
from operator import itemgetter
from typing import TypeVar

from .analysis import NO_FRAME_ID, NO_ROW, TRUNCATED_ID, Analysis
from .capture import Capture
from .growth import KINDS, LEAKING, MIN_POINTS, NOISE, PLATEAUED, Growth, by_site, order_key
from .growth import trends as classify_rows
from .model import Excluded, Frame, Site

NO_GROWTH = 255  # GrowthColumns.kind of a row without a growth class
T = TypeVar("T")


@dataclass
class GrowthColumns:
    """The growth of each row (Growth's fields, reading/growth.py), as arrays."""

    kind: array[int]  # 'B': index into growth.KINDS, NO_GROWTH for none
    rate: array[float]  # 'd'
    confidence: array[float]  # 'd'
    total: array[int]  # 'q': live bytes at the last point minus at the first
    series_row: array[int]  # 'I': the row of `series` holding this row's series
    series: Sequence[int]  # 'Q' buffer: rows of npoints live bytes
    npoints: int
    unit: str
    counts: dict[str, int]  # sites of each class, every site of the capture counted

    def growth(self, row: int) -> Growth | None:
        kind = self.kind[row]
        if kind == NO_GROWTH:
            return None
        at = self.series_row[row] * self.npoints
        series = tuple(self.series[at : at + self.npoints])
        return Growth(
            KINDS[kind], self.rate[row], self.unit, self.confidence[row], self.total[row], series
        )


class SiteTable:
    """A leak list: per row the figures of a site at the last snapshot, its stack (a
    node of ``tree_parent``/``tree_frame``, frames from ``frames``) and its growth."""

    def __init__(
        self,
        *,
        bytes_: array[int],
        count: array[int],
        alloc_bytes: array[int],
        alloc_count: array[int],
        truncated: array[int],
        stack_node: array[int],
        tree_parent: Sequence[int],
        tree_frame: Sequence[int],
        frames: Sequence[Frame],
        growth: GrowthColumns | None,
        site_ids: array[int],
        analysis: Analysis | None = None,
        sites: list[Site] | None = None,
    ) -> None:
        self.bytes = bytes_
        self.count = count
        self.alloc_bytes = alloc_bytes
        self.alloc_count = alloc_count
        self.truncated = truncated
        self.stack_node = stack_node
        self.tree_parent = tree_parent
        self.tree_frame = tree_frame
        self.frames = frames  # indexed by tree_frame's values
        self.growth = growth
        self.site_ids = site_ids  # Site.site_id of each row
        self._analysis = analysis  # the rows are its sites (site_ids)...
        self._sites = sites  # ...or these

    def __len__(self) -> int:
        return len(self.bytes)

    def stack(self, row: int) -> tuple[Frame, ...]:
        frames = []
        n = self.stack_node[row]
        while self.tree_frame[n] != NO_FRAME_ID:
            f = self.tree_frame[n]
            if f != TRUNCATED_ID:
                frames.append(self.frames[f])
            n = self.tree_parent[n]
        return tuple(frames)

    def nodes(self, row: int) -> list[int]:
        """The capture nodes grouped in a row's site."""
        if self._sites is not None:
            return self._sites[row].nodes
        assert self._analysis is not None
        return self._analysis.nodes_of(self.site_ids[row])

    def site(self, row: int) -> Site:
        if self._sites is not None:
            return self._sites[row]
        return Site(
            self.stack(row),
            self.bytes[row],
            self.count[row],
            self.alloc_bytes[row],
            self.alloc_count[row],
            bool(self.truncated[row]),
            self.nodes(row),
            self.site_ids[row],
        )

    def rows_of_nodes(self, nodes: Sequence[int]) -> dict[int, list[int]]:
        """The rows whose sites hold some of these capture nodes, with those nodes."""
        out: dict[int, list[int]] = {}
        if not nodes:
            return out
        if self._sites is not None:
            wanted = set(nodes)
            for row, site in enumerate(self._sites):
                held = [n for n in site.nodes if n in wanted]
                if held:
                    out[row] = held
            return out
        a = self._analysis
        assert a is not None
        listed = array("I", a.site_nodes)
        starts = a.site_nodes_start
        for n in nodes:
            try:
                at = listed.index(n)
            except ValueError:  # not among the sites' nodes
                continue
            g = bisect_right(starts, at) - 1
            try:
                row = self.site_ids.index(g)
            except ValueError:  # a site that is not in the list
                continue
            out.setdefault(row, []).append(n)
        return out


def site_table(
    capture: Capture, include_all: bool = False
) -> tuple[SiteTable, dict[str, Excluded]]:
    """The last snapshot's sites of a capture, leaking ones first when it has a series
    (growth.rank_key's order), as Capture.leaks and growth.by_site give them; and what
    was left out of the list."""
    a = capture.analysis(include_all=include_all)
    if type(capture).leaks is not Capture.leaks or a.merged_frames or capture.attached:
        sites, excluded = capture.leaks(include_all=include_all)
        return _from_sites(sites, by_site(capture, include_all=include_all)), excluded
    excluded = {k: Excluded(e.bytes, e.count) for k, e in a.excluded.items()}
    return _from_analysis(capture, a), excluded


def _from_analysis(capture: Capture, a: Analysis) -> SiteTable:
    ids = array("I", a.ranked)
    growth = None
    if len(capture.snapshots) >= MIN_POINTS:
        by_id = _growth_of_sites(a)
        kinds, rates = by_id.kind, by_id.rate
        keys = [
            order_key(None if kinds[g] == NO_GROWTH else KINDS[kinds[g]], rates[g], a.live_bytes[g])
            for g in ids
        ]
        ids = array("I", _gather(ids, sorted(range(len(ids)), key=keys.__getitem__)))
        growth = _take(by_id, ids)
    take = _getter(ids)
    return SiteTable(
        bytes_=array("Q", take(a.live_bytes)),
        count=array("Q", take(a.live_count)),
        alloc_bytes=array("Q", take(a.alloc_bytes)),
        alloc_count=array("Q", take(a.alloc_count)),
        truncated=array("B", take(a.tree_truncated)),
        stack_node=ids,
        tree_parent=a.tree_parent,
        tree_frame=a.tree_frame,
        frames=[a.frames[c] for c in a.canonical],
        growth=growth,
        site_ids=ids,
        analysis=a,
    )


def _growth_of_sites(a: Analysis) -> GrowthColumns:
    """growth.by_site as columns: by site id, every site of the analysis."""
    nsites = len(a.rows)
    npoints = len(a.points)
    xs = [a.snapshots[i].time_ns / 1e9 for i in a.points]
    classes, rates, confidences = classify_rows(a.series_bytes, xs)
    kind = array("B", bytes([NO_GROWTH]) * nsites)
    rate = array("d", bytes(8 * nsites))
    confidence = array("d", bytes(8 * nsites))
    total = array("q", bytes(8 * nsites))
    series_row = array("I", a.rows)
    series, raw = a.series_values, a.series_bytes
    width = 8 * npoints
    zero = bytes(width)
    counts = {LEAKING: 0, PLATEAUED: 0, NOISE: 0}
    for g in range(nsites):
        row = series_row[g]
        # A site that never held memory at a point (freed between snapshots) has no
        # growth, as in by_site.
        if row == NO_ROW or (
            raw[row * width : row * width + width] == zero and not a.live_count[g]
        ):
            continue
        kind[g] = classes[row]
        rate[g] = rates[row]
        confidence[g] = confidences[row]
        total[g] = series[row * npoints + npoints - 1] - series[row * npoints]
        counts[KINDS[classes[row]]] += 1
    return GrowthColumns(
        kind, rate, confidence, total, series_row, series, npoints, "second", counts
    )


def _getter(indexes: Sequence[int]) -> Callable[[Sequence[T]], Sequence[T]]:
    """A function that takes the items at these indexes of a sequence, in this order (in
    C: operator.itemgetter)."""
    if len(indexes) > 1:
        return itemgetter(*indexes)
    return lambda values: [values[i] for i in indexes]


def _gather(values: Sequence[T], indexes: Sequence[int]) -> Sequence[T]:
    return _getter(indexes)(values)


def _take(g: GrowthColumns, ids: array[int]) -> GrowthColumns:
    """The columns of these sites, in this order."""
    take = _getter(ids)
    return GrowthColumns(
        array("B", take(g.kind)),
        array("d", take(g.rate)),
        array("d", take(g.confidence)),
        array("q", take(g.total)),
        array("I", take(g.series_row)),
        g.series,
        g.npoints,
        g.unit,
        g.counts,
    )


def _from_sites(sites: list[Site], growth: dict[int, Growth] | None) -> SiteTable:
    """A table of Site objects (regrouped in Python), ranked as growth.rank_key ranks."""
    if growth is not None:
        sites = sorted(
            sites,
            key=lambda s: _site_key(growth.get(s.site_id), s.bytes),
        )
    frames: list[Frame] = []
    frame_ids: dict[Frame, int] = {}
    parent, frame = array("I", [0]), array("I", [NO_FRAME_ID])
    children: dict[tuple[int, int], int] = {}
    stack_node = array("I")
    for s in sites:
        node = 0
        for f in reversed(s.stack):
            fid = frame_ids.get(f)
            if fid is None:
                fid = frame_ids[f] = len(frames)
                frames.append(f)
            child = children.get((node, fid))
            if child is None:
                child = children[node, fid] = len(parent)
                parent.append(node)
                frame.append(fid)
            node = child
        stack_node.append(node)
    return SiteTable(
        bytes_=array("Q", [s.bytes for s in sites]),
        count=array("Q", [s.count for s in sites]),
        alloc_bytes=array("Q", [s.alloc_bytes for s in sites]),
        alloc_count=array("Q", [s.alloc_count for s in sites]),
        truncated=array("B", [s.truncated for s in sites]),
        stack_node=stack_node,
        tree_parent=parent,
        tree_frame=frame,
        frames=frames,
        growth=None if growth is None else _growth_of(sites, growth),
        site_ids=array("q", [s.site_id for s in sites]),
        sites=sites,
    )


def _site_key(g: Growth | None, live_bytes: int) -> tuple[int, float, int]:
    return order_key(None if g is None else g.kind, 0.0 if g is None else g.rate, live_bytes)


def _growth_of(sites: list[Site], growth: dict[int, Growth]) -> GrowthColumns:
    found = [growth.get(s.site_id) for s in sites]
    npoints = max((len(g.series) for g in found if g), default=0)
    series = array("Q")
    rows = array("I")
    for g in found:
        rows.append(len(series) // npoints if g and npoints else NO_ROW)
        if g and npoints:
            series.extend(g.series)
    counts = {LEAKING: 0, PLATEAUED: 0, NOISE: 0}
    for g in growth.values():
        counts[g.kind] += 1
    if any(g and len(g.series) != npoints for g in found):
        raise ValueError("growth series of one leak list have one length")
    units = {g.unit for g in found if g}
    return GrowthColumns(
        array("B", [KINDS.index(g.kind) if g else NO_GROWTH for g in found]),
        array("d", [g.rate if g else 0.0 for g in found]),
        array("d", [g.confidence if g else 0.0 for g in found]),
        array("q", [g.total if g else 0 for g in found]),
        rows,
        series,
        npoints,
        units.pop() if len(units) == 1 else "second",
        counts,
    )
