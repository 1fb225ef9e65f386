"""Reading captures with random access: stacks, sites and which sites a leak list shows.

Every figure comes from the streaming C analyzer (:mod:`.analysis`): one pass gives
the last snapshot's sites, trimmed and classified by the one policy of :mod:`.frames`,
the growth series and the timeline. What else is asked for (another snapshot's sites,
``include_all``) is one more pass, kept once made. Memory stays bounded by the distinct
stacks, whatever the number of snapshots.
"""

from __future__ import annotations

import math
import os
import weakref
from collections.abc import Sequence

from .. import _core
from . import frames
from .analysis import Analysis
from .model import GROWTH_POINTS, Excluded, Frame, Site, Snapshot
from .retention import Retention

CaptureError = _core.CaptureError


class Capture:
    """A capture file, read and validated."""

    def __init__(self, path: str | os.PathLike[str], *, allow_partial: bool = False) -> None:
        self.path = os.fspath(path)
        self._allow_partial = allow_partial
        main = Analysis(
            self.path, allow_partial=allow_partial, max_points=GROWTH_POINTS, raw_snapshot=-1
        )
        # Later passes (another snapshot's sites, include_all) read the file this
        # descriptor holds, so that a capture deleted or replaced once read (as the
        # API's temporary ones are) still reads as it did.
        try:
            fd = os.open(self.path, os.O_RDONLY | os.O_CLOEXEC | os.O_NONBLOCK)
        except OSError as e:
            raise CaptureError(f"cannot open {self.path}: {e.strerror}") from None
        self._source = f"/proc/self/fd/{fd}"
        weakref.finalize(self, os.close, fd)
        self._analyses: dict[tuple[bool, int | None], Analysis] = {(False, None): main}
        self._main = main
        self.complete: bool = main.complete
        self.valid_size: int = main.valid_size
        self.file_size: int = main.file_size
        self.format_version: tuple[int, int] = main.format_version
        self.meta: dict[str, str] = main.meta
        self.stats: dict[str, int] = main.stats
        self.retention = Retention.from_records(main.retention_records)
        # Sampled captures (docs/sampling.md) hold estimates, block counts in fixed point.
        self.sampling: dict[str, int] | None = main.sampling
        self.parent: dict[str, object] | None = main.parent
        self.attached: bool = main.attached
        self.snapshots: list[Snapshot] = main.snapshots
        # Set by leaktrace snapshot: the attached process goes on, so the capture is
        # incomplete by nature, not because the process died.
        self.running = False

    def analysis(self, *, include_all: bool = False, snapshot: int | None = None) -> Analysis:
        """The analysis of the last snapshot (or of `snapshot` picked besides)."""
        key = (include_all, snapshot)
        found = self._analyses.get(key)
        if found is None:
            found = self._analyses[key] = Analysis(
                self.path,
                source=self._source,
                allow_partial=self._allow_partial,
                include_all=include_all,
                picks=() if snapshot is None else (snapshot,),
                max_points=GROWTH_POINTS,
                raw_snapshot=snapshot,
            )
        return found

    def _series_analysis(self, snapshots: Sequence[Snapshot] | None, include_all: bool) -> Analysis:
        if snapshots is None:
            return self.analysis(include_all=include_all)
        return Analysis(
            self.path,
            source=self._source,
            allow_partial=self._allow_partial,
            include_all=include_all,
            points=[s.seq for s in snapshots],
        )

    def growth_series(
        self, snapshots: Sequence[Snapshot] | None = None, *, include_all: bool = False
    ) -> tuple[
        list[Snapshot], list[int], dict[tuple[tuple[Frame, ...], bool], tuple[list[int], list[int]]]
    ]:
        """Live and cumulative allocated bytes per site at each of `snapshots` (default:
        the capture's series points, at most GROWTH_POINTS of them), with the snapshots
        used and the bytes the whole program had allocated at each (its work)."""
        a = self._series_analysis(snapshots, include_all)
        out: dict[tuple[tuple[Frame, ...], bool], tuple[list[int], list[int]]] = {}
        for g in range(len(a.rows)):
            ys = a.series(g)
            allocs = a.alloc_series(g)
            if ys is None or allocs is None:
                continue
            key = a.site_stack(g)
            if key in out:  # equal once native frames were named
                live, alloc = out[key]
                out[key] = (
                    [x + y for x, y in zip(live, ys, strict=True)],
                    [x + y for x, y in zip(alloc, allocs, strict=True)],
                )
            else:
                out[key] = (ys, allocs)
        return [a.snapshots[i] for i in a.points], list(a.work), out

    @property
    def sample_rate(self) -> int:
        """Mean bytes between samples; 0 when every allocation was recorded."""
        return self.sampling["rate"] if self.sampling else 0

    def error_bound(self, nbytes: int) -> int:
        """Two standard deviations of a sampled byte estimate (0 when not sampled).

        The variance of an estimate made of samples of weight w and size s is estimated
        by the sum of w * (w - s), and w - s never exceeds the rate, so rate * estimate
        bounds it (docs/sampling.md).
        """
        return math.ceil(2 * math.sqrt(self.sample_rate * nbytes)) if nbytes > 0 else 0

    @property
    def final(self) -> Snapshot:
        """The last snapshot: taken at stop, or the last one a partial capture holds."""
        return self.snapshots[-1]

    def stack(self, node: int) -> tuple[tuple[Frame, ...], bool]:
        """The recorded stack of a node, innermost frame first, and whether it was truncated."""
        return self._main.node_stack(node)

    def _seq(self, snapshot: Snapshot | None) -> int | None:
        """None for the last snapshot (the main analysis has it), else its number."""
        if snapshot is None or snapshot.seq == self.final.seq:
            return None
        return snapshot.seq

    def sites(self, snapshot: Snapshot | None = None) -> list[Site]:
        """Every site of a snapshot with its full stack (nothing trimmed or left out)."""
        seq = self._seq(snapshot)
        return (self._main if seq is None else self.analysis(snapshot=seq)).raw_sites()

    def leaks(
        self, snapshot: Snapshot | None = None, *, include_all: bool = False
    ) -> tuple[list[Site], dict[str, Excluded]]:
        """Live sites grouped by trimmed stack, largest first, and what was left out.

        leaktrace's own frames and runpy's are trimmed from the outer end of each
        stack. Unless include_all is set, allocations made while importing a module
        and allocations with no Python frame (made by the interpreter itself, or by
        threads without the GIL) are left out of the list and summed up instead. In
        an attached capture, what leaktrace's own requests allocated is left out.
        """
        seq = self._seq(snapshot)
        a = self.analysis(include_all=include_all, snapshot=seq)
        if seq is not None:
            sites, excluded = a.picked(seq)
        else:
            sites = [site for _, site in a.leaks()]
            excluded = {k: Excluded(e.bytes, e.count) for k, e in a.excluded.items()}
        if self.attached:  # made by leaktrace's own requests in the process, --all or not
            sites = [s for s in sites if not frames.passes_through_own(s.stack)]
        return sites, excluded
