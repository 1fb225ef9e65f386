"""In-process tracking: ``track()``, ``check()`` and the ``no_growth`` decorator.

Each of them writes a capture (to a temporary file unless a path is given), reads it
back when tracking stops and analyses it as ``leaktrace report`` does.
"""

from __future__ import annotations

import functools
import gc
import itertools
import os
import re
import tempfile
from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path
from typing import Any, ParamSpec, TypeVar

from . import _core, session
from .reading.capture import Capture
from .reading.growth import (
    ITERATION_UNIT,
    LEAKING,
    WORK_UNIT,
    Growth,
    analyze,
    insufficient,
    rank_key,
)
from .reading.model import Frame, Site
from .session import DEFAULT_DEPTH

P = ParamSpec("P")
R = TypeVar("R")

ITERATION_LABEL = "leaktrace.iteration "
_PACKAGE_DIR = str(Path(__file__).resolve().parent) + os.sep
_UNITS = {"": 1, "B": 1, "KB": 1000, "MB": 1000**2, "GB": 1000**3}
_UNITS |= {"K": 1024, "M": 1024**2, "G": 1024**3, "KIB": 1024, "MIB": 1024**2, "GIB": 1024**3}
_SIZE = re.compile(r"\s*(-?\d+(?:\.\d*)?)\s*([A-Za-z]*)\s*")


class LeakError(AssertionError):
    """Memory kept growing while a function ran repeatedly."""


def parse_size(size: int | str) -> int:
    """Bytes from an int or a string: "512", "1 KiB" (1024), "1 MB" (10^6).

    Both spellings are read as they are defined: KB, MB, GB (and kB) are powers of
    1000, KiB, MiB, GiB powers of 1024, as are K, M and G alone. pytest-memray reads
    "1 MB" as 2^20 bytes; here that is "1 MiB" (docs/python-api.md).
    """
    if isinstance(size, int):
        if size < 0:
            raise ValueError(f"a size cannot be negative: {size}")
        return size
    match = _SIZE.fullmatch(size)
    unit = match.group(2).upper() if match else ""
    if not match or unit not in _UNITS:
        raise ValueError(
            f"not a size: {size!r} (use e.g. 4096, '512 KiB' = 512 x 1024 bytes, "
            "'1 MiB' = 2^20 bytes or '1 MB' = 10^6 bytes)"
        )
    if match.group(1).startswith("-"):
        raise ValueError(f"a size cannot be negative: {size!r}")
    return int(float(match.group(1)) * _UNITS[unit])


def _is_own(site: Site) -> bool:
    """Made by leaktrace's own code (its innermost frame is in this package)."""
    return bool(site.stack) and site.stack[0].file.startswith(_PACKAGE_DIR)


@dataclass(frozen=True)
class SiteGrowth:
    """A site of the last snapshot and how its live bytes grew."""

    site: Site
    growth: Growth  # always a verdict; "insufficient" with too few points

    @property
    def frame(self) -> Frame | None:
        return self.site.stack[0] if self.site.stack else None


class Tracker:
    """A tracking session in this process; results once the ``with`` block has ended."""

    def __init__(
        self,
        path: str | os.PathLike[str] | None = None,
        *,
        interval: float | None = None,
        snapshots: bool = True,
        max_depth: int = DEFAULT_DEPTH,
        native_allocs: bool = True,
    ) -> None:
        self._given_path = path
        self.path: str | None = None
        self.interval = interval
        self.snapshots = snapshots
        self.max_depth = max_depth
        self.native_allocs = native_allocs
        self.capture: Capture | None = None
        self._iterations: list[int] = []

    def __enter__(self) -> Tracker:
        if _core.is_tracking():
            raise RuntimeError("leaktrace is already tracking in this process")
        if self._given_path is None:
            fd, self.path = tempfile.mkstemp(prefix="leaktrace-", suffix=".ltc")
            os.close(fd)
        else:
            self.path = os.fspath(self._given_path)
        gc.collect()
        options = session.Options(
            output=self.path,
            depth=self.max_depth,
            native_allocs=self.native_allocs,
            interval=self.interval or 0.0,
            snapshots=self.snapshots,
        )
        try:
            session.begin(options, "leaktrace.track()")
        except BaseException:
            if self._given_path is None:
                os.unlink(self.path)
            raise
        return self

    def __exit__(self, *exc: object) -> None:
        self._stop()

    def _stop(self) -> None:
        assert self.path is not None
        gc.collect()
        try:
            session.end()
            self.capture = Capture(self.path)
        finally:
            if self._given_path is None:
                os.unlink(self.path)

    def snapshot(self, label: str | None = None) -> int:
        """Record a snapshot now (after a full collection)."""
        gc.collect()
        return _core.snapshot(label)

    def _capture(self) -> Capture:
        if self.capture is None:
            raise RuntimeError("results are available once tracking has stopped")
        return self.capture

    def growth(self) -> list[SiteGrowth]:
        """Every site of the final snapshot with its growth, leaking sites first.

        The points are the iterations of check() when there are any, else the
        capture's snapshots placed on the program's work; a site seen at fewer than
        four points is "insufficient".
        """
        capture = self._capture()
        iterations = [
            s
            for s in capture.snapshots
            if s.kind == "mark" and s.label and s.label.startswith(ITERATION_LABEL)
        ]
        if iterations:
            xs = [float(s.label[len(ITERATION_LABEL) :]) for s in iterations]  # type: ignore[index]
            by_site = analyze(capture, iterations, xs=xs, unit=ITERATION_UNIT)
            last = iterations[-1]
            unit = ITERATION_UNIT
        else:
            by_site = analyze(capture)
            last = capture.final
            unit = WORK_UNIT
        sites, _ = capture.leaks(last)
        result = [
            SiteGrowth(s, by_site.get((s.stack, s.truncated)) or insufficient(0, unit))
            for s in sites
            if not _is_own(s)
        ]
        result.sort(key=lambda g: rank_key(g.growth, g.site.bytes))
        return result

    def leaks(self) -> list[SiteGrowth]:
        """The sites classed as leaking, fastest-growing first."""
        return [g for g in self.growth() if g.growth.kind == LEAKING]

    def report(self, *, top: int = 10) -> str:
        """A text report: the leaking sites with their growth, else what is still live."""
        from .reports.common import format_bytes

        growth = self.growth()
        leaking = [g for g in growth if g.growth.kind == LEAKING]
        shown = leaking or [g for g in growth if g.site.bytes][:top]
        if leaking:
            lines = [f"leaktrace: {len(leaking)} leaking sites"]
        else:
            live = sum(g.site.bytes for g in growth)
            lines = [
                f"leaktrace: no leaking site; {format_bytes(live)} still live in "
                f"{len(growth)} sites"
            ]
        for g in shown[:top]:
            lines.append(describe(g))
        return "\n".join(lines) + "\n"


def describe(g: SiteGrowth, max_frames: int = 4) -> str:
    """One site as a few lines: where, how much, how it grew."""
    from .reports.common import display_path, format_bytes, growth_words

    head = f"  {format_bytes(g.site.bytes)} in {g.site.count:,} blocks, {growth_words(g.growth)}"
    lines = [head]
    # Frames outside leaktrace's own (check() and the plugin's hooks) belong to the caller.
    stack = list(itertools.takewhile(lambda f: not f.file.startswith(_PACKAGE_DIR), g.site.stack))
    for frame in stack[:max_frames]:
        lines.append(f"    {display_path(frame.file)}:{frame.line} in {frame.function}")
    if not g.site.stack:
        lines.append("    <no Python frame>")
    return "\n".join(lines)


def track(
    path: str | os.PathLike[str] | None = None,
    *,
    interval: float | None = None,
    snapshots: bool = True,
    max_depth: int = DEFAULT_DEPTH,
    native_allocs: bool = True,
) -> Tracker:
    """``with leaktrace.track() as t: ...`` then ``t.report()`` or ``t.leaks()``.

    As with ``leaktrace.start()``, allocations C code makes with the malloc family
    and mmap are tracked too, at the Python line that called it, unless
    ``native_allocs`` is False; the block is snapshotted as the program works by
    default, or every ``interval`` seconds, or (``snapshots=False``) only where it
    asks, as there.
    """
    return Tracker(
        path,
        interval=interval,
        snapshots=snapshots,
        max_depth=max_depth,
        native_allocs=native_allocs,
    )


@dataclass(frozen=True)
class CheckResult:
    """What check() found: per-site growth per iteration, leaking sites first."""

    tracker: Tracker
    iterations: int
    sites: list[SiteGrowth]

    @property
    def leaking(self) -> list[SiteGrowth]:
        return [g for g in self.sites if g.growth.kind == LEAKING]

    @property
    def growth_per_iteration(self) -> float:
        """Bytes per iteration summed over the leaking sites."""
        return sum(g.growth.rate for g in self.leaking)

    def report(self, *, top: int = 10) -> str:
        return self.tracker.report(top=top)


def check(
    fn: Callable[..., object],
    *args: Any,
    warmup: int = 1,
    iterations: int = 10,
    path: str | os.PathLike[str] | None = None,
    native_allocs: bool = True,
    **kwargs: Any,
) -> CheckResult:
    """Calls fn(*args, **kwargs) warmup + iterations times under tracking.

    A snapshot after each measured iteration (and one before the first, after
    the warm-up) gives every site a series of live bytes per iteration.
    Native allocations are tracked as by ``track()`` unless ``native_allocs`` is False.
    """
    if warmup < 0 or iterations < 3:
        raise ValueError("check() needs warmup >= 0 and iterations >= 3")
    # The iterations are the x axis: no snapshots by work in between.
    with track(path, native_allocs=native_allocs, snapshots=False) as t:
        for _ in range(warmup):
            fn(*args, **kwargs)
        t.snapshot(ITERATION_LABEL + "0")
        for i in range(1, iterations + 1):
            fn(*args, **kwargs)
            t.snapshot(ITERATION_LABEL + str(i))
    return CheckResult(t, iterations, t.growth())


def no_growth(
    max_growth: int | str = 0,
    *,
    iterations: int = 10,
    warmup: int = 1,
    native_allocs: bool = True,
) -> Callable[[Callable[P, R]], Callable[P, None]]:
    """Decorator: calling the function runs check() on it and raises LeakError
    when the leaking sites grow by more than max_growth bytes per iteration
    (native allocations included unless native_allocs is False)."""
    limit = parse_size(max_growth)

    def decorate(fn: Callable[P, R]) -> Callable[P, None]:
        @functools.wraps(fn)
        def wrapper(*args: P.args, **kwargs: P.kwargs) -> None:
            result = check(
                functools.partial(fn, *args, **kwargs),
                warmup=warmup,
                iterations=iterations,
                native_allocs=native_allocs,
            )
            if result.leaking and result.growth_per_iteration > limit:
                raise LeakError(result.report())

        return wrapper

    return decorate
