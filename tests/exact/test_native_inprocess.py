"""Native allocations in the in-process tools: ``track()``, ``check()``, ``no_growth``
and the pytest plugin track the malloc family by default, as ``leaktrace.start()`` and
``leaktrace run`` do (``ltx_native`` makes exactly one C library call per function).
"""

from __future__ import annotations

import pytest
from ltx_support import at, marker_lines

import leaktrace

pytest_plugins = ["pytester"]

THIS_FILE = (lambda: None).__code__.co_filename
LINE = marker_lines(THIS_FILE)


def test_track_charges_native_malloc_to_its_python_line(native_ext) -> None:
    with leaktrace.track() as t:
        native_ext.malloc(54_321)  # @track-malloc
    assert t.capture is not None
    assert at(t.capture, THIS_FILE, LINE["track-malloc"])[:2] == (54_321, 1)


def test_track_without_native_allocs_does_not_see_malloc(native_ext) -> None:
    with leaktrace.track(native_allocs=False) as t:
        native_ext.malloc(54_321)  # @untracked-malloc
    assert t.capture is not None
    assert at(t.capture, THIS_FILE, LINE["untracked-malloc"])[:2] == (0, 0)


def test_check_finds_native_leak(native_ext) -> None:
    def leak() -> None:
        native_ext.malloc(10_000)  # @check-malloc

    result = leaktrace.check(leak, iterations=5)
    (site,) = result.leaking
    assert site.frame is not None and site.frame.line == LINE["check-malloc"]
    assert result.growth_per_iteration == pytest.approx(10_000)


def test_no_growth_raises_on_native_leak(native_ext) -> None:
    @leaktrace.no_growth(iterations=5)
    def leak() -> None:
        native_ext.malloc(10_000)

    with pytest.raises(leaktrace.LeakError, match=r"leaking \+9\.8 KiB/iteration"):
        leak()


def test_pytest_marker_catches_native_leak(pytester: pytest.Pytester, native_ext) -> None:
    pytester.makepyfile(
        test_cleak="""
        import sys

        import pytest

        ext = sys.modules["ltx_native"]


        @pytest.mark.leaktrace(iterations=5)
        def test_native_leak():
            ext.malloc(20_000)  # the leak
        """
    )
    result = pytester.runpytest("-p", "no:cacheprovider")
    result.assert_outcomes(failed=1)
    result.stdout.fnmatch_lines(
        [
            "*leaktrace: memory grew by 19.5 KiB per iteration over 5 iterations*",
            "*leaking +19.5 KiB/iteration*",
            "    test_cleak.py:10 in test_native_leak",
        ]
    )
