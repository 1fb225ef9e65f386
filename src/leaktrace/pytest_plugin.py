"""The pytest plugin (registered through the ``pytest11`` entry point).

- ``@pytest.mark.leaktrace(max_growth=0, iterations=10, warmup=1)`` runs the test body
  warmup + iterations times under tracking and fails the test when the sites classed
  as leaking grow by more than max_growth bytes per iteration, naming each site.
- ``@pytest.mark.leaktrace_limit("10 MB")`` runs the test body once under tracking and
  fails it when its tracked heap peaked above the limit.
- ``--leaktrace`` runs every other test's body once under tracking and lists, after the
  run, the tests that left the most memory alive and where it was allocated. It fails
  nothing: memory alive after one run is not proof of a leak (see docs/growth.md); mark
  the suspects with ``@pytest.mark.leaktrace`` to check them.

Fixtures are set up once; only the test function itself is repeated. Under
pytest-xdist each worker tracks its own tests and the summary is gathered on the
controller. When leaktrace already tracks the process (pytest run under
``leaktrace run``), the marked tests are skipped with that reason.
"""

from __future__ import annotations

import inspect
from typing import Any

import pytest

from . import _core

_SUMMARY_KEY = "leaktrace_survivors"
# (test id, live bytes, site of the most) per test tracked by --leaktrace; on the xdist
# controller they arrive in the reports' user_properties.
_SURVIVORS: list[tuple[str, int, str]] = []
_ALREADY = "leaktrace is already tracking this process (pytest runs under leaktrace?)"


def pytest_addoption(parser: pytest.Parser) -> None:
    group = parser.getgroup("leaktrace", "memory leaks (leaktrace)")
    group.addoption(
        "--leaktrace",
        action="store_true",
        default=False,
        help="run every test under leaktrace and list the tests that left memory alive",
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


def _test_call(item: pytest.Function) -> tuple[Any, dict[str, Any]]:
    args = {name: item.funcargs[name] for name in item._fixtureinfo.argnames}
    return item.obj, args


def _run_growth_check(item: pytest.Function, marker: pytest.Mark) -> None:
    from .api import check, describe, parse_size

    options = dict(marker.kwargs)
    limit = parse_size(options.pop("max_growth", 0))
    iterations = int(options.pop("iterations", 10))
    warmup = int(options.pop("warmup", 1))
    if options or marker.args:
        raise pytest.UsageError(
            f"{item.nodeid}: leaktrace marker takes max_growth, iterations and warmup only"
        )
    fn, args = _test_call(item)
    result = check(fn, warmup=warmup, iterations=iterations, **args)
    grown = result.growth_per_iteration
    if result.leaking and grown > limit:
        from .report import format_bytes

        sites = "\n".join(describe(g) for g in result.leaking[:5])
        pytest.fail(
            f"leaktrace: memory grew by {format_bytes(grown)} per iteration over "
            f"{iterations} iterations (limit {format_bytes(limit)}), "
            f"{len(result.leaking)} leaking sites:\n{sites}",
            pytrace=False,
        )


def _run_peak_check(item: pytest.Function, marker: pytest.Mark) -> None:
    from .api import parse_size, track
    from .report import format_bytes

    if len(marker.args) != 1 or marker.kwargs:
        raise pytest.UsageError(f"{item.nodeid}: leaktrace_limit takes one size, e.g. '10 MB'")
    limit = parse_size(marker.args[0])
    fn, args = _test_call(item)
    with track() as t:
        fn(**args)
    assert t.capture is not None
    peak = t.capture.stats["peak_bytes"]
    if peak > limit:
        pytest.fail(
            f"leaktrace: the test's tracked heap peaked at {format_bytes(peak)}, above the "
            f"limit of {format_bytes(limit)}",
            pytrace=False,
        )


def _run_tracked(item: pytest.Function) -> None:
    from .api import track

    fn, args = _test_call(item)
    with track() as t:
        fn(**args)
    sites = [g.site for g in t.growth() if g.site.bytes]
    total = sum(s.bytes for s in sites)
    if total:
        top = max(sites, key=lambda s: s.bytes)
        where = f"{top.stack[0].file}:{top.stack[0].line}" if top.stack else "<no Python frame>"
        item.user_properties.append((_SUMMARY_KEY, (total, where)))


@pytest.hookimpl(tryfirst=True)
def pytest_pyfunc_call(pyfuncitem: pytest.Function) -> bool | None:
    growth = pyfuncitem.get_closest_marker("leaktrace")
    limit = pyfuncitem.get_closest_marker("leaktrace_limit")
    tracked = pyfuncitem.config.getoption("leaktrace")
    if not (growth or limit or tracked):
        return None
    if inspect.iscoroutinefunction(pyfuncitem.obj):
        if growth or limit:
            pytest.skip("leaktrace markers do not support coroutine tests")
        return None
    if _core.is_tracking():
        if growth or limit:
            pytest.skip(_ALREADY)
        return None
    if growth:
        _run_growth_check(pyfuncitem, growth)
    if limit:
        _run_peak_check(pyfuncitem, limit)
    if tracked and not (growth or limit):
        _run_tracked(pyfuncitem)
    return True


def pytest_runtest_logreport(report: pytest.TestReport) -> None:
    if report.when != "call":
        return
    for key, value in report.user_properties:
        if key == _SUMMARY_KEY:
            total, where = value
            _SURVIVORS.append((report.nodeid, int(total), str(where)))


def pytest_terminal_summary(terminalreporter: Any, config: pytest.Config) -> None:
    if not config.getoption("leaktrace") or hasattr(config, "workerinput"):
        return
    from .report import format_bytes

    rows = sorted(_SURVIVORS, key=lambda r: -r[1])
    terminalreporter.section("leaktrace: memory still alive after each test")
    if not rows:
        terminalreporter.write_line("no test left tracked memory alive")
    for nodeid, total, where in rows[: config.getoption("leaktrace_top")]:
        terminalreporter.write_line(f"{format_bytes(total):>10}  {nodeid}  (most at {where})")
    _SURVIVORS.clear()
