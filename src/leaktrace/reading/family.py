"""A capture and the captures of the children it followed (docs/children.md).

Children write ``<root>.<pid>.ltc`` next to the root capture, each naming its parent's
capture in a link record. ``leaktrace report --children`` reports them one by one,
``--merge`` as one report in which the sites of every process are added up.
"""

from __future__ import annotations

import glob
import os
import re
from dataclasses import dataclass

from .capture import Capture, CaptureError
from .model import Excluded, Site, Snapshot

LINK_NAMES = ("forked", "started")  # by the LT_LINK_* value of the link record


@dataclass
class Member:
    capture: Capture | None  # None when the child's capture cannot be read
    path: str
    pid: int
    error: str = ""

    def describe(self) -> str:
        if self.capture is None or self.capture.parent is None:
            return f"process {self.pid}: {self.path}"
        parent = self.capture.parent
        how = LINK_NAMES[int(parent["link"])]  # type: ignore[call-overload]
        return f"process {self.pid} ({how} by {parent['pid']}): {self.path}"


def child_captures(root: str) -> list[str]:
    """The children's capture files of a root capture, in pid order."""
    pattern = re.compile(re.escape(os.path.basename(root)) + r"\.(\d+)\.ltc$")
    found = []
    for path in glob.glob(glob.escape(root) + ".*.ltc"):
        m = pattern.match(os.path.basename(path))
        if m:
            found.append((int(m.group(1)), path))
    return [path for _, path in sorted(found)]


def load_family(root: Capture, *, allow_partial: bool = False) -> list[Member]:
    """The root capture, then every child capture found next to it."""
    members = [Member(root, root.path, int(root.meta.get("pid", "0") or 0))]
    for path in child_captures(root.path):
        pid = int(path.rsplit(".", 2)[-2])
        try:
            members.append(Member(Capture(path, allow_partial=allow_partial), path, pid))
        except CaptureError as e:
            members.append(Member(None, path, pid, str(e)))
    return members


class MergedCapture(Capture):
    """Several captures seen as one: sites with the same stack are added up.

    A forked child inherits its parent's live blocks, and each process holds its own
    copy of them, so the merged figures count them once per process that holds them.
    Its one snapshot is the sum of the captures' final snapshots: the processes'
    snapshots are not taken at the same moments, so there is no merged series and
    growth is not classified (each process's own report shows its growth).
    """

    def __init__(self, captures: list[Capture]) -> None:
        root = captures[0]
        self.__dict__.update(root.__dict__)
        self.members = captures
        self.complete = all(c.complete for c in captures)
        self.valid_size = sum(c.valid_size for c in captures)
        self.file_size = sum(c.file_size for c in captures)
        finals = [c.final for c in captures]
        rss = [s.rss_bytes for s in finals]
        self.snapshots = [
            Snapshot(
                root.final.seq,
                root.final.kind,
                max(s.time_ns for s in finals),
                None,
                sum(s.heap_bytes for s in finals),
                sum(s.heap_count for s in finals),
                None if None in rss else sum(r for r in rss if r is not None),
            )
        ]
        self.stats = {
            key: sum(c.stats.get(key, 0) for c in captures)
            for key in root.stats
            if key not in ("max_depth", "duration_ns", "peak_bytes", "tracker_memory_bytes")
        }
        for key in ("max_depth", "duration_ns", "peak_bytes", "tracker_memory_bytes"):
            if key in root.stats:
                self.stats[key] = max(c.stats.get(key, 0) for c in captures)
        self.meta = {**root.meta, "command": f"{root.meta.get('command', '')} and its children"}

    def leaks(
        self, snapshot: object = None, *, include_all: bool = False
    ) -> tuple[list[Site], dict[str, Excluded]]:
        grouped: dict[tuple[object, bool], Site] = {}
        excluded: dict[str, Excluded] = {}
        for capture in self.members:
            sites, skipped = Capture.leaks(capture, include_all=include_all)
            for name, e in skipped.items():
                total = excluded.setdefault(name, Excluded())
                total.bytes += e.bytes
                total.count += e.count
            for site in sites:
                key = (site.stack, site.truncated)
                group = grouped.get(key)
                if group is None:
                    group = grouped[key] = Site(site.stack, truncated=site.truncated)
                group.bytes += site.bytes
                group.count += site.count
                group.alloc_bytes += site.alloc_bytes
                group.alloc_count += site.alloc_count
        ranked = sorted(grouped.values(), key=lambda s: (-s.bytes, -s.count))
        return ranked, excluded
