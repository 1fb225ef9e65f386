"""The JSON report of a capture, for programs (schema in docs/json-schema.md)."""

from __future__ import annotations

import json
import math
import os
from typing import TYPE_CHECKING

from ..reading.capture import Capture
from ..reading.growth import WORK_UNIT, insufficient
from ..reading.model import Site
from ..reading.retention import Cycle, holder_for
from . import ReportFormat, register
from .common import JSON_SCHEMA_VERSION, NO_REFERRER, ranked

if TYPE_CHECKING:
    from ..reading.growth import Growth


def _sampling_json(capture: Capture) -> dict[str, object] | None:
    if not capture.sampling:
        return None
    return {"rate_bytes": capture.sample_rate, "seed": capture.sampling["seed"]}


def render_json(capture: Capture, *, include_all: bool = False) -> str:
    sites, excluded, growth = ranked(capture, include_all)
    stats = capture.stats
    doc: dict[str, object] = {
        "schema_version": JSON_SCHEMA_VERSION,
        "leaks": [],  # written by _leaks_text, spliced in below
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
        "cycles": [_cycle_json(capture, c) for c in capture.retention.cycles],
        "retention_summary": capture.retention.summary or None,
        "sampling": _sampling_json(capture),
        "attached": capture.attached,
        "parent": capture.parent,
    }
    text = json.dumps(doc, indent=2)
    marker = '"leaks": []'
    at = text.index(marker)
    # One join of every piece: the document is written once, not copied per piece.
    pieces = [text[:at], '"leaks": ', *_leaks_pieces(capture, sites, growth)]
    pieces += [text[at + len(marker) :], "\n"]
    return "".join(pieces)


# The document as json.dumps(doc, indent=2) writes it, but each site from a template
# and each distinct frame's text once: with the pure-Python encoder that an indent
# needs, 100,000 sites of eight frames would take most of a report's time.
# tests/e2e/test_reporters.py compares the two texts.
_SITE = (
    "{\n"
    '      "bytes": %d,\n'
    '      "count": %d,\n'
    '      "allocated_bytes": %d,\n'
    '      "allocations": %d,\n'
    '      "truncated": %s,\n'
    '      "stack": %s,\n'
    '      "growth": %s,\n'
    '      "bytes_error": %d,\n'
    '      "holder": %s,\n'
    '      "retention": %s\n'
    "    }"
)
_GROWTH = (
    "{\n"
    '        "class": %s,\n'
    '        "reason": %s,\n'
    '        "explanation": %s,\n'
    '        "rate": %s,\n'
    '        "unit": %s,\n'
    '        "rate_per_second": %s,\n'
    '        "confidence": %s,\n'
    '        "points": %d,\n'
    '        "total_bytes": %d,\n'
    '        "series": %s\n'
    "      }"
)
_string = json.encoder.encode_basestring_ascii


def nested_json(value: object, level: int) -> str:
    """json.dumps(value, indent=2) as it reads nested `level` levels deep."""
    return json.dumps(value, indent=2).replace("\n", "\n" + "  " * level)


def _float(x: float) -> str:
    return float.__repr__(x) if math.isfinite(x) else json.dumps(x)


def _growth_text(g: Growth) -> str:
    """nested_json(g.to_json(), 3), written directly."""
    values = ",\n          ".join(map(str, g.series))
    return _GROWTH % (
        _string(g.kind),
        _string(g.reason),
        _string(g.explanation),
        _float(round(g.rate, 3)),
        _string(g.unit),
        _float(round(g.rate_per_second, 3)),
        _float(round(g.confidence, 4)),
        g.points,
        g.total,
        f"[\n          {values}\n        ]" if g.series else "[]",
    )


def _leaks_pieces(capture: Capture, sites: list[Site], growth: dict[int, Growth]) -> list[str]:
    """The text of the `leaks` list, in pieces to be joined."""
    if not sites:
        return ["[]"]
    # By identity: a capture's stacks share their Frame objects, and hashing a frame
    # by value costs more than writing it.
    frame_text: dict[int, str] = {}
    keep_alive = []
    parts = []
    for s in sites:
        frames = []
        for f in s.stack:
            text = frame_text.get(id(f))
            if text is None:
                text = frame_text[id(f)] = nested_json(f.to_json(), 4)
                keep_alive.append(f)
            frames.append(text)
        g = growth.get(s.site_id) or insufficient(0, WORK_UNIT)
        paths = capture.retention.paths_for(s.nodes)
        holder = holder_for(paths)
        if paths:
            retention = nested_json([p.to_json() for p in paths], 3)
        elif capture.retention.summary:  # analysed, and no referrer found: say so
            retention = nested_json([{"root_kind": "none", "text": NO_REFERRER}], 3)
        else:
            retention = "[]"
        parts.append(
            _SITE
            % (
                s.bytes,
                s.count,
                s.alloc_bytes,
                s.alloc_count,
                "true" if s.truncated else "false",
                "[\n        " + ",\n        ".join(frames) + "\n      ]" if frames else "[]",
                _growth_text(g),
                capture.error_bound(s.bytes),
                nested_json(holder.to_json(), 3) if holder else "null",
                retention,
            )
        )
    pieces = ["[\n    "]
    for part in parts:
        pieces += [part, ",\n    "]
    pieces[-1] = "\n  ]"
    return pieces


def _cycle_json(capture: Capture, cycle: Cycle) -> dict[str, object]:
    return {
        "clusters": cycle.clusters,
        "objects": cycle.objects,
        "bytes": cycle.bytes,
        "sites": [
            {"bytes": nbytes, "stack": [f.to_json() for f in capture.stack(node)[0]]}
            for node, nbytes in cycle.sites
        ],
        "cycle": cycle.path.to_json(),
        "text": cycle.around(),
    }


def _render(capture: Capture, *, top: int, include_all: bool) -> str:
    return render_json(capture, include_all=include_all)


register(ReportFormat("json", "capture", _render))
