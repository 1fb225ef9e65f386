"""The JSON report of a capture, for programs (schema in docs/json-schema.md)."""

from __future__ import annotations

import json
import os
from typing import TYPE_CHECKING

from ..reading.capture import Capture
from ..reading.model import Site
from ..reading.retention import Cycle
from . import ReportFormat, register
from .common import JSON_SCHEMA_VERSION, ranked

if TYPE_CHECKING:
    from ..reading.growth import Growth, SiteKey


def _site_json(site: Site, growth: dict[SiteKey, Growth] | None) -> dict[str, object]:
    doc = site.to_json()
    site_growth = growth.get((site.stack, site.truncated)) if growth else None
    doc["growth"] = site_growth.to_json() if site_growth else None
    return doc


def _sampling_json(capture: Capture) -> dict[str, object] | None:
    if not capture.sampling:
        return None
    return {"rate_bytes": capture.sample_rate, "seed": capture.sampling["seed"]}


def render_json(capture: Capture, *, include_all: bool = False) -> str:
    sites, excluded, growth = ranked(capture, include_all)
    stats = capture.stats
    doc: dict[str, object] = {
        "schema_version": JSON_SCHEMA_VERSION,
        "leaks": [
            {
                **_site_json(s, growth),
                "bytes_error": capture.error_bound(s.bytes),
                "retention": _site_retention(capture, s),
            }
            for s in sites
        ],
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
    return json.dumps(doc, indent=2) + "\n"


def _site_retention(capture: Capture, site: Site) -> list[dict[str, object]]:
    return [p.to_json() for p in capture.retention.paths_for(site.nodes)]


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
