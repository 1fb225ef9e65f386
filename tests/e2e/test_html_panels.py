"""The HTML report of a real run, in chromium: the verdict first, growth with its unit,
a sparkline per site, reference paths as the text report writes them, the leak-suspect
and cycle panels, the Python line of native rows; the page stays small and offline."""

from __future__ import annotations

import json
import subprocess
import textwrap
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import leaktrace_cli
import pytest
from report_support import with_stacks
from test_html_report import Page, browser, opened  # noqa: F401  (browser is a fixture)

from leaktrace.reports.common import format_bytes

PROGRAM = """
import ctypes
import gc
import time

libc = ctypes.CDLL(None)
libc.malloc.restype = ctypes.c_void_p
libc.malloc.argtypes = [ctypes.c_size_t]


class Bus:
    def __init__(self):
        self._listeners = []


BUS = Bus()
NATIVE = []
for i in range(40):
    BUS._listeners.append(bytearray(10_000))  # LEAK-PYTHON
    NATIVE.append(libc.malloc(30_000))  # LEAK-NATIVE
    time.sleep(0.01)
gc.disable()
for i in range(50):
    a = []
    b = [a, bytearray(1000)]  # CYCLE
    a.append(b)
del a, b
"""
PYTHON_LINE, NATIVE_LINE = (
    next(i for i, line in enumerate(PROGRAM.splitlines(), 1) if mark in line)
    for mark in ("LEAK-PYTHON", "LEAK-NATIVE")
)
SIZE_LIMIT = 400_000  # bytes; memray's pages are 4.7-6.8 MB


@pytest.fixture(scope="module")
def run(tmp_path_factory: pytest.TempPathFactory) -> tuple[Path, dict[str, Any]]:
    """A capture with growth, retention, suspects, cycles and native frames; its HTML
    page and its JSON report."""
    tmp = tmp_path_factory.mktemp("panels")
    (tmp / "panels.py").write_text(textwrap.dedent(PROGRAM))
    subprocess.run(
        [*leaktrace_cli.command(), "run", "-q", "--native", "--interval", "0.05",
         "-o", "p.ltc", "panels.py"],
        cwd=tmp, check=True, timeout=120,
    )  # fmt: skip
    for fmt, out in (("html", "p.html"), ("json", "p.json")):
        subprocess.run(
            [*leaktrace_cli.command(), "report", "p.ltc", "--format", fmt, "-o", out],
            cwd=tmp, check=True, timeout=120,
        )  # fmt: skip
    return tmp / "p.html", with_stacks(json.loads((tmp / "p.json").read_text()))


@pytest.fixture
def page(browser: Any, run: tuple[Path, dict[str, Any]]) -> Iterator[Page]:  # noqa: F811
    with opened(browser, run[0]) as p:
        yield p


def _rows(page: Page) -> list[list[str]]:
    """The table's cells, row by row in the JSON report's order (the table is sorted
    by bytes; data-rank is the JSON report's rank)."""
    rows = page.page.locator("#lt-sites tbody tr.lt-site-row").evaluate_all(
        "rows => rows.map(r => [Number(r.dataset.rank), [...r.children].map(c => c.textContent)])"
    )
    return [cells for _, cells in sorted(rows)]


def _header(page: Page) -> list[str]:
    return page.texts("#lt-sites thead th")


def _growth_text(growth: dict[str, Any]) -> str:
    why = f" ({growth['explanation']})"
    if growth["class"] == "insufficient":
        return growth["class"] + why
    sign = "+" if growth["rate"] >= 0 else "-"
    text = f"{growth['class']} {sign}{format_bytes(abs(growth['rate']))}/{growth['unit']}"
    per_second = growth["rate_per_second"]
    if per_second:
        text += f", {'+' if per_second >= 0 else '-'}{format_bytes(abs(per_second))}/s"
    return text + why


def test_small_and_offline(run: tuple[Path, dict[str, Any]], page: Page) -> None:
    text = run[0].read_text()
    assert len(text.encode()) < SIZE_LIMIT
    assert "<link" not in text and "<script src" not in text and "url(" not in text
    assert page.requests == []


def test_verdict_comes_first(run: tuple[Path, dict[str, Any]], page: Page) -> None:
    doc = run[1]
    classes = [s["growth"]["class"] for s in doc["leaks"] if s["growth"]]
    verdict = page.page.locator("#lt-verdict")
    assert verdict.count() == 1
    # Before the summary cards, the icicle graph and the table.
    order = page.page.evaluate(
        "() => [...document.querySelectorAll('#lt-verdict, .lt-cards, #lt-flame, #lt-sites')]"
        ".map(e => e.id || e.className)"
    )
    assert order == ["lt-verdict", "lt-cards", "lt-flame", "lt-sites"]
    text = verdict.text_content()
    leaking = classes.count("leaking")
    assert leaking >= 2
    assert f"{leaking} leaking" in text
    top = doc["leaks"][0]
    assert top["growth"]["class"] == "leaking"
    assert _growth_text(top["growth"]) in text


def test_growth_has_its_unit_and_a_sparkline(run: tuple[Path, dict[str, Any]], page: Page) -> None:
    doc = run[1]
    header = _header(page)
    column = header.index("growth")
    rows = _rows(page)
    assert len(rows) == len(doc["leaks"])
    for row, site in zip(rows, doc["leaks"], strict=True):
        assert row[column] == _growth_text(site["growth"])
        assert "/rate" not in row[column]
    sparks = page.page.locator("#lt-sites tbody tr.lt-site-row svg.lt-spark")
    assert sparks.count() == len(doc["leaks"])
    for rank, site in enumerate(doc["leaks"], 1):
        spark = page.page.locator(f'#lt-sites tr.lt-site-row[data-rank="{rank}"] svg.lt-spark')
        assert spark.get_attribute("data-points") == str(len(site["growth"]["series"]))
    # The line rises for a leaking site: its last point is higher (smaller y) than its first.
    top = page.page.locator('#lt-sites tr.lt-site-row[data-rank="1"] svg.lt-spark polyline')
    points = top.get_attribute("points").split()
    assert float(points[-1].split(",")[1]) < float(points[0].split(",")[1])


def test_reference_paths_as_in_the_text_report(
    run: tuple[Path, dict[str, Any]], page: Page
) -> None:
    doc = run[1]
    rank, site = next(
        (i, s)
        for i, s in enumerate(doc["leaks"], 1)
        if s["retention"] and s["stack"][0]["line"] == PYTHON_LINE
    )
    page.page.locator(f'#lt-sites tr.lt-site-row[data-rank="{rank}"]').click()
    expected = [
        f"held by: {p['text']}  (retains {format_bytes(p['retained_bytes'])})"
        for p in site["retention"]
    ]
    assert page.texts("#lt-sites .lt-path") == expected
    assert expected[0].startswith("held by: module __main__ → BUS → ._listeners")


def test_leak_suspects_panel(run: tuple[Path, dict[str, Any]], page: Page) -> None:
    suspects = run[1]["leak_suspects"]
    assert suspects
    assert page.texts("#lt-suspects li") == [
        f"{format_bytes(s['leaked_bytes'])} retained by {s['path']['text']}" for s in suspects
    ]


def test_cycles_panel(run: tuple[Path, dict[str, Any]], page: Page) -> None:
    cycles = run[1]["cycles"]
    assert cycles
    items = page.texts("#lt-cycles li.lt-cycle")
    assert len(items) == len(cycles)
    for item, cycle in zip(items, cycles, strict=True):
        head = (
            f"{format_bytes(cycle['bytes'])} in {cycle['objects']:,} objects "
            f"({cycle['clusters']:,} alike): {cycle['text']}"
        )
        assert item.startswith(head)
        assert "panels.py:2" in item  # where its objects were allocated (lines 23, 24)


def test_native_rows_show_their_python_line(run: tuple[Path, dict[str, Any]], page: Page) -> None:
    doc = run[1]
    rank, site = next(
        (i, s) for i, s in enumerate(doc["leaks"], 1) if s["stack"][0]["kind"] == "native"
    )
    rows = page.page.locator(f'#lt-sites tr.lt-site-row[data-rank="{rank}"]')
    row = rows.evaluate_all("rows => [...rows[0].children].map(c => c.textContent)")
    header = _header(page)
    assert row[header.index("function")] == f"{site['stack'][0]['function']} [native]"
    assert row[header.index("where")].endswith(f"panels.py:{NATIVE_LINE}")
    rows.click()
    detail = page.texts("#lt-sites tr.lt-detail div")
    python = [d for d in detail if d.startswith("<module>")]
    assert python and python[0].endswith(f"panels.py:{NATIVE_LINE}")
