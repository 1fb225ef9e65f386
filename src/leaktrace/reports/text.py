"""The text report of a capture, for people."""

from __future__ import annotations

from collections import Counter

from ..reading.capture import Capture
from ..reading.growth import Growth
from ..reading.model import Site
from ..reading.table import SiteTable
from . import ReportFormat, register
from .common import (
    NO_REFERRER,
    cycle_places,
    format_bytes,
    frame_lines,
    growth_words,
    ranked,
    verdict_label,
)


def _growth_line(growth: Growth) -> str:
    return f"    growth: {growth_words(growth)}, confidence {growth.confidence:.2f}"


def _verdict_line(capture: Capture, table: SiteTable) -> str:
    """The verdict first: how many sites of each class, and what the leaking ones hold."""
    from ..reading.growth import CLASSES, LEAKING

    kinds = Counter(table.growth.kind)
    counts = ", ".join(f"{kinds[i]} {k}" for i, k in enumerate(CLASSES) if kinds[i])
    leaking_kind = CLASSES.index(LEAKING)
    leaking = sum(
        b for b, k in zip(table.bytes, table.growth.kind, strict=True) if k == leaking_kind
    )
    held = f": {format_bytes(leaking)} in leaking sites" if leaking else ""
    return (
        f"leaktrace: verdict over {len(capture.snapshots)} snapshots: {counts or 'no site'}{held} "
        "(docs/growth.md)"
    )


def _headline(capture: Capture, nsites: int, live: int) -> str:
    """What the sites hold, and when: at exit, at the detach, or now."""
    command = capture.meta.get("command", "")
    held = f"{nsites} allocation sites still hold {format_bytes(live)}"
    if capture.running:
        return (
            f"leaktrace: process {capture.meta.get('pid', '?')} is running: {held} now "
            f"(snapshot #{capture.final.seq}, {capture.final.time_ns / 1e9:.1f} s after the "
            f"attach) in {command}"
        )
    if capture.attached and capture.complete:
        return f"leaktrace: {held} when leaktrace detached from {command}"
    return f"leaktrace: {held} at exit{' of ' + command if command else ''}"


def render_text(
    capture: Capture, *, top: int = 10, max_frames: int = 8, include_all: bool = False
) -> str:
    table, excluded = ranked(capture, include_all)
    growth = table.growth
    stats = capture.stats
    live = sum(table.bytes)
    out = []
    if not capture.complete and not capture.running:
        out.append(
            f"leaktrace: PARTIAL capture: it ends at byte {capture.valid_size} of "
            f"{capture.file_size}; showing its last snapshot (#{capture.final.seq}, taken "
            f"{capture.final.time_ns / 1e9:.3f} s after tracking began)"
        )
    if capture.sample_rate:
        out.append(_sampling_line(capture))
    if capture.attached:
        out.append(_ATTACHED_LINE)
    out.append(_verdict_line(capture, table))
    out.append(_headline(capture, len(table), live))
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
    for row in range(min(top, len(table))):
        site = table.site(row)
        out.append("")
        site_growth = growth.growth(row)
        holder = table.holders.get(row)
        kind = verdict_label(site_growth, holder)
        out.append(f"#{row + 1}  {kind}  {_estimate(capture, site.bytes)} in {site.count:,} blocks")
        if site_growth is not None:
            out.append(_growth_line(site_growth))
        if holder is not None:
            stopped = site_growth is not None and site_growth.kind == "plateaued"
            out.append(f"    held by: {holder.describe(stopped)}")
        if site.stack:
            out.extend(frame_lines(site.stack, max_frames))
        else:
            out.append("    <no Python frame>")
        if site.truncated:
            out.append("    ... deeper frames were not recorded (raise --depth)")
        out.extend(_retention_lines(capture, site))
    if len(table) > top:
        rest = sum(table.bytes[top:])
        out.append("")
        out.append(f"... and {len(table) - top} smaller sites holding {format_bytes(rest)}")
    out.extend(_suspect_lines(capture))
    out.extend(_cycle_lines(capture))
    return "\n".join(out) + "\n"


def _retention_lines(capture: Capture, site: Site) -> list[str]:
    paths = capture.retention.paths_for(site.nodes)
    if not paths:
        return [f"    kept alive by: {NO_REFERRER}"] if capture.retention.summary else []
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
        for place, nbytes in cycle_places(capture, cycle):
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


def _render(capture: Capture, *, top: int, include_all: bool) -> str:
    return render_text(capture, top=top, include_all=include_all)


register(ReportFormat("text", "capture", _render))
