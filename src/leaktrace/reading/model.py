"""The model of a capture that every reader and report shares.

A capture holds frames (a function, a file, a line), stacks of them (innermost frame
first), sites (live and allocated bytes and blocks per stack) and snapshots of the
live memory over time. :class:`~leaktrace.reading.capture.Capture` reads them with
random access (sites of any snapshot, reference paths); :class:`~leaktrace.reading.
profile.Profile` streams them into one tree of stacks for profile-shaped reports. Both
build on the types here and trim stacks with the one policy of :mod:`.frames`.
"""

from __future__ import annotations

from collections.abc import Iterable
from dataclasses import dataclass, field

SNAPSHOT_KINDS = ("interval", "mark", "final")
GROWTH_POINTS = 128  # a growth series has at most this many snapshots, evenly spaced
TRUNCATED_FRAME = 0  # frame id of the marker the format puts below truncated stacks
FRAME_KINDS = ("python", "native")


@dataclass(frozen=True)
class Frame:
    function: str
    file: str
    line: int
    kind: str = "python"  # or "native": a C frame (recorded with --native)

    def to_json(self) -> dict[str, object]:
        return {"function": self.function, "file": self.file, "line": self.line, "kind": self.kind}


class FrameTable:
    """The frames of a JSON document's stacks (schema version 2, docs/json-schema.md):
    each distinct frame once, numbered in the order the document's stacks first use
    them; a stack is written as the numbers of its frames."""

    def __init__(self, frames: Iterable[Frame] = ()) -> None:
        self.frames: list[Frame] = []
        self._numbers: dict[Frame, int] = {}
        self.numbers(frames)

    def numbers(self, stack: Iterable[Frame]) -> list[int]:
        """The numbers of a stack's frames, the frames new to the table numbered next."""
        out = []
        for frame in stack:
            n = self._numbers.get(frame)
            if n is None:
                n = self._numbers[frame] = len(self.frames)
                self.frames.append(frame)
            out.append(n)
        return out


@dataclass
class Site:
    """Allocations grouped by their (trimmed) stack, innermost frame first."""

    stack: tuple[Frame, ...]
    bytes: int = 0
    count: int = 0
    alloc_bytes: int = 0
    alloc_count: int = 0
    truncated: bool = False  # outer frames beyond the depth limit were not recorded
    nodes: list[int] = field(default_factory=list, repr=False)  # trace-tree nodes grouped here
    # The analyzer's number of the site (reading.analysis), -1 when it is none of its.
    site_id: int = field(default=-1, repr=False, compare=False)

    def to_json(self, frames: FrameTable) -> dict[str, object]:
        """The JSON report's site, its stack numbered in the document's frame table."""
        return {
            "bytes": self.bytes,
            "count": self.count,
            "allocated_bytes": self.alloc_bytes,
            "allocations": self.alloc_count,
            "truncated": self.truncated,
            "stack": frames.numbers(self.stack),
        }


@dataclass
class Excluded:
    """Live memory a leak report leaves out, with the reason."""

    bytes: int = 0
    count: int = 0

    def add(self, site: Site) -> None:
        self.bytes += site.bytes
        self.count += site.count


@dataclass
class Snapshot:
    seq: int
    kind: str
    time_ns: int
    label: str | None
    heap_bytes: int
    heap_count: int
    rss_bytes: int | None = None  # the process's resident set size, when recorded


TRUNCATED = Frame("[truncated]", "", 0)  # outer end of a stack deeper than --depth
NO_FRAME = Frame("[no Python frame]", "", 0)  # shown for the root's own values (--all)


def frame_kind(frame: Frame) -> str:
    """``python`` or ``native``: captures with native frames tag their frames' kind."""
    kind = getattr(frame, "kind", "python")
    return kind if kind in FRAME_KINDS else "python"


@dataclass(frozen=True)
class TimelinePoint:
    seq: int
    kind: str
    time_ns: int
    label: str | None
    heap_bytes: int
    heap_count: int
    rss_bytes: int | None  # the process's resident set, when the capture records it


def unscale(count: int, scale: int) -> int:
    """A fixed-point block count of a sampled capture, rounded to whole blocks."""
    return (count + scale // 2) // scale


def partial_note(seq: int, time_ns: int, valid_size: int, file_size: int) -> str:
    """The one line that says how far a partial capture reaches (its last snapshot)."""
    return (
        f"partial capture (the tracked process died before stopping): it reaches snapshot "
        f"#{seq} at {time_ns / 1e9:.3f} s; {valid_size} of {file_size} bytes valid"
    )
