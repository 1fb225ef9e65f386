"""Reports of a capture: text for people, JSON for programs (schema in docs/json-schema.md)."""

from __future__ import annotations

import json
import linecache
import os
from collections.abc import Iterable

from .capture import Capture, Frame

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


def _frame_lines(stack: Iterable[Frame], max_frames: int) -> list[str]:
    frames = list(stack)
    lines = []
    for frame in frames[:max_frames]:
        lines.append(f"    {_display_path(frame.file)}:{frame.line} in {frame.function}")
        source = _source(frame)
        if source:
            lines.append(f"        {source}")
    if len(frames) > max_frames:
        lines.append(f"    ... {len(frames) - max_frames} outer frames not shown")
    return lines


def render_text(
    capture: Capture, *, top: int = 10, max_frames: int = 8, include_all: bool = False
) -> str:
    sites, excluded = capture.leaks(include_all=include_all)
    stats = capture.stats
    live = sum(s.bytes for s in sites)
    out = []
    if not capture.complete:
        out.append(
            f"leaktrace: PARTIAL capture: it ends at byte {capture.valid_size} of "
            f"{capture.file_size}; showing its last snapshot (#{capture.final.seq})"
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
    for rank, site in enumerate(sites[:top], 1):
        out.append("")
        out.append(f"#{rank}  {_estimate(capture, site.bytes)} in {site.count:,} blocks")
        if site.stack:
            out.extend(_frame_lines(site.stack, max_frames))
        else:
            out.append("    <no Python frame>")
        if site.truncated:
            out.append("    ... deeper frames were not recorded (raise --depth)")
    if len(sites) > top:
        rest = sum(s.bytes for s in sites[top:])
        out.append("")
        out.append(f"... and {len(sites) - top} smaller sites holding {format_bytes(rest)}")
    return "\n".join(out) + "\n"


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
    sites, excluded = capture.leaks(include_all=include_all)
    stats = capture.stats
    doc: dict[str, object] = {
        "schema_version": JSON_SCHEMA_VERSION,
        "leaks": [{**s.to_json(), "bytes_error": capture.error_bound(s.bytes)} for s in sites],
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
        "sampling": _sampling_json(capture),
        "attached": capture.attached,
        "parent": capture.parent,
    }
    return json.dumps(doc, indent=2) + "\n"


FORMATS = ("text", "json")


def render(capture: Capture, fmt: str, *, top: int = 10, include_all: bool = False) -> str:
    """The report of a capture in one of FORMATS."""
    if fmt == "text":
        return render_text(capture, top=top, include_all=include_all)
    if fmt == "json":
        return render_json(capture, include_all=include_all)
    raise ValueError(f"unknown report format {fmt!r}")
