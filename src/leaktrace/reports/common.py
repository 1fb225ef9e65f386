"""What the text and JSON reports of a capture share: sizes, paths, stacks, ranking."""

from __future__ import annotations

import linecache
import os
from collections.abc import Iterable
from typing import TYPE_CHECKING

from ..reading.capture import Capture
from ..reading.model import Excluded, Frame
from ..reading.table import SiteTable, site_table

if TYPE_CHECKING:
    from ..reading.growth import Growth
    from ..reading.retention import Cycle, Holder

JSON_SCHEMA_VERSION = 2


def format_bytes(n: float) -> str:
    for unit in ("B", "KiB", "MiB", "GiB"):
        if abs(n) < 1024 or unit == "GiB":
            return f"{n:.0f} {unit}" if unit == "B" else f"{n:.1f} {unit}"
        n /= 1024
    raise AssertionError("unreachable")


def growth_words(g: Growth) -> str:
    """A verdict in a few words: "leaking +1.2 KiB/MB allocated, +3.0 KiB/s (keeps
    rising with the work)", "insufficient (seen at 2 snapshots, 4 needed)"."""
    if g.kind in ("insufficient", "noise"):
        return f"{g.kind} ({g.explanation})"

    def signed(rate: float, unit: str) -> str:
        return f"{'+' if rate >= 0 else '-'}{format_bytes(abs(rate))}/{unit}"

    rates = signed(g.rate, g.unit)
    if g.rate_per_second:
        rates += ", " + signed(g.rate_per_second, "s")
    return f"{g.kind} {rates} ({g.explanation})"


def display_path(path: str) -> str:
    if path.startswith("<"):
        return path
    try:
        rel = os.path.relpath(path)
    except ValueError:
        return path
    return path if rel.startswith(".." + os.sep + "..") else rel


def source_line(frame: Frame) -> str:
    if frame.line <= 0:
        return ""
    try:
        return linecache.getline(frame.file, frame.line).strip()
    except (OSError, ValueError):  # e.g. a file name with a NUL byte
        return ""


MAX_NATIVE_FRAMES = 5  # native frames shown per stack in text, innermost first


def native_lines(frames: list[Frame]) -> list[str]:
    lines = []
    for frame in frames[:MAX_NATIVE_FRAMES]:
        # Without a line, the file is the source file alone or the object's path.
        where = (
            f"{display_path(frame.file)}:{frame.line}"
            if frame.line
            else os.path.basename(frame.file)
        )
        lines.append(f"    {where} in {frame.function} [native]")
    if len(frames) > MAX_NATIVE_FRAMES:
        lines.append(f"    ... {len(frames) - MAX_NATIVE_FRAMES} more native frames")
    return lines


def frame_lines(stack: Iterable[Frame], max_frames: int) -> list[str]:
    frames = list(stack)
    # Native frames (--native) precede the Python ones and do not count against max_frames.
    native = 0
    while native < len(frames) and frames[native].kind == "native":
        native += 1
    lines = native_lines(frames[:native])
    frames = frames[native:]
    for frame in frames[:max_frames]:
        lines.append(f"    {display_path(frame.file)}:{frame.line} in {frame.function}")
        source = source_line(frame)
        if source:
            lines.append(f"        {source}")
    if len(frames) > max_frames:
        lines.append(f"    ... {len(frames) - max_frames} outer frames not shown")
    return lines


def ranked(capture: Capture, include_all: bool) -> tuple[SiteTable, dict[str, Excluded]]:
    """The final snapshot's sites ranked by their verdict (leaking ones first, fastest
    first; then the others by size, each labelled with its class), with their
    verdicts; and what was left out of the list."""
    return site_table(capture, include_all)


NO_REFERRER = (
    "no Python referrer found: held from C or by an object the collector does not track "
    "(or the site was not among the largest that --retention N analyses)"
)


def verdict_label(growth: Growth | None, holder: Holder | None) -> str:
    """The class as the report heads a site with: LEAKING, BOUNDED CACHE, PLATEAUED..."""
    if growth is None:
        return "?"
    if holder is not None and holder.bounded and growth.kind != "insufficient":
        return "BOUNDED CACHE"
    return growth.kind.upper()


def cycle_places(capture: Capture, cycle: Cycle) -> list[tuple[str, int]]:
    """Where a cycle's objects were allocated ("file:line in function") and how many
    bytes each place holds, the most first."""
    places: dict[str, int] = {}
    for node, nbytes in cycle.sites:
        stack, _ = capture.stack(node)
        where = stack[0] if stack else None
        place = (
            f"{display_path(where.file)}:{where.line} in {where.function}"
            if where
            else "<no Python frame>"
        )
        places[place] = places.get(place, 0) + nbytes
    return sorted(places.items(), key=lambda item: -item[1])
