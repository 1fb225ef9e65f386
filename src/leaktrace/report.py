"""Reports of a capture: text for people, JSON for programs (schema in docs/json-schema.md)."""

from __future__ import annotations

import json
import linecache
import os
from collections.abc import Iterable
from typing import TYPE_CHECKING

from .capture import Capture, Excluded, Frame, Site
from .retention import Cycle

if TYPE_CHECKING:
    from .growth import Growth, SiteKey

    Ranked = tuple[list[Site], dict[str, Excluded], dict[SiteKey, Growth] | None]

JSON_SCHEMA_VERSION = 1


def format_bytes(n: float) -> str:
    for unit in ("B", "KiB", "MiB", "GiB"):
        if abs(n) < 1024 or unit == "GiB":
            return f"{n:.0f} {unit}" if unit == "B" else f"{n:.1f} {unit}"
        n /= 1024
    raise AssertionError("unreachable")


def _display_path(path: str) -> str:
    if path.startswith("<"):
        return path
    try:
        rel = os.path.relpath(path)
    except ValueError:
        return path
    return path if rel.startswith(".." + os.sep + "..") else rel


def _source(frame: Frame) -> str:
    if frame.line <= 0:
        return ""
    try:
        return linecache.getline(frame.file, frame.line).strip()
    except (OSError, ValueError):  # e.g. a file name with a NUL byte
        return ""


MAX_NATIVE_FRAMES = 5  # native frames shown per stack in text, innermost first


def _native_lines(frames: list[Frame]) -> list[str]:
    lines = []
    for frame in frames[:MAX_NATIVE_FRAMES]:
        # Without a line, the file is the source file alone or the object's path.
        where = (
            f"{_display_path(frame.file)}:{frame.line}"
            if frame.line
            else os.path.basename(frame.file)
        )
        lines.append(f"    {where} in {frame.function} [native]")
    if len(frames) > MAX_NATIVE_FRAMES:
        lines.append(f"    ... {len(frames) - MAX_NATIVE_FRAMES} more native frames")
    return lines


def _frame_lines(stack: Iterable[Frame], max_frames: int) -> list[str]:
    frames = list(stack)
    # Native frames (--native) precede the Python ones and do not count against max_frames.
    native = 0
    while native < len(frames) and frames[native].kind == "native":
        native += 1
    lines = _native_lines(frames[:native])
    frames = frames[native:]
    for frame in frames[:max_frames]:
        lines.append(f"    {_display_path(frame.file)}:{frame.line} in {frame.function}")
        source = _source(frame)
        if source:
            lines.append(f"        {source}")
    if len(frames) > max_frames:
        lines.append(f"    ... {len(frames) - max_frames} outer frames not shown")
    return lines


def _ranked(capture: Capture, include_all: bool) -> Ranked:
    """The final snapshot's sites, leaking ones first when the capture has a series."""
    from .growth import analyze, rank_key

    sites, excluded = capture.leaks(include_all=include_all)
    growth = analyze(capture, include_all=include_all)
    if growth is not None:
        sites.sort(key=lambda s: rank_key(growth.get((s.stack, s.truncated)), s.bytes))
    return sites, excluded, growth


def _growth_line(growth: Growth) -> str:
    rate = f"{'+' if growth.rate >= 0 else '-'}{format_bytes(abs(growth.rate))}/{growth.unit}"
    return f"    growth: {growth.kind.upper()} {rate}, confidence {growth.confidence:.2f}"


def render_text(
    capture: Capture, *, top: int = 10, max_frames: int = 8, include_all: bool = False
) -> str:
    sites, excluded, growth = _ranked(capture, include_all)
    stats = capture.stats
    live = sum(s.bytes for s in sites)
    out = []
    if not capture.complete:
        out.append(
            f"leaktrace: PARTIAL capture: it ends at byte {capture.valid_size} of "
            f"{capture.file_size}; showing its last snapshot (#{capture.final.seq}, taken "
            f"{capture.final.time_ns / 1e9:.3f} s after tracking began)"
        )
    if capture.sample_rate:
        out.append(_sampling_line(capture))
    if capture.attached:
        out.append(_ATTACHED_LINE)
    command = capture.meta.get("command", "")
    out.append(
        f"leaktrace: {len(sites)} allocation sites still hold {format_bytes(live)} "
        f"at exit{' of ' + command if command else ''}"
    )
    if stats:
        out.append(
            f"  peak tracked heap {format_bytes(stats['peak_bytes'])}; "
            f"{format_bytes(stats['total_allocated_bytes'])} allocated in "
            f"{stats['total_allocations']:,} allocations; "
            f"tracker memory {format_bytes(stats['tracker_memory_bytes'])}"
        )
        if stats.get("dropped_allocations"):
            out.append(
                f"  WARNING: {stats['dropped_allocations']:,} allocations were not recorded "
                "(the tracker ran out of memory)"
            )
    hidden = [
        f"{format_bytes(e.bytes)} from {name.replace('_', ' ')}"
        for name, e in excluded.items()
        if e.bytes
    ]
    if hidden:
        out.append(f"  not shown: {', '.join(hidden)} (--all shows them)")
    if growth is not None:
        kinds = [g.kind for g in growth.values()]
        out.append(
            f"  growth over {len(capture.snapshots)} snapshots: "
            + ", ".join(f"{kinds.count(k)} {k}" for k in ("leaking", "plateaued"))
            + " (docs/growth.md)"
        )
    for rank, site in enumerate(sites[:top], 1):
        out.append("")
        out.append(f"#{rank}  {_estimate(capture, site.bytes)} in {site.count:,} blocks")
        site_growth = growth.get((site.stack, site.truncated)) if growth else None
        if site_growth is not None:
            out.append(_growth_line(site_growth))
        if site.stack:
            out.extend(_frame_lines(site.stack, max_frames))
        else:
            out.append("    <no Python frame>")
        if site.truncated:
            out.append("    ... deeper frames were not recorded (raise --depth)")
        out.extend(_retention_lines(capture, site))
    if len(sites) > top:
        rest = sum(s.bytes for s in sites[top:])
        out.append("")
        out.append(f"... and {len(sites) - top} smaller sites holding {format_bytes(rest)}")
    out.extend(_suspect_lines(capture))
    out.extend(_cycle_lines(capture))
    return "\n".join(out) + "\n"


def _site_json(site: Site, growth: dict[SiteKey, Growth] | None) -> dict[str, object]:
    doc = site.to_json()
    site_growth = growth.get((site.stack, site.truncated)) if growth else None
    doc["growth"] = site_growth.to_json() if site_growth else None
    return doc


def _retention_lines(capture: Capture, site: Site) -> list[str]:
    paths = capture.retention.paths_for(site.nodes)
    if not paths:
        return []
    lines = ["    kept alive by:"]
    for path in paths:
        lines.append(f"      {path}  (retains {format_bytes(path.retained_bytes)})")
    return lines


def _suspect_lines(capture: Capture) -> list[str]:
    suspects = capture.retention.suspects
    if not suspects:
        return []
    lines = ["", "Leak suspects (objects retaining the most of the memory above):"]
    for suspect in suspects:
        lines.append(f"  {format_bytes(suspect.leaked_bytes)} retained by {suspect.path}")
    return lines


def _cycle_lines(capture: Capture) -> list[str]:
    cycles = capture.retention.cycles
    if not cycles:
        return []
    lines = [
        "",
        "Unreachable cyclic garbage (no root reaches it; alive only because the collector "
        "has not freed it):",
    ]
    for cycle in cycles:
        lines.append(
            f"  {format_bytes(cycle.bytes)} in {cycle.objects:,} objects "
            f"({cycle.clusters:,} alike): {cycle.around()}"
        )
        places: dict[str, int] = {}
        for node, nbytes in cycle.sites:
            stack, _ = capture.stack(node)
            where = stack[0] if stack else None
            place = (
                f"{_display_path(where.file)}:{where.line} in {where.function}"
                if where
                else "<no Python frame>"
            )
            places[place] = places.get(place, 0) + nbytes
        for place, nbytes in sorted(places.items(), key=lambda item: -item[1]):
            lines.append(f"    {format_bytes(nbytes)} allocated at {place}")
    return lines


_ATTACHED_LINE = (
    "  ATTACHED to a running process: blocks allocated before the attach are not seen "
    "(their frees are ignored)"
)


def _sampling_line(capture: Capture) -> str:
    return (
        f"  SAMPLED every ~{format_bytes(capture.sample_rate)} allocated: sizes and counts "
        "are estimates, shown ± two standard deviations (docs/sampling.md)"
    )


def _estimate(capture: Capture, nbytes: int) -> str:
    if not capture.sample_rate:
        return format_bytes(nbytes)
    return f"~{format_bytes(nbytes)} ± {format_bytes(capture.error_bound(nbytes))}"


def _sampling_json(capture: Capture) -> dict[str, object] | None:
    if not capture.sampling:
        return None
    return {"rate_bytes": capture.sample_rate, "seed": capture.sampling["seed"]}


def render_json(capture: Capture, *, include_all: bool = False) -> str:
    sites, excluded, growth = _ranked(capture, include_all)
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


FORMATS = ("text", "json")


def render(capture: Capture, fmt: str, *, top: int = 10, include_all: bool = False) -> str:
    """The report of a capture in one of FORMATS."""
    if fmt == "text":
        return render_text(capture, top=top, include_all=include_all)
    if fmt == "json":
        return render_json(capture, include_all=include_all)
    raise ValueError(f"unknown report format {fmt!r}")
