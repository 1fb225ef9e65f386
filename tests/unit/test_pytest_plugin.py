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


EVERY_TEST = """
import functools
import itertools
import logging

import pytest

_kept = []
_cache = {}
_counter = itertools.count()
_calls = {"once": 0, "counted": 0}


def test_leaks():
    _kept.append(bytearray(3000))  # the leak


def test_clean():
    scratch = [bytearray(200) for _ in range(100)]
    assert len(scratch) == 100


def test_cache_warms_up():
    if len(_cache) < 3:  # fills during the warm-up and the first iterations, then stays
        _cache[len(_cache)] = bytearray(5000)


@functools.lru_cache(maxsize=4)
def _square(n):
    return bytearray(2000)


def test_bounded_lru_cache():
    _square(next(_counter))  # a new key every run: evictions keep 4 entries alive


def test_logs(caplog):
    logging.getLogger("t").warning("one record per run")
    assert len(caplog.records) == 1


@pytest.mark.leaktrace_skip
def test_runs_once():
    _calls["once"] += 1
    assert _calls["once"] == 1


def test_counts_runs():
    _calls["counted"] += 1


@pytest.mark.leaktrace_skip
def test_zz_runs_counted():
    assert _calls["counted"] == RUNS
"""


def test_option_checks_every_test(pytester: pytest.Pytester) -> None:
    pytester.makepyfile(test_every=EVERY_TEST.replace("RUNS", "1 + 8"))
    result = pytester.runpytest("-p", "no:cacheprovider", "--leaktrace", "-W", "error")
    result.assert_outcomes(passed=7, failed=1)
    result.stdout.fnmatch_lines(
        [
            "*_ test_leaks _*",
            "leaktrace: memory grew by 3.0 KiB per iteration over 8 iterations "
            "(limit 1000 B), 1 leaking sites:",
            "*leaking +3.0 KiB/iteration*",
            "    test_every.py:14 in test_leaks",
            "(a test that cannot run repeatedly opts out with @pytest.mark.leaktrace_skip)",
        ]
    )
    assert "FAILED test_every.py::test_leaks" in result.stdout.str()


def test_option_settings(pytester: pytest.Pytester) -> None:
    pytester.makepyfile(test_every=EVERY_TEST.replace("RUNS", "3 + 4"))
    result = pytester.runpytest(
        "-p", "no:cacheprovider", "--leaktrace", "--leaktrace-warmup", "3",
        "--leaktrace-iterations", "4", "--leaktrace-max-growth", "4 KiB",
    )  # fmt: skip
    result.assert_outcomes(passed=8)
    strict = pytester.runpytest(
        "-p", "no:cacheprovider", "--leaktrace", "--leaktrace-max-growth", "0",
        "-k", "leaks or cache",
    )  # fmt: skip
    strict.assert_outcomes(passed=2, failed=1)
    bad = pytester.runpytest("--leaktrace", "--leaktrace-iterations", "2")
    assert bad.ret == pytest.ExitCode.USAGE_ERROR
    bad.stderr.fnmatch_lines(["ERROR: --leaktrace-iterations must be at least 3, not 2"])
    bad = pytester.runpytest("--leaktrace", "--leaktrace-max-growth", "lots")
    assert bad.ret == pytest.ExitCode.USAGE_ERROR
    bad.stderr.fnmatch_lines(["ERROR: --leaktrace-max-growth: not a size: 'lots'*"])


def test_option_marker_parameters_win(pytester: pytest.Pytester) -> None:
    pytester.makepyfile(
        test_marked="""
        import pytest

        _kept = []

        @pytest.mark.leaktrace(max_growth="4 KB", iterations=5)
        def test_allowed():
            _kept.append(bytearray(3000))

        @pytest.mark.leaktrace(iterations=5)
        def test_strict():
            _kept.append(bytearray(500))
        """
    )
    result = pytester.runpytest("-p", "no:cacheprovider", "--leaktrace")
    result.assert_outcomes(passed=1, failed=1)
    result.stdout.fnmatch_lines(
        ["leaktrace: memory grew by 5?? B per iteration over 5 iterations (limit 0 B)*"]
    )


def test_option_lists_surviving_memory(pytester: pytest.Pytester) -> None:
    pytester.makepyfile(
        test_survive="""
        _kept = {}

        def test_keeps():
            _kept["last"] = bytearray(50_000)  # replaced each run: alive, not growing

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
    pytester.makepyfile(test_mod="def test_plain():\n    pass\n")
    leaktrace.start(tmp_path / "outer2.ltc")
    try:
        result = pytester.runpytest("-p", "no:cacheprovider", "-rs", "--leaktrace")
    finally:
        leaktrace.stop()
    result.assert_outcomes(skipped=1)
    result.stdout.fnmatch_lines(["*leaktrace is already tracking this process*"])


def test_xdist(pytester: pytest.Pytester) -> None:
    pytester.makepyfile(test_mod=LEAKY_AND_CLEAN)
    pytester.makepyfile(
        test_other="""
        import pytest

        _kept = []

        def test_leaks_unmarked():
            _kept.append(bytearray(70_000))

        @pytest.mark.leaktrace_skip
        def test_opted_out():
            _kept.append(bytearray(40_000))
        """
    )
    result = pytester.runpytest_subprocess("-p", "no:cacheprovider", "-n", "2", "--leaktrace")
    result.assert_outcomes(passed=3, failed=2)
    result.stdout.fnmatch_lines_random(
        [
            "*test_mod.py:8 in test_leaky*",
            "*test_other.py:6 in test_leaks_unmarked*",
            "*leaktrace: memory still alive after each test*",
            "*KiB  test_other.py::test_leaks_unmarked  *",
            "*KiB  test_other.py::test_opted_out  *",
        ]
    )
