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
- ``sites``: the JSON report's leak sites (docs/json-schema.md) with stacks as indexes
  into ``frames`` (renumbered from the report's own frame table), so every key the JSON
  report has (``growth``, ``retention``...) reaches the table. At most MAX_SITES, the
  largest; past JSON_SITES_LIMIT live sites, the same rows built from the profile,
  without the extras.
- ``timeline``: ``[time_s, heap_bytes, rss_bytes or null, seq, kind, label]`` per
  snapshot.
- ``suspects``: ``[leaked_bytes, path]`` and ``cycles``: ``{bytes, objects, clusters,
  text, places: [[bytes, "file:line in function"]]}``, the text report's last two
  sections; ``leakingClass``, the growth class the verdict counts as leaking, and
  ``noVerdict``, why there is no verdict when no site has a growth class.
"""

from __future__ import annotations

import html
import json
import os
from array import array
from collections.abc import Sequence
from importlib import resources
from itertools import compress
from typing import Any

from .. import _core
from ..reading.capture import Capture
from ..reading.growth import LEAKING, MIN_POINTS
from ..reading.model import FRAME_KINDS, NO_FRAME, TRUNCATED, Frame, frame_kind
from ..reading.profile import Profile, profile_of, u64_array
from . import ReportFormat, register, render
from .common import cycle_places

MAX_SITES = 500
JSON_SITES_LIMIT = 10_000
_KIND_MARKER = len(FRAME_KINDS)


class _Frames:
    def __init__(self) -> None:
        self.rows: list[list[Any]] = []
        self.index: dict[tuple[str, str, int, int], int] = {}
        # A profile has a frame per code object and line: thousands where a program
        # compiles many functions alike, of a few dozen values.
        self.of_frame: dict[Frame, int] = {}

    def add(self, function: str, file: str, line: int, kind: int) -> int:
        key = (function, file, line, kind)
        i = self.index.get(key)
        if i is None:
            i = self.index[key] = len(self.rows)
            self.rows.append([function, file, line, kind])
        return i

    def frame(self, frame: Frame) -> int:
        i = self.of_frame.get(frame)
        if i is None:
            kind = _KIND_MARKER if frame in (TRUNCATED, NO_FRAME) else _kind_code(frame)
            i = self.of_frame[frame] = self.add(frame.function, frame.file, frame.line, kind)
        return i


def _kind_code(frame: Frame) -> int:
    return FRAME_KINDS.index(frame_kind(frame))


def _tree(profile: Profile, frames: _Frames) -> dict[str, Sequence[int]]:
    """The profile's tree, pruned to the nodes whose subtree leaked or was alive at
    the peak, and renumbered (parents still come first; pruned in C: _core.prune_tree).
    Each column is an array, written out by _core.json_ints."""
    parent, frame = profile.tree_arrays()
    kept, parents = _core.prune_tree(
        parent, u64_array(profile.live_bytes), u64_array(profile.peak_bytes)
    )
    node_frames = _gather("i", frame, kept)
    # Each distinct frame gets its page number in the order the nodes first meet it;
    # the nodes take theirs through that table (the root's -1 is outside it).
    page = array("q", bytes(8 * len(profile.frames)))
    for f in dict.fromkeys(node_frames):
        if f >= 0:
            page[f] = frames.frame(profile.frames[f])
    tree: dict[str, Sequence[int]] = {
        "parent": memoryview(parents).cast("I"),
        "frame": _gather("q", page, node_frames.tobytes(), array("q", [-1])),
    }
    columns = {
        "leaked": profile.live_bytes,
        "leakedCount": profile.live_count,
        "peak": profile.peak_bytes,
        "peakCount": profile.peak_count,
    }
    for name, values in columns.items():
        tree[name] = _gather("Q", u64_array(values), kept)
    return tree


def _gather(
    code: str, values: array[int], indexes: bytes, fill: array[int] | None = None
) -> array[int]:
    """values[i] for each uint32 i of indexes (fill where i is outside), in C."""
    out = array(code)
    out.frombytes(
        _core.take(values, memoryview(indexes).cast("I"), *([] if fill is None else [fill]))
    )
    return out


def _sites(
    profile: Profile, capture: Capture, frames: _Frames
) -> tuple[list[dict[str, Any]], int, str | None]:
    """The table's sites (at most MAX_SITES), how many there are, and a note when the
    extras of the JSON report are not shown.

    Up to JSON_SITES_LIMIT live sites, the rows are the JSON report's, so that every
    field it has (growth, retention) reaches the table. Beyond, the rows come from the
    profile instead: every site's series and paths would make the page heavy.
    """
    order = profile.nodes_by_size()
    live = list(compress(order, _gather("Q", u64_array(profile.live_count), order.tobytes())))
    if len(live) <= JSON_SITES_LIMIT:
        doc = json.loads(render(capture, "json", include_all=profile.include_all))
        sites, table = doc["leaks"], doc["frames"]
        page: dict[int, int] = {}  # the page's number of each of the document's frames
        for site in sites[:MAX_SITES]:
            for i, n in enumerate(site["stack"]):
                if n not in page:
                    f = table[n]
                    page[n] = frames.add(f["function"], f["file"], f["line"], _json_kind_code(f))
                site["stack"][i] = page[n]
        return sites[:MAX_SITES], len(sites), None
    rows = []
    for node in live[:MAX_SITES]:
        stack = profile.stack(node)
        truncated = stack[-1] == TRUNCATED
        rows.append(
            {
                "bytes": profile.live_bytes[node],
                "count": profile.live_count[node],
                "allocated_bytes": profile.alloc_bytes[node],
                "allocations": profile.alloc_count[node],
                "truncated": truncated,
                "stack": [frames.frame(f) for f in (stack[:-1] if truncated else stack)],
            }
        )
    note = (
        f"{len(live):,} sites: growth and retention, when the capture has them, are in the "
        f"JSON report (the page shows them up to {JSON_SITES_LIMIT:,} sites)"
    )
    return rows, len(live), note


def _json_kind_code(frame: dict[str, Any]) -> int:
    kind = frame.get("kind", "python")
    return FRAME_KINDS.index(kind) if kind in FRAME_KINDS else 0


def report_data(profile: Profile) -> dict[str, Any]:
    frames = _Frames()
    tree = _tree(profile, frames)
    # The whole-file reader gives the sites' growth and retention (the JSON report's).
    capture = profile.capture or Capture(profile.path, allow_partial=True)
    sites, nsites, sites_note = _sites(profile, capture, frames)
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
            "leaked_bytes": sum(profile.live_bytes),
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
        "sites": sites,
        "sitesOmitted": nsites - len(sites),
        "sitesNote": sites_note,
        "timeline": [
            [p.time_ns / 1e9, p.heap_bytes, p.rss_bytes, p.seq, p.kind, p.label]
            for p in profile.timeline
        ],
        "peakSeq": peak.seq,
        **_retention_panels(capture),
        "leakingClass": LEAKING,
        "noVerdict": (
            f"the capture has {len(profile.timeline)} snapshot"
            f"{'' if len(profile.timeline) == 1 else 's'}, and no site was seen at the "
            f"{MIN_POINTS} a verdict needs (every site is 'insufficient')"
        ),
    }


def _retention_panels(capture: Capture) -> dict[str, list[Any]]:
    """The leak suspects and the unreachable cycles, as the text report lists them."""
    retention = capture.retention
    return {
        "suspects": [[s.leaked_bytes, str(s.path)] for s in retention.suspects],
        "cycles": [
            {
                "bytes": c.bytes,
                "objects": c.objects,
                "clusters": c.clusters,
                "text": c.around(),
                "places": [[nbytes, place] for place, nbytes in cycle_places(capture, c)],
            }
            for c in retention.cycles
        ],
    }


def _asset(name: str) -> str:
    return (
        resources.files(__package__).joinpath("assets").joinpath(name).read_text(encoding="utf-8")
    )


def render_html(profile: Profile) -> str:
    report = report_data(profile)
    # The tree's columns (hundreds of thousands of numbers) are written in C and
    # spliced in where placeholders stand.
    columns = report["tree"]
    report["tree"] = {name: f"\0{name}" for name in columns}
    data = json.dumps(report, separators=(",", ":"), ensure_ascii=False)
    pieces, at = [], 0
    for name, values in columns.items():
        placeholder = json.dumps(f"\0{name}")
        found = data.index(placeholder, at)
        pieces += [data[at:found], _core.json_ints(values)]
        at = found + len(placeholder)
    data = "".join([*pieces, data[at:]])
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


def load_html_profile(path: str | os.PathLike[str], *, include_all: bool = False) -> Profile:
    """The profile of a capture read as a Capture, so that the page's site table (the
    JSON report's) and its tree come from one read."""
    capture = Capture(path, allow_partial=True)
    profile = profile_of(capture.analysis(include_all=include_all))
    profile.capture = capture
    return profile


register(ReportFormat("html", "profile", render_html, load=load_html_profile))
