"""The data every profile-shaped report is built from: stacks with their values.

The C analyzer (``_core.analyze``) streams through a capture and hands over the trace
tree, the sites of the last snapshot and of the snapshot with the highest tracked heap,
and one line per snapshot. This module turns that into a :class:`Profile`: one
:class:`Sample` per distinct (trimmed) stack, with its leaked, peak and cumulative
values, plus the timeline. pprof, folded stacks, speedscope and HTML all read it, so
they agree on every figure and on which stacks are shown.

Stacks are trimmed and classified as ``Capture.leaks()`` does: leaktrace's and runpy's
frames are dropped from the outer end, and (unless ``include_all``) allocations made
inside the import machinery or with no Python frame are summed up in ``excluded``
instead of shown. Unlike the leak list, a profile also keeps stacks whose memory was
all freed: they carry allocation totals.
"""

from __future__ import annotations

import os
import sys
from dataclasses import dataclass, field

from .. import _core
from ..capture import (
    SNAPSHOT_KINDS,
    TRUNCATED_FRAME,
    Excluded,
    Frame,
    _is_import_frame,
    _trim_own_frames,
)

FRAME_KINDS = ("python", "native")
PROGRESS_DELAY_S = 0.5


def frame_kind(frame: Frame) -> str:
    """``python`` or ``native``: captures with native frames tag their frames' kind."""
    kind = getattr(frame, "kind", "python")
    return kind if kind in FRAME_KINDS else "python"


@dataclass
class Sample:
    """Everything recorded at one stack."""

    frames: tuple[Frame, ...]  # innermost first
    truncated: bool
    live_bytes: int = 0  # at the last snapshot: what leaked
    live_count: int = 0
    alloc_bytes: int = 0  # since tracking began
    alloc_count: int = 0
    peak_bytes: int = 0  # at the snapshot with the highest tracked heap
    peak_count: int = 0


@dataclass(frozen=True)
class TimelinePoint:
    seq: int
    kind: str
    time_ns: int
    label: str | None
    heap_bytes: int
    heap_count: int


@dataclass
class Profile:
    path: str
    complete: bool
    valid_size: int
    file_size: int
    meta: dict[str, str]
    stats: dict[str, int]
    samples: list[Sample]  # by leaked bytes, then allocated bytes, descending
    timeline: list[TimelinePoint]
    peak_index: int  # into timeline
    excluded: dict[str, Excluded] = field(default_factory=dict)
    include_all: bool = False  # the excluded groups are shown, not summed up

    @property
    def last(self) -> TimelinePoint:
        return self.timeline[-1]

    @property
    def peak(self) -> TimelinePoint:
        return self.timeline[self.peak_index]

    def partial_note(self) -> str | None:
        """One line saying how far a partial capture reaches, or None when it is whole."""
        if self.complete:
            return None
        return (
            f"partial capture (the tracked process died before stopping): it reaches snapshot "
            f"#{self.last.seq} at {self.last.time_ns / 1e9:.3f} s; {self.valid_size} of "
            f"{self.file_size} bytes valid"
        )


def load_profile(path: str | os.PathLike[str], *, include_all: bool = False) -> Profile:
    """Analyses a capture (partial ones included) into a Profile.

    A progress bar is drawn on stderr when it is a terminal and reading takes long.
    Raises CaptureError for a file that cannot be reported.
    """
    path = os.fspath(path)
    progress_fd = sys.stderr.fileno() if _is_terminal(sys.stderr) else -1
    data = _core.analyze(
        path, allow_partial=True, progress_fd=progress_fd, progress_delay=PROGRESS_DELAY_S
    )
    frames = [Frame(*f) for f in data["frames"]]
    nodes: list[tuple[int, int]] = data["nodes"]
    stacks: dict[int, tuple[tuple[Frame, ...], bool]] = {0: ((), False)}

    def stack_of(node: int) -> tuple[tuple[Frame, ...], bool]:
        chain = []
        n = node
        while n not in stacks:
            chain.append(n)
            n = nodes[n][0]
        built, truncated = stacks[n]
        for n in reversed(chain):
            frame = nodes[n][1]
            if frame == TRUNCATED_FRAME:
                truncated = True
            else:
                built = (frames[frame], *built)
            stacks[n] = (built, truncated)
        return stacks[node]

    # Left-out memory is summed in one pseudo-sample per reason.
    left_out = {reason: Sample((), False) for reason in ("imports", "no_python_frame")}
    samples: dict[tuple[tuple[Frame, ...], bool], Sample] = {}

    def sample_for(node: int) -> Sample | None:
        full, truncated = stack_of(node)
        stack = full if truncated else _trim_own_frames(full)
        if not include_all:
            if not full:
                return left_out["no_python_frame"]
            if not stack:
                return None  # made by leaktrace itself while stopping
            if any(_is_import_frame(f) for f in stack):
                return left_out["imports"]
        key = (stack, truncated)
        sample = samples.get(key)
        if sample is None:
            sample = samples[key] = Sample(stack, truncated)
        return sample

    for node, live_count, live_bytes, alloc_count, alloc_bytes in data["last"]:
        sample = sample_for(node)
        if sample is not None:
            sample.live_count += live_count
            sample.live_bytes += live_bytes
            sample.alloc_count += alloc_count
            sample.alloc_bytes += alloc_bytes
    for node, live_count, live_bytes, _, _ in data["peak"]:
        sample = sample_for(node)
        if sample is not None:
            sample.peak_count += live_count
            sample.peak_bytes += live_bytes
    excluded = {reason: Excluded(s.live_bytes, s.live_count) for reason, s in left_out.items()}
    timeline = [
        TimelinePoint(seq, SNAPSHOT_KINDS[kind], time_ns, label, heap_bytes, heap_count)
        for seq, kind, time_ns, label, heap_bytes, heap_count in data["snapshots"]
    ]
    ranked = sorted(samples.values(), key=lambda s: (-s.live_bytes, -s.peak_bytes, -s.alloc_bytes))
    return Profile(
        path=path,
        complete=data["complete"],
        valid_size=data["valid_size"],
        file_size=data["file_size"],
        meta=data["meta"],
        stats=data["stats"] or {},
        samples=ranked,
        timeline=timeline,
        peak_index=data["peak_index"],
        excluded=excluded,
        include_all=include_all,
    )


def _is_terminal(stream: object) -> bool:
    try:
        return stream.isatty()  # type: ignore[attr-defined]
    except (AttributeError, ValueError):
        return False
