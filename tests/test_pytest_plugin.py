"""The pytest plugin, driven through pytester (in-process, and under pytest-xdist)."""

from __future__ import annotations

import pytest

pytest_plugins = ["pytester"]

LEAKY_AND_CLEAN = """
import pytest

_kept = []


@pytest.mark.leaktrace(iterations=6)
def test_leaky():
    _kept.append(bytearray(3000))  # the leak


@pytest.mark.leaktrace(max_growth="1 KB", iterations=6)
def test_clean(tmp_path):
    scratch = [bytearray(200) for _ in range(100)]
    assert len(scratch) == 100


@pytest.mark.leaktrace(max_growth="4 KB", iterations=6)
def test_small_leak_within_limit():
    _kept.append(bytearray(1000))
"""


def test_leaky_test_fails_with_its_site(pytester: pytest.Pytester) -> None:
    pytester.makepyfile(test_mod=LEAKY_AND_CLEAN)
    result = pytester.runpytest("-p", "no:cacheprovider")
    result.assert_outcomes(passed=2, failed=1)
    result.stdout.fnmatch_lines(
        [
            "*test_leaky*",
            "leaktrace: memory grew by 3.0 KiB per iteration over 6 iterations (limit 0 B), "
            "1 leaking sites:",
            "*leaking +3.0 KiB/iteration*",
            "    test_mod.py:8 in test_leaky",
        ]
    )
    assert "test_clean" not in result.stdout.str().split("short test summary")[1]


def test_peak_limit_marker(pytester: pytest.Pytester) -> None:
    pytester.makepyfile(
        test_peak="""
        import pytest

        @pytest.mark.leaktrace_limit("100 KB")
        def test_big():
            data = bytearray(1_000_000)
            del data

        @pytest.mark.leaktrace_limit("100 KB")
        def test_small():
            data = bytearray(10_000)
            del data
        """
    )
    result = pytester.runpytest("-p", "no:cacheprovider")
    result.assert_outcomes(passed=1, failed=1)
    result.stdout.fnmatch_lines(["*tracked heap peaked at 97?.? KiB, above the limit of 97.7 KiB"])


def test_option_lists_surviving_memory(pytester: pytest.Pytester) -> None:
    pytester.makepyfile(
        test_survive="""
        _kept = []

        def test_keeps():
            _kept.append(bytearray(50_000))

        def test_frees():
            data = bytearray(50_000)
            del data
        """
    )
    result = pytester.runpytest("-p", "no:cacheprovider", "--leaktrace")
    result.assert_outcomes(passed=2)
    result.stdout.fnmatch_lines(
        ["*leaktrace: memory still alive after each test*", "*KiB  test_survive.py::test_keeps  *"]
    )
    assert "test_frees" not in result.stdout.str()


def test_already_tracking_skips_with_reason(pytester: pytest.Pytester, tmp_path) -> None:
    import leaktrace

    pytester.makepyfile(test_mod=LEAKY_AND_CLEAN)
    leaktrace.start(tmp_path / "outer.ltc")
    try:
        result = pytester.runpytest("-p", "no:cacheprovider", "-rs")
    finally:
        leaktrace.stop()
    result.assert_outcomes(skipped=3)
    result.stdout.fnmatch_lines(["*leaktrace is already tracking this process*"])


def test_xdist(pytester: pytest.Pytester) -> None:
    pytester.makepyfile(test_mod=LEAKY_AND_CLEAN)
    pytester.makepyfile(
        test_other="""
        _kept = []

        def test_keeps():
            _kept.append(bytearray(70_000))
        """
    )
    result = pytester.runpytest_subprocess("-p", "no:cacheprovider", "-n", "2", "--leaktrace")
    result.assert_outcomes(passed=3, failed=1)
    result.stdout.fnmatch_lines(
        [
            "*test_mod.py:8 in test_leaky*",
            "*leaktrace: memory still alive after each test*",
            "*KiB  test_other.py::test_keeps  *",
        ]
    )
