"""The data every profile-shaped report is built from: a tree of stacks with values.

The C analyzer (:mod:`.analysis`) streams through a capture and folds its trace tree
into the tree of trimmed stacks, merged from the outermost frame (a trie: one node per
distinct stack prefix), with each node's own leaked, peak and cumulative values. A
:class:`Profile` is that tree with the timeline; pprof, folded stacks, speedscope and
HTML all read it, so they agree on every figure and on which stacks are shown, and
with ``Capture.leaks()``, which lists the same nodes (the one trimming policy of
:mod:`.frames`): leaktrace's and runpy's frames are dropped from the outer end, and
(unless ``include_all``) allocations made inside the import machinery or with no Python
frame are summed up in ``excluded`` instead of shown. Unlike the leak list, a profile
also keeps stacks whose memory was all freed: they carry allocation totals.

Python only copies the C arrays into arrays of its own (memcpy; and merges nodes whose
native frames were named alike), which the C writers take as they are.
"""

from __future__ import annotations

import os
from array import array
from collections.abc import MutableSequence, Sequence
from dataclasses import dataclass, field, replace

from .. import _core
from .analysis import Analysis
from .capture import Capture
from .model import NO_FRAME, TRUNCATED, Excluded, Frame, TimelinePoint, partial_note


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
    # Arrays (parent 'I', frame 'i', values 'Q') when made from an analysis.
    parent: MutableSequence[int]
    frame: MutableSequence[int]  # index into frames; -1 for the root
    live_bytes: MutableSequence[int]
    live_count: MutableSequence[int]
    alloc_bytes: MutableSequence[int]
    alloc_count: MutableSequence[int]
    peak_bytes: MutableSequence[int]
    peak_count: MutableSequence[int]
    timeline: list[TimelinePoint]
    peak_index: int  # into timeline
    excluded: dict[str, Excluded] = field(default_factory=dict)
    include_all: bool = False  # the excluded groups are shown, not summed up
    analysis: Analysis | None = field(default=None, repr=False)  # what it was made from
    # the capture whose analysis that is, when it was read as one (the HTML report's)
    capture: Capture | None = field(default=None, repr=False)

    @property
    def last(self) -> TimelinePoint:
        return self.timeline[-1]

    @property
    def peak(self) -> TimelinePoint:
        return self.timeline[self.peak_index]

    def nodes_by_size(self) -> memoryview:
        """Nodes that allocated, by leaked, then peak, then allocated bytes, descending
        (ties by node), as a uint32 array (sorted in C: _core.rank_nodes)."""
        columns = (self.live_bytes, self.peak_bytes, self.alloc_bytes, self.alloc_count)
        ranked = _core.rank_nodes(*map(u64_array, (*columns, self.peak_count)))
        return memoryview(ranked).cast("I")

    def tree_arrays(self) -> tuple[array[int], array[int]]:
        """parent ('I') and frame ('i', -1 for the root) as arrays, for the C writers."""
        return _typed("I", self.parent), _typed("i", self.frame)

    def value_lists(self) -> tuple[MutableSequence[int], ...]:
        values = (self.live_bytes, self.live_count, self.alloc_bytes, self.alloc_count)
        return (*values, self.peak_bytes, self.peak_count)

    def add_node(self, parent: int, frame: int) -> int:
        """Appends a node with no values below parent; returns its number."""
        self.parent.append(parent)
        self.frame.append(frame)
        for values in self.value_lists():
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


def u64_array(values: Sequence[int]) -> array[int]:
    """Values as a uint64 array (for the C writers), copied unless they are one."""
    return _typed("Q", values)


def _typed(code: str, values: Sequence[int]) -> array[int]:
    return values if isinstance(values, array) and values.typecode == code else array(code, values)


def _copy(code: str, view: memoryview) -> array[int]:
    """An array of the analyzer's memoryview, copied whole."""
    out = array(code)
    out.frombytes(view.cast("B"))
    return out


def load_profile(path: str | os.PathLike[str], *, include_all: bool = False) -> Profile:
    """Analyses a capture (partial ones included) into a Profile.

    A progress bar is drawn on stderr when it is a terminal and reading takes long.
    Raises CaptureError for a file that cannot be reported.
    """
    return profile_of(Analysis(path, allow_partial=True, include_all=include_all))


def profile_of(a: Analysis) -> Profile:
    """The profile of an analysis: its trimmed tree, one node per site."""
    # Frames equal in value are one frame; naming native frames can make two equal.
    frames: list[Frame] = []
    index: dict[int, int] = {}
    for i, c in enumerate(a.canonical):
        if c == i:
            index[i] = len(frames)
            frames.append(a.frames[i])
    truncated_id = len(frames)
    frames.append(TRUNCATED)
    # Each node's frame through a table of every frame id's profile frame (in C:
    # _core.take). The ids past the table are the truncation markers' and the root's
    # (the only node without a frame).
    numbered = array("i", [index[c] for c in a.canonical])
    tree_frame = array("i")
    tree_frame.frombytes(_core.take(numbered, a.tree_frame, array("i", [truncated_id])))
    tree_frame[0] = -1
    profile = Profile(
        path=a.path,
        complete=a.complete,
        valid_size=a.valid_size,
        file_size=a.file_size,
        meta=a.meta,
        stats=a.stats,
        frames=frames,
        parent=_copy("I", a.tree_parent),
        frame=tree_frame,
        live_bytes=_copy("Q", a.live_bytes),
        live_count=_copy("Q", a.live_count),
        alloc_bytes=_copy("Q", a.alloc_bytes),
        alloc_count=_copy("Q", a.alloc_count),
        peak_bytes=_copy("Q", a.peak_bytes),
        peak_count=_copy("Q", a.peak_count),
        timeline=[
            TimelinePoint(
                s.seq, s.kind, s.time_ns, s.label, s.heap_bytes, s.heap_count, s.rss_bytes
            )
            for s in a.snapshots
        ],
        peak_index=a.peak_index,
        excluded={k: Excluded(e.bytes, e.count) for k, e in a.excluded.items()},
        include_all=a.include_all,
        analysis=a,
    )
    return _merge_equal_children(profile) if a.merged_frames else profile


def _merge_equal_children(p: Profile) -> Profile:
    """The profile with the children of a node that have one frame made one node."""
    merged = replace(
        p,
        parent=[0],
        frame=[-1],
        live_bytes=[p.live_bytes[0]],
        live_count=[p.live_count[0]],
        alloc_bytes=[p.alloc_bytes[0]],
        alloc_count=[p.alloc_count[0]],
        peak_bytes=[p.peak_bytes[0]],
        peak_count=[p.peak_count[0]],
    )
    target = [0] * len(p.parent)
    children: dict[tuple[int, int], int] = {}
    for n in range(1, len(p.parent)):
        key = (target[p.parent[n]], p.frame[n])
        node = children.get(key)
        if node is None:
            node = children[key] = merged.add_node(*key)
        target[n] = node
    for values, into in zip(p.value_lists(), merged.value_lists(), strict=True):
        for n in range(1, len(values)):
            into[target[n]] += values[n]
    return merged
