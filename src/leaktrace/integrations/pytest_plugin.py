"""The pytest plugin (registered through the ``pytest11`` entry point).

- ``pytest --leaktrace`` checks every test: its body runs warm-up + N times under
  tracking (``--leaktrace-warmup``, ``--leaktrace-iterations``) and the test fails when
  the sites classed as leaking grow by more than ``--leaktrace-max-growth`` bytes per
  iteration, naming each site. After the run, a summary lists the tests that left the
  most memory alive. ``@pytest.mark.leaktrace_skip`` opts a test out of the check (it
  runs once, tracked for the summary only).
- ``@pytest.mark.leaktrace(max_growth=0, iterations=10, warmup=1)`` checks one test the
  same way with its own parameters, with or without ``--leaktrace``.
- ``@pytest.mark.leaktrace_limit("10 MB")`` runs the test body once under tracking and
  fails it when its tracked heap peaked above the limit.

Fixtures are set up once; only the test function itself is repeated. Under
pytest-xdist each worker checks its own tests and the summary is gathered on the
controller. When leaktrace already tracks the process (pytest run under
``leaktrace run``), the tests to check are skipped with that reason.
"""

from __future__ import annotations

import inspect
import logging
from dataclasses import dataclass
from typing import TYPE_CHECKING, Any, cast

import pytest

from .. import _core

if TYPE_CHECKING:
    from ..api import SiteGrowth

_SUMMARY_KEY = "leaktrace_survivors"
# (test id, live bytes, site of the most) per test tracked by --leaktrace; on the xdist
# controller they arrive in the reports' user_properties.
_SURVIVORS: list[tuple[str, int, str]] = []
_ALREADY = "leaktrace is already tracking this process (pytest runs under leaktrace?)"


@dataclass(frozen=True)
class _Check:
    """How to check one test: run it warmup + iterations times, allow max_growth."""

    max_growth: int
    iterations: int
    warmup: int
    by_option: bool  # asked for by --leaktrace: a failure says how to opt out


_EVERY_TEST = pytest.StashKey[_Check]()


def pytest_addoption(parser: pytest.Parser) -> None:
    group = parser.getgroup("leaktrace", "memory leaks (leaktrace)")
    group.addoption(
        "--leaktrace",
        action="store_true",
        default=False,
        help="check every test for leaks: run its body repeatedly under leaktrace and fail "
        "it when memory keeps growing; list the tests that left the most memory alive",
    )
    group.addoption(
        "--leaktrace-iterations",
        type=int,
        default=8,
        metavar="N",
        help="measured runs of each test body under --leaktrace (default 8, at least 3)",
    )
    group.addoption(
        "--leaktrace-warmup",
        type=int,
        default=1,
        metavar="N",
        help="runs of each test body before the measured ones (default 1)",
    )
    group.addoption(
        "--leaktrace-max-growth",
        default="1 KB",
        metavar="SIZE",
        help="growth per iteration a test may show under --leaktrace (default '1 KB'; 0 is strict)",
    )
    group.addoption(
        "--leaktrace-top",
        type=int,
        default=10,
        metavar="N",
        help="tests to list in the --leaktrace summary (default 10)",
    )


def pytest_configure(config: pytest.Config) -> None:
    config.addinivalue_line(
        "markers",
        "leaktrace(max_growth=0, iterations=10, warmup=1): run the test repeatedly and fail "
        "when memory keeps growing by more than max_growth bytes per iteration",
    )
    config.addinivalue_line(
        "markers", "leaktrace_limit(size): fail when the test's tracked heap peaks above size"
    )
    config.addinivalue_line(
        "markers",
        "leaktrace_skip: do not run this test repeatedly under --leaktrace (it runs once)",
    )
    if config.getoption("leaktrace"):
        config.stash[_EVERY_TEST] = _option_check(config)


def _test_call(item: pytest.Function) -> tuple[Any, dict[str, Any]]:
    args = {name: item.funcargs[name] for name in item._fixtureinfo.argnames}
    return item.obj, args


def _option_check(config: pytest.Config) -> _Check:
    from ..api import parse_size

    size = config.getoption("leaktrace_max_growth")
    try:
        max_growth = parse_size(size)
    except ValueError as exc:
        raise pytest.UsageError(f"--leaktrace-max-growth: {exc}") from None
    iterations = config.getoption("leaktrace_iterations")
    warmup = config.getoption("leaktrace_warmup")
    if iterations < 3:
        raise pytest.UsageError(f"--leaktrace-iterations must be at least 3, not {iterations}")
    if warmup < 0:
        raise pytest.UsageError(f"--leaktrace-warmup cannot be negative: {warmup}")
    return _Check(max_growth, iterations, warmup, by_option=True)


def _marker_check(item: pytest.Function, marker: pytest.Mark) -> _Check:
    from ..api import parse_size

    options = dict(marker.kwargs)
    limit = parse_size(options.pop("max_growth", 0))
    iterations = int(options.pop("iterations", 10))
    warmup = int(options.pop("warmup", 1))
    if options or marker.args:
        raise pytest.UsageError(
            f"{item.nodeid}: leaktrace marker takes max_growth, iterations and warmup only"
        )
    return _Check(limit, iterations, warmup, by_option=False)


def _note_survivors(item: pytest.Function, sites: list[SiteGrowth]) -> None:
    """Keep, for the summary, the live bytes the test left and where most of them are."""
    live = [g.site for g in sites if g.site.bytes]
    total = sum(s.bytes for s in live)
    if total:
        top = max(live, key=lambda s: s.bytes)
        where = f"{top.stack[0].file}:{top.stack[0].line}" if top.stack else "<no Python frame>"
        item.user_properties.append((_SUMMARY_KEY, (total, where)))


def _clear_captured_logs() -> None:
    """Forget the log records pytest captured during the previous run of the test body.

    pytest keeps each record until the test ends, so every run would add its own (and
    caplog.records would hold them all): only the last run's records are kept. The
    handler's list and stream are emptied in place, allocating nothing.
    """
    from _pytest.logging import LogCaptureHandler

    for handler in logging.getLogger().handlers:
        if isinstance(handler, LogCaptureHandler):
            handler.records.clear()
            handler.stream.seek(0)
            handler.stream.truncate()


def _run_growth_check(item: pytest.Function, params: _Check, summary: bool) -> None:
    from ..api import check, describe

    fn, args = _test_call(item)

    def run_once(**kwargs: Any) -> None:
        _clear_captured_logs()
        fn(**kwargs)

    result = check(run_once, warmup=params.warmup, iterations=params.iterations, **args)
    if summary:
        _note_survivors(item, result.sites)
    grown = result.growth_per_iteration
    if result.leaking and grown > params.max_growth:
        from ..reports.common import format_bytes

        sites = "\n".join(describe(g) for g in result.leaking[:5])
        hint = ""
        if params.by_option:
            hint = "\n(a test that cannot run repeatedly opts out with @pytest.mark.leaktrace_skip)"
        pytest.fail(
            f"leaktrace: memory grew by {format_bytes(grown)} per iteration over "
            f"{params.iterations} iterations (limit {format_bytes(params.max_growth)}), "
            f"{len(result.leaking)} leaking sites:\n{sites}{hint}",
            pytrace=False,
        )


def _run_peak_check(item: pytest.Function, marker: pytest.Mark, summary: bool) -> None:
    from ..api import parse_size, track
    from ..reports.common import format_bytes

    if len(marker.args) != 1 or marker.kwargs:
        raise pytest.UsageError(f"{item.nodeid}: leaktrace_limit takes one size, e.g. '10 MB'")
    limit = parse_size(marker.args[0])
    fn, args = _test_call(item)
    with track() as t:
        fn(**args)
    assert t.capture is not None
    if summary:
        _note_survivors(item, t.growth())
    peak = t.capture.stats["peak_bytes"]
    if peak > limit:
        pytest.fail(
            f"leaktrace: the test's tracked heap peaked at {format_bytes(peak)}, above the "
            f"limit of {format_bytes(limit)}",
            pytrace=False,
        )


def _run_tracked(item: pytest.Function) -> None:
    from ..api import track

    fn, args = _test_call(item)
    with track() as t:
        fn(**args)
    _note_survivors(item, t.growth())


@pytest.hookimpl(tryfirst=True)
def pytest_pyfunc_call(pyfuncitem: pytest.Function) -> bool | None:
    marker = pyfuncitem.get_closest_marker("leaktrace")
    limit = pyfuncitem.get_closest_marker("leaktrace_limit")
    every = pyfuncitem.config.stash.get(_EVERY_TEST, None)
    if marker is not None:
        growth: _Check | None = _marker_check(pyfuncitem, marker)
    elif every is not None and pyfuncitem.get_closest_marker("leaktrace_skip") is None:
        growth = every
    else:
        growth = None
    if growth is None and limit is None and every is None:
        return None
    if inspect.iscoroutinefunction(pyfuncitem.obj):
        if marker is not None or limit is not None:
            pytest.skip("leaktrace markers do not support coroutine tests")
        return None
    if _core.is_tracking():
        if growth is not None or limit is not None:
            pytest.skip(_ALREADY)
        return None
    summary = every is not None
    if growth is not None:
        _run_growth_check(pyfuncitem, growth, summary)
    if limit is not None:
        _run_peak_check(pyfuncitem, limit, summary and growth is None)
    if summary and growth is None and limit is None:
        _run_tracked(pyfuncitem)
    return True


def pytest_runtest_logreport(report: pytest.TestReport) -> None:
    if report.when != "call":
        return
    for key, value in report.user_properties:
        if key == _SUMMARY_KEY:
            total, where = cast("tuple[int, str]", value)
            _SURVIVORS.append((report.nodeid, int(total), str(where)))


def pytest_terminal_summary(terminalreporter: Any, config: pytest.Config) -> None:
    if not config.getoption("leaktrace") or hasattr(config, "workerinput"):
        return
    from ..reports.common import format_bytes

    rows = sorted(_SURVIVORS, key=lambda r: -r[1])
    terminalreporter.section("leaktrace: memory still alive after each test")
    if not rows:
        terminalreporter.write_line("no test left tracked memory alive")
    for nodeid, total, where in rows[: config.getoption("leaktrace_top")]:
        terminalreporter.write_line(f"{format_bytes(total):>10}  {nodeid}  (most at {where})")
    _SURVIVORS.clear()
