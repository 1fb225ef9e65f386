"""One self-contained HTML file: icicle graphs, a sortable leak-site table, a timeline.

Everything is inline (report.css and report.js from ``assets/``, written for this
project), so the file works offline and can be mailed or attached to a ticket. The data
is one compact JSON document in ``<script id="lt-data">``; its size grows with the
distinct stacks, not with the number of allocations:

- ``frames``: ``[function, file, line, kind]``, kind 0 Python, 1 native, 2 a marker
  (``[truncated]``, ``[no Python frame]``).
- ``tree``: the stacks merged from the outermost frame (node 0 is the root), as
  parallel arrays ``parent`` and ``frame`` with each node's own ``leaked`` and
  ``peak`` bytes and block counts (``leakedCount``, ``peakCount``); the page sums them
  up the tree.
- ``sites``: the JSON report's leak sites (docs/json-schema.md) with stacks as frame
  indexes, so every key the JSON report has (``growth``, ``retention``...) reaches the
  table. At most MAX_SITES, the largest.
- ``timeline``: ``[time_s, heap_bytes, rss_bytes or null, seq, kind, label]`` per
  snapshot.
"""

from __future__ import annotations

import html
import json
from importlib import resources
from typing import Any

from ..capture import Capture, Frame
from ..report import render
from .model import FRAME_KINDS, Profile, frame_kind

MAX_SITES = 500
_KIND_MARKER = len(FRAME_KINDS)
TRUNCATED = "[truncated]"
NO_FRAME = "[no Python frame]"


class _Frames:
    def __init__(self) -> None:
        self.rows: list[list[Any]] = []
        self.index: dict[tuple[str, str, int, int], int] = {}

    def add(self, function: str, file: str, line: int, kind: int) -> int:
        key = (function, file, line, kind)
        i = self.index.get(key)
        if i is None:
            i = self.index[key] = len(self.rows)
            self.rows.append([function, file, line, kind])
        return i

    def frame(self, frame: Frame) -> int:
        return self.add(frame.function, frame.file, frame.line, _kind_code(frame))


def _kind_code(frame: Frame) -> int:
    return FRAME_KINDS.index(frame_kind(frame))


def _tree(profile: Profile, frames: _Frames) -> dict[str, list[int]]:
    parent, frame = [0], [-1]
    values: dict[str, list[int]] = {k: [0] for k in ("leaked", "leakedCount", "peak", "peakCount")}
    children: dict[tuple[int, int], int] = {}
    for sample in profile.samples:
        if not (sample.live_bytes or sample.peak_bytes):
            continue
        path = [frames.frame(f) for f in reversed(sample.frames)]
        if sample.truncated:
            path.insert(0, frames.add(TRUNCATED, "", 0, _KIND_MARKER))
        if not path:
            path = [frames.add(NO_FRAME, "", 0, _KIND_MARKER)]
        node = 0
        for fid in path:
            child = children.get((node, fid))
            if child is None:
                child = children[(node, fid)] = len(parent)
                parent.append(node)
                frame.append(fid)
                for column in values.values():
                    column.append(0)
            node = child
        values["leaked"][node] += sample.live_bytes
        values["leakedCount"][node] += sample.live_count
        values["peak"][node] += sample.peak_bytes
        values["peakCount"][node] += sample.peak_count
    return {"parent": parent, "frame": frame, **values}


def _sites(profile: Profile, frames: _Frames) -> tuple[list[dict[str, Any]], dict[int, Any]]:
    """The JSON report's leak sites, and the RSS per snapshot when the capture has it."""
    capture = Capture(profile.path, allow_partial=True)
    doc = json.loads(render(capture, "json", include_all=profile.include_all))
    sites = doc["leaks"]
    for site in sites[:MAX_SITES]:
        site["stack"] = [
            frames.add(f["function"], f["file"], f["line"], _json_kind_code(f))
            for f in site["stack"]
        ]
    rss = {s.seq: getattr(s, "rss_bytes", None) for s in capture.snapshots}
    return sites, rss


def _json_kind_code(frame: dict[str, Any]) -> int:
    kind = frame.get("kind", "python")
    return FRAME_KINDS.index(kind) if kind in FRAME_KINDS else 0


def report_data(profile: Profile) -> dict[str, Any]:
    frames = _Frames()
    tree = _tree(profile, frames)
    sites, rss = _sites(profile, frames)
    stats = profile.stats
    last, peak = profile.last, profile.peak
    peak_label = (
        "at the last snapshot"
        if peak.seq == last.seq
        else f"snapshot #{peak.seq}, {peak.time_ns / 1e9:.2f} s"
    )
    return {
        "capture": profile.path,
        "command": profile.meta.get("command"),
        "partial": profile.partial_note(),
        "summary": {
            "leaked_bytes": sum(s.live_bytes for s in profile.samples),
            "peak_bytes": stats.get("peak_bytes", peak.heap_bytes),
            "total_allocated_bytes": stats.get("total_allocated_bytes", 0),
            "total_allocations": stats.get("total_allocations", 0),
            "duration_s": stats["duration_ns"] / 1e9 if "duration_ns" in stats else None,
            "snapshots": len(profile.timeline),
            "python_version": profile.meta.get("python_version"),
        },
        "views": [
            {"key": "leaked", "label": f"Leaked (alive at snapshot #{last.seq})"},
            {"key": "peak", "label": f"At the highest heap ({peak_label})"},
        ],
        "frames": frames.rows,
        "tree": tree,
        "sites": sites[:MAX_SITES],
        "sitesOmitted": max(0, len(sites) - MAX_SITES),
        "timeline": [
            [p.time_ns / 1e9, p.heap_bytes, rss.get(p.seq), p.seq, p.kind, p.label]
            for p in profile.timeline
        ],
        "peakSeq": peak.seq,
    }


def _asset(name: str) -> str:
    return resources.files(__package__).joinpath("assets", name).read_text(encoding="utf-8")


def render_html(profile: Profile) -> str:
    data = json.dumps(report_data(profile), separators=(",", ":"), ensure_ascii=False)
    # Inside <script>, only "</" can end the element early.
    data = data.replace("</", "<\\/")
    title = html.escape(f"leaktrace: {profile.meta.get('command') or profile.path}")
    return (
        "<!DOCTYPE html>\n"
        '<html lang="en">\n<head>\n<meta charset="utf-8">\n'
        '<meta name="viewport" content="width=device-width, initial-scale=1">\n'
        f"<title>{title}</title>\n<style>\n{_asset('report.css')}</style>\n</head>\n<body>\n"
        '<div id="app"></div>\n'
        f'<script type="application/json" id="lt-data">{data}</script>\n'
        f"<script>\n{_asset('report.js')}</script>\n</body>\n</html>\n"
    )
