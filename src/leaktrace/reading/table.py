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
from dataclasses import dataclass, replace
from operator import itemgetter
from typing import TypeVar

from .. import _core
from .analysis import NO_FRAME_ID, NO_ROW, TRUNCATED_ID, Analysis
from .capture import Capture
from .growth import (
    CLASSES,
    INSUFFICIENT,
    LEAKING,
    PLATEAUED,
    WORK_UNIT,
    Growth,
    bounded_by_holder,
    by_site,
    rank_key,
    work_axis,
)
from .model import Excluded, Frame, Site
from .retention import Holder, Retention

T = TypeVar("T")
_INSUFFICIENT = CLASSES.index(INSUFFICIENT)
_LEAKING = CLASSES.index(LEAKING)
_PLATEAUED = CLASSES.index(PLATEAUED)
_FEW_POINTS = _core.GROWTH_REASONS.index("few-points")
_BOUNDED_HOLDER = _core.GROWTH_REASONS.index("bounded-holder")


@dataclass
class GrowthColumns:
    """The verdict of each row (Growth's fields, reading/growth.py), as arrays."""

    kind: array[int]  # 'B': index into growth.CLASSES
    reason: array[int]  # 'B': index into _core.GROWTH_REASONS
    rate: array[float]  # 'd': bytes per unit
    rate_per_second: array[float]  # 'd'
    confidence: array[float]  # 'd'
    points: array[int]  # 'Q': snapshots at which the site was seen
    total: array[int]  # 'q': live bytes at the last point minus at the first
    series_row: array[int]  # 'I': the row of `series` holding this row's series, or NO_ROW
    series: Sequence[int]  # 'Q' buffer: rows of npoints live bytes
    npoints: int
    unit: str
    # Rows of sites that got no verdict at all (a merged capture's: no series across
    # processes); their columns read as insufficient at 0 points.
    absent: frozenset[int] = frozenset()

    def growth(self, row: int) -> Growth | None:
        if row in self.absent:
            return None
        at = self.series_row[row]
        n = self.npoints
        series = () if at == NO_ROW else tuple(self.series[at * n : at * n + n])
        return Growth(
            CLASSES[self.kind[row]],
            _core.GROWTH_REASONS[self.reason[row]],
            self.rate[row],
            self.unit,
            self.rate_per_second[row],
            self.confidence[row],
            self.points[row],
            self.total[row],
            series,
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
        growth: GrowthColumns,
        site_ids: array[int],
        holders: dict[int, Holder],
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
        self.holders = holders  # by row: what holds the site's objects (retention)
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
        growth = by_site(capture, include_all=include_all)
        return _from_sites(capture, sites, growth), excluded
    excluded = {k: Excluded(e.bytes, e.count) for k, e in a.excluded.items()}
    return _from_analysis(capture, a), excluded


def verdict_columns(retention: Retention, a: Analysis) -> tuple[GrowthColumns, dict[int, Holder]]:
    """growth_columns with the retention engine's evidence, and the holder of each site
    the retention records explain (both by site id): a site held by a structure with a
    bound is plateaued (``bounded-holder``) rather than leaking or noise."""
    by_id = growth_columns(a)
    held = _holders_by_site(retention, a)
    for g, holder in held.items():
        if holder.bounded and bounded_by_holder(CLASSES[by_id.kind[g]]):
            by_id.kind[g], by_id.reason[g] = _PLATEAUED, _BOUNDED_HOLDER
    return by_id, held


def _from_analysis(capture: Capture, a: Analysis) -> SiteTable:
    by_id, held = verdict_columns(capture.retention, a)
    ids = array("I", a.ranked)
    kinds, rates, live = by_id.kind, by_id.rate, a.live_bytes
    keys = [(kinds[g], -rates[g] if kinds[g] == _LEAKING else 0.0, -live[g]) for g in ids]
    ids = array("I", _gather(ids, sorted(range(len(ids)), key=keys.__getitem__)))
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
        growth=_take(by_id, ids),
        site_ids=ids,
        holders={row: held[g] for row, g in enumerate(ids) if g in held},
        analysis=a,
    )


def _holders_by_site(retention: Retention, a: Analysis) -> dict[int, Holder]:
    """The holder of each site of the analysis whose objects the retention records
    explain, by site id."""
    if not retention.site_holders:
        return {}
    listed = array("I", a.site_nodes)
    starts = a.site_nodes_start
    nodes: dict[int, list[int]] = {}
    for n in retention.site_holders:
        try:
            at = listed.index(n)
        except ValueError:  # not among the sites' nodes (an import's)
            continue
        nodes.setdefault(bisect_right(starts, at) - 1, []).append(n)
    found = {g: retention.holder_for(ns) for g, ns in nodes.items()}
    return {g: h for g, h in found.items() if h is not None}


def growth_columns(a: Analysis) -> GrowthColumns:
    """growth.of_analysis as columns: by site id, every site of the analysis."""
    nsites, npoints = len(a.rows), len(a.points)
    kind = array("B", bytes([_INSUFFICIENT]) * nsites)
    reason = array("B", bytes([_FEW_POINTS]) * nsites)
    rate = array("d", bytes(8 * nsites))
    rate_s = array("d", bytes(8 * nsites))
    confidence = array("d", bytes(8 * nsites))
    points = array("Q", bytes(8 * nsites))
    total = array("q", bytes(8 * nsites))
    series_row = array("I", a.rows)
    series = a.series_values
    if a.series_bytes and npoints:
        seconds = [a.snapshots[i].time_ns / 1e9 for i in a.points]
        classes, reasons, rates, per_second, confidences, seen = _core.growth(
            a.series_bytes, a.alloc_series_bytes, work_axis(a.work), seconds
        )
        nrows = len(classes)
        # Each site takes its row's values (itemgetter, in C); a site without a row
        # takes the sentinel after the last row: insufficient, at 0 points.
        take = _getter([r if r < nrows else nrows for r in series_row])
        last = npoints - 1
        row_total = array(
            "q", [series[r * npoints + last] - series[r * npoints] for r in range(nrows)]
        )
        kind = array("B", take(classes + bytes([_INSUFFICIENT])))
        reason = array("B", take(reasons + bytes([_FEW_POINTS])))
        rate = array("d", take(_doubles(rates)))
        rate_s = array("d", take(_doubles(per_second)))
        confidence = array("d", take(_doubles(confidences)))
        row_points = array("I")
        row_points.frombytes(seen)
        row_points.append(0)
        points = array("Q", take(row_points))
        row_total.append(0)
        total = array("q", take(row_total))
    return GrowthColumns(
        kind, reason, rate, rate_s, confidence, points, total, series_row, series, npoints,
        WORK_UNIT,
    )  # fmt: skip


def _doubles(raw: bytes) -> array[float]:
    """A row column of doubles, with the sentinel row's 0.0 after it."""
    out = array("d")
    out.frombytes(raw)
    out.append(0.0)
    return out


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
        array("B", take(g.reason)),
        array("d", take(g.rate)),
        array("d", take(g.rate_per_second)),
        array("d", take(g.confidence)),
        array("Q", take(g.points)),
        array("q", take(g.total)),
        array("I", take(g.series_row)),
        g.series,
        g.npoints,
        g.unit,
    )


def _from_sites(capture: Capture, sites: list[Site], growth: dict[int, Growth]) -> SiteTable:
    """A table of Site objects (regrouped in Python), ranked as growth.rank_key ranks."""
    retention = capture.retention
    explained = set(retention.site_holders)
    held: dict[int, Holder] = {}
    for s in sites:
        holder = None if explained.isdisjoint(s.nodes) else retention.holder_for(s.nodes)
        if holder is None:
            continue
        held[s.site_id] = holder
        g = growth.get(s.site_id)
        if g is not None and holder.bounded and bounded_by_holder(g.kind):
            growth[s.site_id] = replace(g, kind=PLATEAUED, reason="bounded-holder")
    sites = sorted(sites, key=lambda s: rank_key(growth.get(s.site_id), s.bytes))
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
        growth=_growth_of(sites, growth),
        site_ids=array("q", [s.site_id for s in sites]),
        holders={row: held[s.site_id] for row, s in enumerate(sites) if s.site_id in held},
        sites=sites,
    )


def _growth_of(sites: list[Site], growth: dict[int, Growth]) -> GrowthColumns:
    found = [growth.get(s.site_id) for s in sites]
    npoints = max((len(g.series) for g in found if g), default=0)
    series = array("Q")
    rows = array("I")
    for g in found:
        if g and g.series and len(g.series) == npoints:
            rows.append(len(series) // npoints)
            series.extend(g.series)
        else:
            rows.append(NO_ROW)
    units = {g.unit for g in found if g}
    reasons = _core.GROWTH_REASONS
    return GrowthColumns(
        array("B", [CLASSES.index(g.kind) if g else _INSUFFICIENT for g in found]),
        array("B", [reasons.index(g.reason) if g else _FEW_POINTS for g in found]),
        array("d", [g.rate if g else 0.0 for g in found]),
        array("d", [g.rate_per_second if g else 0.0 for g in found]),
        array("d", [g.confidence if g else 0.0 for g in found]),
        array("Q", [g.points if g else 0 for g in found]),
        array("q", [g.total if g else 0 for g in found]),
        rows,
        series,
        npoints,
        units.pop() if len(units) == 1 else WORK_UNIT,
        frozenset(row for row, g in enumerate(found) if g is None),
    )
