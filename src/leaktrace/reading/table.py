"""The sites of a leak report as columns: one row per site, in the report's order.

The text and JSON reports list the last snapshot's sites, leaking ones first when the
capture has a growth series. A capture of a program with many stacks has hundreds of
thousands of them, and a Python object per site (and per growth) would cost most of a
report's time, so :class:`SiteTable` keeps them as arrays: the analyzer's own
(:mod:`.analysis`) in the common case, or arrays made from :class:`~.model.Site`
objects when the sites had to be regrouped in Python (merged captures, native frames
named alike, attached captures). In the common case the analyzer has also classed
every site and ordered the list (``Analysis.leak_order``, growth.columns_of), and
the table gathers its columns in that order in C (``_core.take``). The JSON report
writes the arrays in C (``_core.json_rows``); the text report makes objects for the
few rows it shows.

Each row's stack is a node of a tree of frames (``tree_parent``, ``tree_frame``: the
analyzer's trimmed tree, or one built from the sites' stacks), its frames innermost
first from that node to the root.
"""

from __future__ import annotations

from array import array
from collections.abc import Sequence
from dataclasses import replace
from typing import Any

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
    GrowthColumns,
    bounded_by_holder,
    by_site,
    columns_of,
    rank_key,
)
from .model import Excluded, Frame, Site
from .retention import Holder, Retention

_INSUFFICIENT = CLASSES.index(INSUFFICIENT)
_LEAKING = CLASSES.index(LEAKING)
_PLATEAUED = CLASSES.index(PLATEAUED)
_FEW_POINTS = _core.GROWTH_REASONS.index("few-points")
_BOUNDED_HOLDER = _core.GROWTH_REASONS.index("bounded-holder")


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
        tree_parent: memoryview | array[int],
        tree_frame: memoryview | array[int],
        frames: Sequence[Frame],
        growth: GrowthColumns,
        site_ids: array[int],
        holders: dict[int, Holder] | None = None,
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
        self.holders = holders or {}  # by row: what holds the site's objects (retention)
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
        by_site: dict[int, list[int]] = {}
        for n in nodes:
            g = a.site_of_node(n)
            if g is not None:  # else not among the sites' nodes
                by_site.setdefault(g, []).append(n)
        if by_site:
            where = _positions(self.site_ids, len(a.live_bytes))
            for g, held in by_site.items():
                if where[g] != NO_ROW:  # else a site that is not in the list
                    out[where[g]] = held
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
        return _from_sites(capture.retention, sites, growth), excluded
    excluded = {k: Excluded(e.bytes, e.count) for k, e in a.excluded.items()}
    return _from_analysis(capture, a), excluded


def _from_analysis(capture: Capture, a: Analysis) -> SiteTable:
    """The analyzer's leak list (Analysis.leak_order), its columns gathered in C; sites
    re-classed by their holders' bounds (bounded_sites) move to the plateaued ones."""
    ids = array("I")
    ids.frombytes(a.leak_order.cast("B"))
    held = holders_by_site(capture.retention, a)
    moved = bounded_sites(held, a)
    if moved:
        ids = _reordered(ids, moved, a)
    g = columns_of(a)
    kind, reason = _take(a.verdict_class, ids), _take(a.verdict_reason, ids)
    where = _positions(ids, len(a.live_bytes)) if held else None
    # the rows of the held sites (a held site may be left out of the list)
    rows = {sid: where[sid] for sid in held if where[sid] != NO_ROW} if where is not None else {}
    for sid in moved:
        if sid in rows:
            kind[rows[sid]], reason[rows[sid]] = _PLATEAUED, _BOUNDED_HOLDER
    growth = GrowthColumns(
        kind,
        reason,
        _take(a.verdict_rate, ids),
        _take(a.verdict_rate_per_second, ids),
        _take(a.verdict_confidence, ids),
        _take(a.verdict_points, ids),
        _take(a.verdict_total, ids),
        _take(a.rows, ids),
        g.series,
        g.npoints,
        g.unit,
    )
    return SiteTable(
        bytes_=_take(a.live_bytes, ids),
        count=_take(a.live_count, ids),
        alloc_bytes=_take(a.alloc_bytes, ids),
        alloc_count=_take(a.alloc_count, ids),
        truncated=_take(a.tree_truncated, ids),
        stack_node=ids,
        tree_parent=a.tree_parent,
        tree_frame=a.tree_frame,
        frames=[a.frames[c] for c in a.canonical],
        growth=growth,
        site_ids=ids,
        holders={rows[sid]: h for sid, h in held.items() if sid in rows},
        analysis=a,
    )


def holders_by_site(retention: Retention, a: Analysis) -> dict[int, Holder]:
    """The holder of each site of the analysis whose objects the retention records
    explain, by site id."""
    if not retention.site_holders:
        return {}
    nodes: dict[int, list[int]] = {}
    for n in retention.site_holders:
        g = a.site_of_node(n)
        if g is not None:  # else not among the sites' nodes (an import's)
            nodes.setdefault(g, []).append(n)
    found = {g: retention.holder_for(ns) for g, ns in nodes.items()}
    return {g: h for g, h in found.items() if h is not None}


def bounded_sites(held: dict[int, Holder], a: Analysis) -> set[int]:
    """The sites (ids) the analyzer classed leaking or noise whose holder has a bound:
    plateaued instead, reason ``bounded-holder`` (growth.bounded_by_holder)."""
    kinds = a.verdict_class
    return {g for g, h in held.items() if h.bounded and bounded_by_holder(CLASSES[kinds[g]])}


def _reordered(ids: array[int], moved: set[int], a: Analysis) -> array[int]:
    """The leak list with the moved sites among the sites that are not leaking, which
    are ordered by bytes (then blocks), as the analyzer orders them."""
    kinds, live, count = a.verdict_class, a.live_bytes, a.live_count
    rest = [g for g in ids if g not in moved]
    start = next((i for i, g in enumerate(rest) if kinds[g] != _LEAKING), len(rest))
    block = sorted([*rest[start:], *moved], key=lambda g: (-live[g], -count[g]))
    return array("I", [*rest[:start], *block])


def _positions(ids: array[int], size: int) -> memoryview:
    """The row of each site id below size in ids, NO_ROW for one not there (in C)."""
    return memoryview(_core.positions(ids, size)).cast("I")


def _take(values: memoryview[Any], ids: array[int]) -> array[Any]:
    """The values at these site ids, in their order (in C: _core.take)."""
    out = array(values.format)
    out.frombytes(_core.take(values, ids))
    return out


def _from_sites(retention: Retention, sites: list[Site], growth: dict[int, Growth]) -> SiteTable:
    """A table of Site objects (regrouped in Python), ranked as growth.rank_key ranks,
    with the holders' evidence as _from_analysis takes it."""
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
