"""The data every profile-shaped report is built from: a tree of stacks with values.

The C analyzer (``_core.analyze``) streams through a capture and hands over the trace
tree, the sites of the last snapshot and of the snapshot with the highest tracked heap,
and one line per snapshot. This module folds that into a :class:`Profile`: the stacks
as a tree merged from the outermost frame (a trie: one node per distinct stack prefix),
with each node's own leaked, peak and cumulative values, plus the timeline. pprof,
folded stacks, speedscope and HTML all read it, so they agree on every figure and on
which stacks are shown.

Stacks are trimmed and classified by the policy of :mod:`.frames`, as by
``Capture.leaks()``: leaktrace's and runpy's frames are dropped from the outer end,
and (unless ``include_all``) allocations made inside the import machinery or with no
Python frame are summed up in ``excluded`` instead of shown. Unlike the leak list, a
profile also keeps stacks whose memory was all freed: they carry allocation totals.

The work is per node of the capture's tree and per distinct frame, never per frame of
every stack, so a capture of a few hundred thousand distinct stacks folds in a second.
"""

from __future__ import annotations

import os
import sys
from dataclasses import dataclass, field, replace

from .. import _core
from . import frames as policy
from .model import (
    NO_FRAME,
    SNAPSHOT_KINDS,
    TRUNCATED,
    TRUNCATED_FRAME,
    Excluded,
    Frame,
    TimelinePoint,
    partial_note,
    unscale,
)
from .symbols import symbolize_native_frames

PROGRESS_DELAY_S = 0.5


@dataclass
class Profile:
    """Stacks merged into a tree. Node 0 is the root (the empty stack); every other
    node is one frame below its parent (``parent[n] < n``), outermost frames near the
    root. The value lists give each node's own values (its stack exactly, not its
    subtree): bytes and blocks alive at the last snapshot (``live_*``, what leaked),
    at the snapshot with the highest heap (``peak_*``), and allocated since tracking
    began (``alloc_*``)."""

    path: str
    complete: bool
    valid_size: int
    file_size: int
    meta: dict[str, str]
    stats: dict[str, int]
    frames: list[Frame]
    parent: list[int]
    frame: list[int]  # index into frames; -1 for the root
    live_bytes: list[int]
    live_count: list[int]
    alloc_bytes: list[int]
    alloc_count: list[int]
    peak_bytes: list[int]
    peak_count: list[int]
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

    def nodes_by_size(self) -> list[int]:
        """Nodes that allocated, by leaked, then peak, then allocated bytes, descending."""
        nodes = [n for n in range(len(self.parent)) if self.alloc_count[n] or self.peak_count[n]]
        nodes.sort(key=lambda n: (-self.live_bytes[n], -self.peak_bytes[n], -self.alloc_bytes[n]))
        return nodes

    def add_node(self, parent: int, frame: int) -> int:
        """Appends a node with no values below parent; returns its number."""
        self.parent.append(parent)
        self.frame.append(frame)
        for values in (self.live_bytes, self.live_count, self.alloc_bytes, self.alloc_count,
                       self.peak_bytes, self.peak_count):  # fmt: skip
            values.append(0)
        return len(self.parent) - 1

    def stack(self, node: int) -> list[Frame]:
        """A node's frames, innermost first; the root's own values get NO_FRAME."""
        frames = []
        while node:
            frames.append(self.frames[self.frame[node]])
            node = self.parent[node]
        return frames or [NO_FRAME]

    def partial_note(self) -> str | None:
        """One line saying how far a partial capture reaches, or None when it is whole."""
        if self.complete:
            return None
        return partial_note(self.last.seq, self.last.time_ns, self.valid_size, self.file_size)


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
    raw_frames = [Frame(*raw) for raw in data["frames"]]
    symbolize_native_frames(raw_frames, data["native_maps"])
    # Frames equal in value (two code objects, one name and line, or two return
    # addresses in one native line) are one frame.
    frames: list[Frame] = []
    canonical: list[int] = []
    seen: dict[Frame, int] = {}
    for frame in raw_frames:
        index = seen.get(frame)
        if index is None:
            index = seen[frame] = len(frames)
            frames.append(frame)
        canonical.append(index)
    classes = [policy.classify(f) for f in frames]
    truncated_id = len(frames)
    frames.append(TRUNCATED)

    profile = Profile(
        path=path,
        complete=data["complete"],
        valid_size=data["valid_size"],
        file_size=data["file_size"],
        meta=data["meta"],
        stats=data["stats"] or {},
        frames=frames,
        parent=[0],
        frame=[-1],
        live_bytes=[0],
        live_count=[0],
        alloc_bytes=[0],
        alloc_count=[0],
        peak_bytes=[0],
        peak_count=[0],
        timeline=[
            TimelinePoint(seq, SNAPSHOT_KINDS[kind], time_ns, label, heap_bytes, heap_count, rss)
            for seq, kind, time_ns, label, heap_bytes, heap_count, rss in data["snapshots"]
        ],
        peak_index=data["peak_index"],
        include_all=include_all,
    )
    children: dict[tuple[int, int], int] = {}

    def child(parent: int, frame: int) -> int:
        node = children.get((parent, frame))
        if node is None:
            node = children[(parent, frame)] = profile.add_node(parent, frame)
        return node

    # Fold the capture's nodes (parents first) into the profile's tree: where each
    # node's stack lands after trimming, and whether it is left out.
    nodes = data["nodes"]
    count = len(nodes)
    target = [0] * count  # profile node of each capture node
    state = [policy.PREFIX] * count
    in_import = [False] * count
    frameless = [False] * count  # no Python frame at all
    frameless[0] = True
    for n in range(1, count):
        p, f = nodes[n]
        if f == TRUNCATED_FRAME:  # the writer puts it right below the root
            target[n] = child(target[p], truncated_id)
            state[n] = policy.KEPT
            frameless[n] = frameless[p]
            in_import[n] = in_import[p]
            continue
        f = canonical[f]
        cls = classes[f]
        in_import[n] = in_import[p] or cls == policy.IMPORT
        state[n] = policy.advance(state[p], cls, p == 0)
        if state[n] == policy.PREFIX:
            target[n] = 0
        else:
            target[n] = child(target[p], f)

    # Where each capture node's values go: a profile node, or a reason to leave
    # them out (only with include_all unset).
    left_out = {"imports": Excluded(), "no_python_frame": Excluded()}
    reason: list[str | None] = [None] * count
    if not include_all:
        for n in range(count):
            if frameless[n]:
                reason[n] = "no_python_frame"
            elif state[n] == policy.PREFIX:
                reason[n] = ""  # made by leaktrace itself while stopping: not counted
            elif in_import[n]:
                reason[n] = "imports"
    for node, lc, lb, ac, ab in data["last"]:
        why = reason[node]
        if why is None:
            t = target[node]
            profile.live_count[t] += lc
            profile.live_bytes[t] += lb
            profile.alloc_count[t] += ac
            profile.alloc_bytes[t] += ab
        elif why:
            left_out[why].bytes += lb
            left_out[why].count += lc
    for node, lc, lb, _, _ in data["peak"]:
        if reason[node] is None:
            profile.peak_count[target[node]] += lc
            profile.peak_bytes[target[node]] += lb
    profile.excluded = left_out
    if data["sampling"]:
        _unscale_counts(profile, data["sampling"]["count_scale"])
    return profile


def _unscale_counts(profile: Profile, scale: int) -> None:
    """Block counts of a sampled capture are fixed point (docs/sampling.md): whole
    blocks here, as in Capture. Byte figures are estimates already."""
    for counts in (profile.live_count, profile.alloc_count, profile.peak_count):
        counts[:] = [unscale(c, scale) for c in counts]
    for excluded in profile.excluded.values():
        excluded.count = unscale(excluded.count, scale)
    profile.timeline = [
        replace(p, heap_count=unscale(p.heap_count, scale)) for p in profile.timeline
    ]
    for key in ("total_allocations", "total_frees"):
        if key in profile.stats:
            profile.stats[key] = unscale(profile.stats[key], scale)


def _is_terminal(stream: object) -> bool:
    try:
        return bool(stream.isatty())  # type: ignore[attr-defined]
    except (AttributeError, ValueError):
        return False
