"""The in-process API: track(), check() and the no_growth decorator."""

from __future__ import annotations

import os
import sys
import tempfile
import time
from pathlib import Path

import pytest

import leaktrace

HERE = str(Path(__file__).resolve())


def test_track_reports_what_the_block_left_alive() -> None:
    kept = []
    with leaktrace.track(snapshots=False) as t:
        kept.append(bytearray(30_000))
        line = sys._getframe().f_lineno - 1
        scratch = bytearray(90_000)
        del scratch
    # The temporary capture was made in the temporary directory and is gone (only this
    # one is checked: other processes may make and remove captures there meanwhile).
    assert os.path.dirname(t.path) == tempfile.gettempdir()
    assert os.path.basename(t.path).startswith("leaktrace-")
    assert not os.path.exists(t.path)
    sites = t.growth()
    top = sites[0]
    assert top.frame is not None and (top.frame.file, top.frame.line) == (HERE, line)
    assert 30_000 <= top.site.bytes < 30_200
    assert top.growth.kind == "insufficient"  # one snapshot: no series
    assert top.growth.points == 1
    assert t.leaks() == []
    report = t.report()
    assert report.startswith("leaktrace: no leaking site; ")
    assert f"test_track_api.py:{line} in test_track_reports_what_the_block_left_alive" in report


def _serve(kept: list[bytes], requests: int) -> None:
    for i in range(requests):
        kept.append(bytes(200))  # @api-leak
        scratch = [str(j) for j in range(50)]
        del scratch
        if i % 100 == 0:
            time.sleep(0.0005)


def test_track_snapshots_by_work_by_default() -> None:
    kept: list[bytes] = []
    with leaktrace.track() as t:
        _serve(kept, 20_000)
    assert t.capture is not None
    kinds = [s.kind for s in t.capture.snapshots]
    assert kinds.count("interval") >= 16, kinds  # as `leaktrace run` takes them
    lines = Path(HERE).read_text().splitlines()
    line = next(n for n, text in enumerate(lines, 1) if "# @api-leak" in text)
    site = next(g for g in t.growth() if g.frame and g.frame.line == line)
    assert site.growth.kind == "leaking", site.growth
    assert site.growth.unit == "MB allocated"


def test_start_snapshots_by_work_by_default(tmp_path: Path) -> None:
    kept: list[bytes] = []
    leaktrace.start(tmp_path / "s.ltc")
    try:
        _serve(kept, 20_000)
    finally:
        leaktrace.stop()
    kinds = [s.kind for s in leaktrace.load(tmp_path / "s.ltc").snapshots]
    assert kinds.count("interval") >= 16, kinds


def test_check_snapshots_only_its_iterations() -> None:
    result = leaktrace.check(_serve, [], 300, warmup=1, iterations=5)
    kinds = [s.kind for s in result.tracker.capture.snapshots]  # type: ignore[union-attr]
    assert kinds == ["mark"] * 6 + ["final"], kinds


def test_track_keeps_a_given_path(tmp_path: Path) -> None:
    path = tmp_path / "kept.ltc"
    with leaktrace.track(path, snapshots=False) as t:
        t.snapshot("middle")
    assert [s.label for s in leaktrace.load(path).snapshots] == ["middle", None]


def test_track_refuses_to_nest() -> None:
    with leaktrace.track(), pytest.raises(RuntimeError, match="already tracking"):
        leaktrace.track().__enter__()


def test_results_only_after_the_block() -> None:
    t = leaktrace.track()
    with pytest.raises(RuntimeError, match="once tracking has stopped"):
        t.leaks()


def test_check_returns_growth_per_iteration() -> None:
    kept: list[bytes] = []

    def leak(size: int) -> None:
        kept.append(b"x" * size)

    result = leaktrace.check(leak, 2000, warmup=2, iterations=5)
    assert len(kept) == 7
    [g] = result.leaking
    assert g.frame is not None and g.frame.function.endswith("leak")
    assert g.growth is not None and g.growth.unit == "iteration"
    assert 2000 <= g.growth.rate <= 2100
    assert len(g.growth.series) == 6
    assert result.growth_per_iteration == g.growth.rate
    with pytest.raises(ValueError, match="iterations >= 3"):
        leaktrace.check(leak, 1, iterations=2)


def test_no_growth_decorator() -> None:
    kept: list[bytearray] = []

    @leaktrace.no_growth(iterations=5)
    def leaky() -> None:
        kept.append(bytearray(4000))

    @leaktrace.no_growth(max_growth="8 KiB", iterations=5)
    def tolerated() -> None:
        kept.append(bytearray(4000))

    @leaktrace.no_growth(iterations=5)
    def clean() -> None:
        data = bytearray(4000)
        del data

    with pytest.raises(leaktrace.LeakError) as info:
        leaky()
    message = str(info.value)
    assert message.startswith("leaktrace: 1 leaking sites\n")
    # co_firstlineno is the decorator's line
    line = leaky.__wrapped__.__code__.co_firstlineno + 2  # type: ignore[attr-defined]
    [where] = [text for text in message.splitlines() if f"test_track_api.py:{line} in " in text]
    assert where.endswith("leaky")
    tolerated()
    clean()
    with pytest.raises(ValueError, match="not a size"):
        leaktrace.no_growth("lots")
