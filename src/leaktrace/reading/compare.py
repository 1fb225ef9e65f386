"""The change of live memory per site between two snapshots (of one capture or two)."""

from __future__ import annotations

import json
from collections.abc import Callable
from dataclasses import dataclass

from ..reports.common import JSON_SCHEMA_VERSION, format_bytes, frame_lines
from .capture import Capture
from .model import Frame, FrameTable, Snapshot


@dataclass(frozen=True)
class SiteDiff:
    stack: tuple[Frame, ...]
    truncated: bool
    bytes_before: int
    bytes_after: int
    count_before: int
    count_after: int

    @property
    def bytes_delta(self) -> int:
        return self.bytes_after - self.bytes_before

    @property
    def count_delta(self) -> int:
        return self.count_after - self.count_before

    def to_json(self, frames: FrameTable) -> dict[str, object]:
        """The site in the diff document, its stack numbered in the document's frame table."""
        return {
            "bytes_delta": self.bytes_delta,
            "count_delta": self.count_delta,
            "bytes_before": self.bytes_before,
            "bytes_after": self.bytes_after,
            "count_before": self.count_before,
            "count_after": self.count_after,
            "truncated": self.truncated,
            "stack": frames.numbers(self.stack),
        }


@dataclass(frozen=True)
class Diff:
    before: tuple[Capture, Snapshot]
    after: tuple[Capture, Snapshot]
    sites: list[SiteDiff]  # changed sites, largest growth first, shrinking last

    @property
    def bytes_delta(self) -> int:
        return sum(s.bytes_delta for s in self.sites)


def pick(capture: Capture, seq: int | None, default: int) -> Snapshot:
    """A snapshot by number (negative counts from the end); raises IndexError."""
    index = default if seq is None else seq
    if not -len(capture.snapshots) <= index < len(capture.snapshots):
        raise IndexError(
            f"{capture.path} has snapshots 0 to {len(capture.snapshots) - 1}, not {index}"
        )
    return capture.snapshots[index]


def diff(
    a: Capture,
    b: Capture | None = None,
    *,
    start: int | None = None,
    end: int | None = None,
    include_all: bool = False,
) -> Diff:
    """Compares snapshot `start` with snapshot `end`, grouped by site.

    With one capture, start defaults to its first snapshot and end to its last;
    with two, start picks a snapshot of `a` and end one of `b`, both the final
    one by default. Sites are matched by their (trimmed) stacks.
    """
    other = a if b is None else b
    before = pick(a, start, 0 if b is None else -1)
    after = pick(other, end, -1)
    old, _ = a.leaks(before, include_all=include_all)
    new, _ = other.leaks(after, include_all=include_all)
    table: dict[tuple[tuple[Frame, ...], bool], list[int]] = {}
    for i, sites in enumerate((old, new)):
        for site in sites:
            row = table.setdefault((site.stack, site.truncated), [0, 0, 0, 0])
            row[i] += site.bytes
            row[2 + i] += site.count
    changed = [
        SiteDiff(stack, truncated, *row)
        for (stack, truncated), row in table.items()
        if row[0] != row[1] or row[2] != row[3]
    ]
    changed.sort(key=lambda s: (-s.bytes_delta, -s.count_delta))
    return Diff((a, before), (other, after), changed)


def _describe(capture: Capture, snap: Snapshot) -> str:
    label = f" '{snap.label}'" if snap.label else ""
    return f"{capture.path} #{snap.seq} ({snap.kind}{label}, {snap.time_ns / 1e9:.3f} s)"


def _signed(n: int) -> str:
    return ("+" if n >= 0 else "-") + format_bytes(abs(n))


def render_text(d: Diff, *, top: int = 10, max_frames: int = 8) -> str:
    out = [
        f"leaktrace diff: {_signed(d.bytes_delta)} live in {len(d.sites)} changed sites",
        f"  from {_describe(*d.before)}",
        f"  to   {_describe(*d.after)}",
    ]
    shown = d.sites[:top]
    for rank, site in enumerate(shown, 1):
        out.append("")
        out.append(
            f"#{rank}  {_signed(site.bytes_delta)} ({site.count_delta:+,} blocks): "
            f"{format_bytes(site.bytes_before)} -> {format_bytes(site.bytes_after)}"
        )
        out.extend(frame_lines(site.stack, max_frames) if site.stack else ["    <no Python frame>"])
    if len(d.sites) > len(shown):
        out.append("")
        out.append(f"... and {len(d.sites) - len(shown)} more changed sites")
    return "\n".join(out) + "\n"


def _snapshot_json(capture: Capture, snap: Snapshot) -> dict[str, object]:
    return {
        "capture": capture.path,
        "snapshot": snap.seq,
        "kind": snap.kind,
        "label": snap.label,
        "time_s": snap.time_ns / 1e9,
        "live_bytes": snap.heap_bytes,
        "rss_bytes": snap.rss_bytes,
    }


def render_json(d: Diff, *, top: int = 10) -> str:
    """The JSON document of a diff (every site: top is for text); its sites' stacks are
    numbers in its frame table, as in the report (docs/json-schema.md)."""
    frames = FrameTable()
    sites = [s.to_json(frames) for s in d.sites]
    doc = {
        "schema_version": JSON_SCHEMA_VERSION,
        "frames": [f.to_json() for f in frames.frames],
        "before": _snapshot_json(*d.before),
        "after": _snapshot_json(*d.after),
        "bytes_delta": d.bytes_delta,
        "sites": sites,
    }
    return json.dumps(doc, indent=2) + "\n"


# The formats of ``leaktrace diff --format``.
RENDERERS: dict[str, Callable[..., str]] = {"text": render_text, "json": render_json}
