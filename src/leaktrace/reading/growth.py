"""The growth verdict of every site: leaking, plateaued, transient, noise, or insufficient.

The classifier is C (src/core/analyze/lt_growth.c); this module hands it the series
the analyzer keeps and names what comes back. The method, its thresholds and its
measured accuracy are in docs/growth.md. A run's series are placed on its work (the
megabytes the whole program had allocated at each snapshot), the API's on iterations;
both also give a rate per second. Every site gets a verdict: a site seen at too few
snapshots is ``insufficient``, with the number of snapshots, never left out.
"""

from __future__ import annotations

from array import array
from collections.abc import Sequence
from dataclasses import dataclass

from .. import _core
from .analysis import NO_ROW, Analysis
from .capture import Capture
from .model import GROWTH_POINTS, Frame, Snapshot

MIN_POINTS = 4  # a site seen at fewer points than this is INSUFFICIENT (lt_growth.h)
MAX_POINTS = GROWTH_POINTS  # longer series are thinned to this many evenly spaced snapshots
LEAKING, PLATEAUED, TRANSIENT, NOISE, INSUFFICIENT = _core.GROWTH_CLASSES
CLASSES = _core.GROWTH_CLASSES
WORK_UNIT = "MB allocated"  # a run's x axis: megabytes the program had allocated
ITERATION_UNIT = "iteration"
EXPLANATIONS = {
    "tail-rises": "keeps rising with the work",
    "stopped": "rose with every allocation of the site, which then went quiet",
    "bounded": "still allocates, but stays under a bound",
    "one-off": "grew in one burst, then allocated no more",
    "released": "released: ends below half of its peak",
    "sawtooth": "filled and released again and again",
    "flat": "no significant trend",
    "few-points": "not enough evidence",
    "no-work": "no work between its snapshots",
    "bounded-holder": "held by a structure with a bound",
}

SiteKey = tuple[tuple[Frame, ...], bool]


@dataclass(frozen=True)
class Growth:
    """How the live bytes of one site evolved over the snapshots."""

    kind: str  # one of CLASSES
    reason: str  # why (a key of EXPLANATIONS: "tail-rises", "bounded", "few-points", ...)
    rate: float  # bytes per unit over the stretch judged (Theil-Sen slope)
    unit: str  # WORK_UNIT or ITERATION_UNIT
    rate_per_second: float  # the same stretch against time (0 when not known)
    confidence: float  # 0..1, the strength of the evidence for `kind` (docs/growth.md)
    points: int  # snapshots at which the site was seen
    total: int  # live bytes at the last point minus at the first
    series: tuple[int, ...]  # live bytes at each point

    @property
    def explanation(self) -> str:
        """Why, in words ("insufficient: seen at 2 snapshots, 4 needed")."""
        if self.reason == "few-points":
            plural = "s" if self.points != 1 else ""
            return f"seen at {self.points} snapshot{plural}, {MIN_POINTS} needed"
        return EXPLANATIONS.get(self.reason, self.reason)

    def to_json(self) -> dict[str, object]:
        return {
            "class": self.kind,
            "reason": self.reason,
            "explanation": self.explanation,
            "rate": round(self.rate, 3),
            "unit": self.unit,
            "rate_per_second": round(self.rate_per_second, 3),
            "confidence": round(self.confidence, 4),
            "points": self.points,
            "total_bytes": self.total,
            "series": list(self.series),
        }


@dataclass
class GrowthColumns:
    """The verdicts of many sites (Growth's fields) as columns, one value per row."""

    kind: Sequence[int]  # index into CLASSES
    reason: Sequence[int]  # index into _core.GROWTH_REASONS
    rate: Sequence[float]  # bytes per unit
    rate_per_second: Sequence[float]
    confidence: Sequence[float]
    points: Sequence[int]  # snapshots at which the site was seen
    total: Sequence[int]  # live bytes at the last point minus at the first
    series_row: Sequence[int]  # the row of `series` holding this row's series, or NO_ROW
    series: Sequence[int]  # uint64 buffer: rows of npoints live bytes
    npoints: int
    unit: str
    # Rows of sites that got no verdict at all (a merged capture's: no series across
    # processes); their columns read as insufficient at 0 points.
    absent: frozenset[int] = frozenset()

    def growth(self, row: int) -> Growth | None:
        if row in self.absent:
            return None
        at = self.series_row[row]
        n = self.npoints
        series = () if at == NO_ROW else tuple(self.series[at * n : at * n + n])
        return Growth(
            CLASSES[self.kind[row]],
            _core.GROWTH_REASONS[self.reason[row]],
            self.rate[row],
            self.unit,
            self.rate_per_second[row],
            self.confidence[row],
            self.points[row],
            self.total[row],
            series,
        )


def insufficient(points: int, unit: str, series: Sequence[int] = ()) -> Growth:
    """The verdict of a site with no usable series."""
    total = series[-1] - series[0] if series else 0
    return Growth(INSUFFICIENT, "few-points", 0.0, unit, 0.0, 0.0, points, total, tuple(series))


def _rows(values: Sequence[Sequence[int]]) -> bytes:
    return array("Q", [v for row in values for v in row]).tobytes()


def classify_rows(
    live: bytes,
    alloc: bytes | None,
    xs: Sequence[float],
    seconds: Sequence[float] | None,
    unit: str,
) -> list[Growth]:
    """The verdict of each row of live bytes (uint64, len(xs) a row) at xs, with the
    rows' cumulative allocated bytes (alloc) and the points' times when known."""
    n = len(xs)
    if not live or not n:
        return []
    classes, reasons, rates, per_second, confidences, points = _core.growth(
        live, alloc, list(xs), None if seconds is None else list(seconds)
    )
    rate = memoryview(rates).cast("d")
    rate_s = memoryview(per_second).cast("d")
    confidence = memoryview(confidences).cast("d")
    seen = memoryview(points).cast("I")
    ys = memoryview(live).cast("Q")
    out = []
    for r in range(len(classes)):
        row = tuple(ys[r * n : r * n + n])
        out.append(
            Growth(
                CLASSES[classes[r]],
                _core.GROWTH_REASONS[reasons[r]],
                rate[r],
                unit,
                rate_s[r],
                confidence[r],
                seen[r],
                row[-1] - row[0],
                row,
            )
        )
    return out


def classify(
    xs: Sequence[float],
    ys: Sequence[int],
    unit: str,
    *,
    allocs: Sequence[int] | None = None,
    seconds: Sequence[float] | None = None,
) -> Growth:
    """The verdict of one series (xs non-decreasing, as long as ys)."""
    if not ys:
        return insufficient(0, unit)
    return classify_rows(
        _rows([ys]), None if allocs is None else _rows([allocs]), xs, seconds, unit
    )[0]


def work_axis(work: Sequence[int]) -> list[float]:
    return [w / 1e6 for w in work]


def by_site(capture: Capture, include_all: bool = False) -> dict[int, Growth]:
    """The verdict of every site of the capture's main analysis, by its site number
    (Site.site_id), over the capture's series points placed on the work."""
    a = capture.analysis(include_all=include_all)
    if a.merged_frames:  # sites merged by their named native frames: by stack
        by_key = analyze(capture, include_all=include_all)
        return {
            g: by_key.get((site.stack, site.truncated)) or insufficient(0, WORK_UNIT)
            for g, site in a.leaks()
        }
    return of_analysis(a)


def columns_of(a: Analysis) -> GrowthColumns:
    """The verdict of every site of an analysis, by site number, on its work axis: the
    analyzer classes each site's series as it reads the capture (lt_verdicts.h); a site
    without a series is insufficient, seen at 0 points."""
    return GrowthColumns(
        a.verdict_class,
        a.verdict_reason,
        a.verdict_rate,
        a.verdict_rate_per_second,
        a.verdict_confidence,
        a.verdict_points,
        a.verdict_total,
        a.rows,
        a.series_values,
        len(a.points),
        WORK_UNIT,
    )


def of_analysis(a: Analysis) -> dict[int, Growth]:
    """columns_of(a) as a Growth per site number."""
    columns = columns_of(a)
    return {g: growth for g in range(len(a.rows)) if (growth := columns.growth(g))}


def analyze(
    capture: Capture,
    snapshots: Sequence[Snapshot] | None = None,
    *,
    xs: Sequence[float] | None = None,
    unit: str = WORK_UNIT,
    include_all: bool = False,
) -> dict[SiteKey, Growth]:
    """The verdict of every site with a series, by its stack.

    By default the points are the capture's series points placed on the work;
    snapshots and xs (with unit ITERATION_UNIT) place them otherwise. Longer lists
    are thinned to MAX_POINTS evenly spaced snapshots.
    """
    snaps = list(snapshots) if snapshots is not None else None
    if snaps is not None and len(snaps) > MAX_POINTS:
        keep = [round(i * (len(snaps) - 1) / (MAX_POINTS - 1)) for i in range(MAX_POINTS)]
        keep = sorted(set(keep))
        snaps = [snaps[i] for i in keep]
        xs = None if xs is None else [xs[i] for i in keep]
    used, work, series = capture.growth_series(snaps, include_all=include_all)
    if not used:
        return {}
    axis = list(xs) if xs is not None else work_axis(work)
    seconds = [s.time_ns / 1e9 for s in used]
    keys = list(series)
    verdicts = classify_rows(
        _rows([series[k][0] for k in keys]),
        _rows([series[k][1] for k in keys]),
        axis,
        seconds,
        unit,
    )
    return dict(zip(keys, verdicts, strict=True))


def bounded_by_holder(kind: str) -> bool:
    """Whether a site of this class held by a structure with a bound (a Holder with
    ``bounded`` true) is plateaued (reason ``bounded-holder``) instead: whatever its
    series, it cannot outgrow the bound, and a cache still filling rises like a leak."""
    return kind in (LEAKING, NOISE)


def rank_key(growth: Growth | None, live_bytes: int) -> tuple[int, float, int]:
    """Sort key that puts leaking sites first (fastest first), then every other site
    by size, whatever its class (a large site with too few points to judge must not
    sink below small plateaued ones)."""
    if growth is None or growth.kind != LEAKING:
        return (1, 0.0, -live_bytes)
    return (0, -growth.rate, -live_bytes)
