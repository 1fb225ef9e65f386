"""The JSON report of a capture, for programs (schema in docs/json-schema.md)."""

from __future__ import annotations

import json
import os
from array import array
from collections.abc import Callable
from typing import BinaryIO

from .. import _core
from ..reading.capture import Capture
from ..reading.growth import CLASSES, EXPLANATIONS, MIN_POINTS, GrowthColumns
from ..reading.model import Frame, FrameTable
from ..reading.retention import Cycle
from ..reading.table import SiteTable
from . import ReportFormat, register
from .common import JSON_SCHEMA_VERSION, ranked


def _sampling_json(capture: Capture) -> dict[str, object] | None:
    if not capture.sampling:
        return None
    return {"rate_bytes": capture.sample_rate, "seed": capture.sampling["seed"]}


def render_json(capture: Capture, *, include_all: bool = False) -> str:
    head, table, fields, tail = _document(capture, include_all)
    return "".join((head, _core.json_rows(len(table), fields, 1, None, True), tail))


def stream_json(
    capture: Capture, *, top: int = 10, include_all: bool = False
) -> Callable[[BinaryIO], None]:
    """What render_json returns, written to a binary file in pieces as it is made."""
    head, table, fields, tail = _document(capture, include_all)

    def write(out: BinaryIO) -> None:
        out.write(head.encode())
        _core.json_rows(len(table), fields, 1, out, True)
        out.write(tail.encode())

    return write


def _document(
    capture: Capture, include_all: bool
) -> tuple[str, SiteTable, list[tuple[object, ...]], str]:
    """The text before the leak list, the list's table and fields, and the text after."""
    table, excluded = ranked(capture, include_all)
    frames, numbers = _frame_table(table)
    cycles = [_cycle_json(capture, c, frames) for c in capture.retention.cycles]
    stats = capture.stats
    doc: dict[str, object] = {
        "schema_version": JSON_SCHEMA_VERSION,
        "frames": [],  # one frame a line, as the sites: spliced in below
        "leaks": [],  # written by _core.json_rows, between head and tail
        "peak_bytes": stats.get("peak_bytes"),
        "total_allocated_bytes": stats.get("total_allocated_bytes"),
        "total_allocations": stats.get("total_allocations"),
        "tracker_memory_bytes": stats.get("tracker_memory_bytes"),
        "dropped_allocations": stats.get("dropped_allocations"),
        "python_version": capture.meta.get("python_version"),
        "command": capture.meta.get("command"),
        "max_depth": stats.get("max_depth"),
        "duration_s": stats["duration_ns"] / 1e9 if "duration_ns" in stats else None,
        "live_bytes_at_exit": capture.final.heap_bytes,
        "excluded": {k: {"bytes": e.bytes, "count": e.count} for k, e in excluded.items()},
        "complete": capture.complete,
        "capture": os.path.abspath(capture.path),
        "leak_suspects": [x.to_json() for x in capture.retention.suspects],
        "cycles": cycles,
        "retention_summary": capture.retention.summary or None,
        "sampling": _sampling_json(capture),
        "attached": capture.attached,
        "parent": capture.parent,
    }
    text = json.dumps(doc, indent=2)
    listed = ",\n".join("    " + json.dumps(f.to_json()) for f in frames.frames)
    text = text.replace(
        '"frames": []', f'"frames": [\n{listed}\n  ]' if listed else '"frames": []', 1
    )
    marker = '"leaks": []'
    at = text.index(marker)
    head = text[:at] + '"leaks": '
    return head, table, _site_fields(capture, table, numbers), text[at + len(marker) :] + "\n"


def _frame_table(table: SiteTable) -> tuple[FrameTable, array[int]]:
    """The document's frame table, begun with the leak list's frames in the order its
    stacks first use them, and the number of each of the table's frames (0xFFFFFFFF:
    unused). Frames alike share one number (_core.frame_table numbers them in C)."""
    first: dict[Frame, int] = {}
    same = array("I", [first.setdefault(f, i) for i, f in enumerate(table.frames)])
    index, order = (
        array("I", b)
        for b in _core.frame_table(table.stack_node, table.tree_parent, table.tree_frame, same)
    )
    return FrameTable(table.frames[f] for f in order), index


# Each site is a line of the leak list, what json.dumps(site.to_json() and its extras)
# writes (docs/json-schema.md: one site a line, the rest of the document indented by
# 2), but written in C from the table's columns (_core.json_rows): building a dict per
# site would take most of a report's time at 100,000 sites. The fields and their order
# are Site.to_json's (its stack numbered in the document's frame table), then growth
# (Growth.to_json's), bytes_error, holder and retention; tests/e2e/test_report_writers.py
# compares the text with json.dumps.
_string = json.encoder.encode_basestring_ascii


def _site_fields(
    capture: Capture, table: SiteTable, frame_numbers: array[int]
) -> list[tuple[object, ...]]:
    n = len(table)
    errors = (
        array("Q", map(capture.error_bound, table.bytes))
        if capture.sample_rate
        else array("Q", bytes(8 * n))
    )
    rows, paths, holder_rows, holders = _retention_rows(capture, table)
    return [
        ("bytes", "int", table.bytes),
        ("count", "int", table.count),
        ("allocated_bytes", "int", table.alloc_bytes),
        ("allocations", "int", table.alloc_count),
        ("truncated", "bool", table.truncated),
        (
            "stack",
            "stack",
            table.stack_node,
            table.tree_parent,
            table.tree_frame,
            frame_numbers,
        ),
        _growth_field(table.growth),
        ("bytes_error", "int", errors),
        ("holder", "sparse", holder_rows, holders, "null"),
        ("retention", "sparse", rows, paths, "[]"),
    ]


def _growth_field(g: GrowthColumns) -> tuple[object, ...]:
    """Growth.to_json() of each row (every site has a verdict)."""
    reasons = _core.GROWTH_REASONS
    few = reasons.index("few-points")
    # The explanation depends on the reason, and for too few points on their number:
    # texts[len(reasons) + p] is the one of p points.
    texts = [_string(EXPLANATIONS.get(r, r)) for r in reasons]
    base = len(texts)
    most = max(g.points, default=0)
    for points in range(most + 1):
        plural = "s" if points != 1 else ""
        texts.append(_string(f"seen at {points} snapshot{plural}, {MIN_POINTS} needed"))
    explanation = array("I", g.reason)
    # the rows of too few points, found by bytes.find (a third of a large capture's
    # sites, where a loop over every row costs 20 ms at 200,000 sites)
    reason_bytes, mark = bytes(g.reason), bytes([few])
    at = reason_bytes.find(mark)
    while at >= 0:
        explanation[at] = base + g.points[at]
        at = reason_bytes.find(mark, at + 1)
    fields = [
        ("class", "enum", g.kind, [_string(k) for k in CLASSES]),
        ("reason", "enum", g.reason, [_string(r) for r in reasons]),
        ("explanation", "enum", explanation, texts),
        ("rate", "float", g.rate, 3),
        ("unit", "const", _string(g.unit)),
        ("rate_per_second", "float", g.rate_per_second, 3),
        ("confidence", "float", g.confidence, 4),
        ("points", "int", g.points),
        ("total_bytes", "int", g.total),
        ("series", "series", g.series_row, g.series, g.npoints),
    ]
    return ("growth", "object", None, fields)


def _retention_rows(
    capture: Capture, table: SiteTable
) -> tuple[array[int], list[str], array[int], list[str]]:
    """The rows that have reference paths (retention records) and their paths' JSON, and
    the rows with a holder (HOLDER records), with the holder's JSON."""
    rows, texts = array("I"), []
    found = table.rows_of_nodes(list(capture.retention.site_paths))
    for row in sorted(found):
        paths = capture.retention.paths_for(table.nodes(row))
        if paths:
            rows.append(row)
            texts.append(json.dumps([p.to_json() for p in paths]))
    holder_rows = array("I", sorted(table.holders))
    holders = [json.dumps(table.holders[row].to_json()) for row in holder_rows]
    return rows, texts, holder_rows, holders


def _cycle_json(capture: Capture, cycle: Cycle, frames: FrameTable) -> dict[str, object]:
    return {
        "clusters": cycle.clusters,
        "objects": cycle.objects,
        "bytes": cycle.bytes,
        "sites": [
            {"bytes": nbytes, "stack": frames.numbers(capture.stack(node)[0])}
            for node, nbytes in cycle.sites
        ],
        "cycle": cycle.path.to_json(),
        "text": cycle.around(),
    }


def _render(capture: Capture, *, top: int, include_all: bool) -> str:
    return render_json(capture, include_all=include_all)


register(ReportFormat("json", "capture", _render, stream=stream_json))
