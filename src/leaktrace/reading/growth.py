"""Growth of live memory per site over a series of snapshots: leaking, plateaued or noise.

The method and its thresholds are documented in docs/growth.md. In short: the
series of live bytes of each site is cut to its tail (the later half, at least
MIN_POINTS points); a Mann-Kendall test says whether the tail keeps rising and a
Theil-Sen slope says how fast. A site is *leaking* when the rise is significant,
*plateaued* when it grew earlier but its tail no longer does, *noise* otherwise.
"""

from __future__ import annotations

import math
from collections.abc import Sequence
from dataclasses import dataclass

from .. import _core
from .capture import Capture
from .model import GROWTH_POINTS, Frame, Snapshot

MIN_POINTS = 4  # fewer snapshots than this: no site is classed
MAX_P_VALUE = 0.05  # the tail's rise must be this unlikely without a trend
MAX_POINTS = GROWTH_POINTS  # longer series are thinned to this many evenly spaced snapshots
LEAKING, PLATEAUED, NOISE = "leaking", "plateaued", "noise"
KINDS = (LEAKING, PLATEAUED, NOISE)  # by the class index of trends() (lt_trend.h)
_RANK = {LEAKING: 0, PLATEAUED: 1, NOISE: 2}

SiteKey = tuple[tuple[Frame, ...], bool]


@dataclass(frozen=True)
class Growth:
    """How the live bytes of one site evolved over the snapshots."""

    kind: str  # LEAKING, PLATEAUED or NOISE
    rate: float  # bytes per unit over the tail (Theil-Sen slope)
    unit: str  # "iteration" or "second"
    confidence: float  # 0..1, the strength of the evidence for `kind` (docs/growth.md)
    total: int  # live bytes at the last point minus at the first
    series: tuple[int, ...]  # live bytes at each point

    def to_json(self) -> dict[str, object]:
        return {
            "class": self.kind,
            "rate": round(self.rate, 3),
            "unit": self.unit,
            "confidence": round(self.confidence, 4),
            "total_bytes": self.total,
            "series": list(self.series),
        }


def theil_sen(xs: Sequence[float], ys: Sequence[float]) -> float:
    """The median of the slopes between every pair of points with distinct x."""
    slopes = sorted(
        (ys[j] - ys[i]) / (xs[j] - xs[i])
        for i in range(len(xs))
        for j in range(i + 1, len(xs))
        if xs[j] != xs[i]
    )
    if not slopes:
        return 0.0
    mid = len(slopes) // 2
    return slopes[mid] if len(slopes) % 2 else (slopes[mid - 1] + slopes[mid]) / 2


def mann_kendall_p(ys: Sequence[float]) -> float:
    """One-sided p-value of the Mann-Kendall test for an upward trend.

    Normal approximation with the tie correction of the variance and a
    continuity correction; 1.0 when every value is equal.
    """
    n = len(ys)
    s = sum((ys[j] > ys[i]) - (ys[j] < ys[i]) for i in range(n) for j in range(i + 1, n))
    ties: dict[float, int] = {}
    for y in ys:
        ties[y] = ties.get(y, 0) + 1
    var = (n * (n - 1) * (2 * n + 5) - sum(t * (t - 1) * (2 * t + 5) for t in ties.values())) / 18
    if var <= 0 or s <= 0:
        return 1.0
    z = (s - 1) / math.sqrt(var)
    return 0.5 * math.erfc(z / math.sqrt(2))


def classify(xs: Sequence[float], ys: Sequence[int], unit: str) -> Growth:
    """Classes one site's series (xs strictly increasing, as long as ys)."""
    n = len(ys)
    total = ys[-1] - ys[0] if ys else 0
    if n < MIN_POINTS:
        return Growth(NOISE, 0.0, unit, 0.0, total, tuple(ys))
    start = n - max(MIN_POINTS, (n + 1) // 2)
    tx, ty = xs[start:], ys[start:]
    if all(y == ty[0] for y in ty):
        rate, p = 0.0, 1.0  # what both give a flat tail, in O(n) rather than O(n^2)
    else:
        rate = theil_sen(tx, ty)
        p = mann_kendall_p(ty)
    tail_rise = rate * (tx[-1] - tx[0])
    if rate > 0 and p <= MAX_P_VALUE and ty[-1] > ty[0]:
        return Growth(LEAKING, rate, unit, 1.0 - p, total, tuple(ys))
    rise = max(ys) - ys[0]
    if rise > 0 and ys[-1] > ys[0] and ty[-1] - min(ty) <= rise / 2:
        flat = 1.0 - min(1.0, abs(tail_rise) / rise)
        return Growth(PLATEAUED, rate, unit, flat, total, tuple(ys))
    return Growth(NOISE, rate, unit, p, total, tuple(ys))


def thin(n: int, limit: int) -> list[int]:
    """limit evenly spaced indexes of range(n), the first and the last included."""
    return sorted({round(i * (n - 1) / (limit - 1)) for i in range(limit)})


def series(
    capture: Capture,
    snapshots: Sequence[Snapshot],
    *,
    include_all: bool = False,
) -> dict[SiteKey, list[int]]:
    """Live bytes per site (grouped as Capture.leaks groups them) at each snapshot."""
    return capture.growth_series(snapshots, include_all=include_all)[1]


def analyze(
    capture: Capture,
    snapshots: Sequence[Snapshot] | None = None,
    *,
    xs: Sequence[float] | None = None,
    unit: str = "second",
    include_all: bool = False,
) -> dict[SiteKey, Growth] | None:
    """The growth of every site, or None when there are fewer than MIN_POINTS snapshots.

    By default every snapshot of the capture is a point, placed at its time in
    seconds; xs (and unit "iteration") place them otherwise.
    """
    default = snapshots is None and xs is None and unit == "second"
    snaps = list(capture.snapshots if snapshots is None else snapshots)
    if len(snaps) < MIN_POINTS:
        return None
    if xs is None:
        xs = [s.time_ns / 1e9 for s in snaps]
    if len(snaps) > MAX_POINTS:
        keep = thin(len(snaps), MAX_POINTS)
        snaps = [snaps[i] for i in keep]
        xs = [xs[i] for i in keep]
    a = capture.analysis(include_all=include_all)
    if default and not a.merged_frames:
        found = by_site(capture, include_all) or {}
        return {a.site_stack(g): growth for g, growth in found.items()}
    _, series_by_key = capture.growth_series(snaps, include_all=include_all)
    return {key: classify(xs, ys, unit) for key, ys in series_by_key.items()}


def by_site(capture: Capture, include_all: bool = False) -> dict[int, Growth] | None:
    """The growth of every site over the capture's snapshots (by time), by the analyzer's
    site number (Site.site_id); None with fewer than MIN_POINTS snapshots."""
    if len(capture.snapshots) < MIN_POINTS:
        return None
    a = capture.analysis(include_all=include_all)
    if a.merged_frames:  # sites merged by their named native frames: by stack
        by_key = analyze(capture, capture.snapshots, include_all=include_all) or {}
        return {g: by_key[site.stack, site.truncated] for g, site in a.leaks()}
    xs = [a.snapshots[i].time_ns / 1e9 for i in a.points]
    classes, rates, confidences = trends(a.series_bytes, xs)
    out = {}
    for g in range(len(a.rows)):
        row = a.rows[g]
        ys = a.series(g)
        # A site that never held memory at a point (freed between snapshots) has no
        # series, as when the series were made from the leak lists.
        if ys is not None and (any(ys) or a.live_count[g]):
            kind = KINDS[classes[row]]
            total = ys[-1] - ys[0]
            out[g] = Growth(kind, rates[row], "second", confidences[row], total, tuple(ys))
    return out


def trends(
    series: bytes, xs: Sequence[float]
) -> tuple[bytes, memoryview[float], memoryview[float]]:
    """classify() of every row of a series (rows of len(xs) uint64 live bytes), in C
    (src/core/analyze/lt_trend.c, the same figures): each row's class index into
    (LEAKING, PLATEAUED, NOISE), rate and confidence."""
    if not series:
        return b"", memoryview(b"").cast("d"), memoryview(b"").cast("d")
    classes, rates, confidences = _core.trends(series, len(xs), list(xs))
    return classes, memoryview(rates).cast("d"), memoryview(confidences).cast("d")


def rank_key(growth: Growth | None, live_bytes: int) -> tuple[int, float, int]:
    """Sort key that puts leaking sites first (fastest first), then the rest by size."""
    if growth is None:
        return order_key(None, 0.0, live_bytes)
    return order_key(growth.kind, growth.rate, live_bytes)


def order_key(kind: str | None, rate: float, live_bytes: int) -> tuple[int, float, int]:
    """rank_key of a site's growth class (None: no growth), rate and live bytes."""
    if kind is None:
        return (_RANK[NOISE], 0.0, -live_bytes)
    return (_RANK[kind], -rate if kind == LEAKING else 0.0, -live_bytes)
