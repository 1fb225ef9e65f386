"""The HTML report in a real browser: Debian's chromium driven by Playwright.

scripts/test.sh installs both. Checked: the page loads offline with no console error
and no request, draws the icicle graph with exact widths, zooms on click, highlights
search matches, switches to the peak view, sorts the site table, shows the timeline,
and shows growth, retention and native frames when a capture has them.
"""

from __future__ import annotations

import contextlib
import os
import subprocess
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import leaktrace_cli
import pytest
from report_support import sample_capture, sample_parts

from leaktrace.reading import load_profile
from leaktrace.reports import html as html_report

CHROMIUM = os.environ.get("LEAKTRACE_CHROMIUM", "/usr/bin/chromium")
WIDTH = 1200


@contextlib.contextmanager
def _without_preload() -> Iterator[None]:
    """The ASan run preloads libasan into everything; the browser must not get it."""
    saved = os.environ.pop("LD_PRELOAD", None)
    try:
        yield
    finally:
        if saved is not None:
            os.environ["LD_PRELOAD"] = saved


@pytest.fixture(scope="module")
def browser() -> Iterator[Any]:
    try:
        from playwright.sync_api import sync_playwright
    except ImportError:
        pytest.fail("playwright is missing: scripts/test.sh installs it (pip install playwright)")
    if not os.access(CHROMIUM, os.X_OK):
        pytest.fail(f"{CHROMIUM} is missing: scripts/test.sh installs Debian's chromium")
    with _without_preload():
        manager = sync_playwright()
        playwright = manager.start()
        browser = playwright.chromium.launch(executable_path=CHROMIUM, args=["--no-sandbox"])
    try:
        yield browser
    finally:
        browser.close()
        manager.__exit__(None, None, None)


@dataclass
class Page:
    page: Any
    errors: list[str]
    requests: list[str]

    def texts(self, selector: str) -> list[str]:
        return self.page.locator(selector).all_text_contents()

    def frame(self, name: str) -> Any:
        return self.page.locator(".lt-frame", has_text=name).first

    def width(self, selector_or_locator: Any) -> float:
        loc = (
            self.page.locator(selector_or_locator)
            if isinstance(selector_or_locator, str)
            else selector_or_locator
        )
        return loc.evaluate("e => e.getBoundingClientRect().width")


@pytest.fixture
def sample(tmp_path: Path) -> Path:
    path = tmp_path / "sample.ltc"
    path.write_bytes(sample_capture())
    return path


def html_file(capture: Path, out: Path) -> Path:
    result = subprocess.run(
        [*leaktrace_cli.command(), "report", capture, "--format", "html", "-o", out],
        capture_output=True,
        text=True,
        timeout=60,
    )
    assert result.returncode == 0, result.stderr
    assert result.stderr == ""
    return out


@contextlib.contextmanager
def opened(browser: Any, path: Path) -> Iterator[Page]:
    page = browser.new_page(viewport={"width": WIDTH, "height": 900})
    opened_page = Page(page, [], [])
    page.on("console", lambda m: opened_page.errors.append(m.text) if m.type == "error" else None)
    page.on("pageerror", lambda e: opened_page.errors.append(str(e)))
    url = path.resolve().as_uri()

    def route(r: Any) -> None:
        if r.request.url != url:
            opened_page.requests.append(r.request.url)
            r.abort()
        else:
            r.continue_()

    page.route("**/*", route)
    page.goto(url)
    try:
        yield opened_page
        assert opened_page.errors == []
    finally:
        page.close()


@pytest.fixture
def report(browser: Any, sample: Path, tmp_path: Path) -> Iterator[Page]:
    with opened(browser, html_file(sample, tmp_path / "report.html")) as page:
        yield page


def test_self_contained(report: Page, tmp_path: Path) -> None:
    text = (tmp_path / "report.html").read_text()
    assert "<link" not in text and "<script src" not in text and "@import" not in text
    assert report.requests == []  # nothing fetched: it works offline
    assert report.errors == []


def test_icicle_widths_are_bytes(report: Page) -> None:
    flame = report.width("#lt-flame") - 2  # its border
    assert report.page.get_attribute("#lt-flame", "data-metric") == "leaked"
    # 3600 bytes leaked: work 2000, handle 1500, deep 100 (under [truncated]).
    assert report.width(report.frame("work")) == pytest.approx(flame * 2000 / 3600, abs=1)
    assert report.width(report.frame("handle")) == pytest.approx(flame * 1500 / 3600, abs=1)
    assert report.width(report.frame("main")) == pytest.approx(flame * 3500 / 3600, abs=1)
    assert report.page.locator('.lt-frame[data-kind="marker"]').count() >= 1  # all, [truncated]


def test_click_zooms_and_crumbs_zoom_out(report: Page) -> None:
    flame = report.width("#lt-flame") - 2
    report.frame("handle").click()
    assert report.texts("#lt-crumbs a") == ["all", "<module>", "main", "handle"]
    assert report.width(report.frame("handle")) == pytest.approx(flame, abs=1)
    assert report.page.locator(".lt-frame", has_text="work").count() == 0
    assert report.page.locator(".lt-frame.lt-ancestor").count() == 3
    report.page.locator("#lt-crumbs a", has_text="main").click()
    assert report.width(report.frame("main")) == pytest.approx(flame, abs=1)
    assert report.width(report.frame("work")) == pytest.approx(flame * 2000 / 3500, abs=1)
    report.page.click("#lt-reset")
    assert report.page.get_attribute("#lt-flame", "data-focus") == "0"
    assert report.page.locator(".lt-frame", has_text="deep").count() == 1


def test_search_highlights(report: Page) -> None:
    report.page.fill("#lt-search", "work")
    assert report.texts(".lt-frame.lt-match") == ["work"]
    assert report.texts("#lt-search-status") == ["1 matching frame, 2.0 KiB (55.6%)"]
    report.page.fill("#lt-search", "a.py")  # a file: <module>, main and handle are in a.py
    assert sorted(report.texts(".lt-frame.lt-match")) == ["<module>", "handle", "main"]
    assert report.texts("#lt-search-status") == ["3 matching frames, 3.4 KiB (97.2%)"]
    report.page.fill("#lt-search", "")
    assert report.page.locator(".lt-match").count() == 0


def test_peak_view(report: Page) -> None:
    report.page.click('button[data-metric="peak"]')
    assert report.page.get_attribute("#lt-flame", "data-metric") == "peak"
    flame = report.width("#lt-flame") - 2
    # Snapshot #0 had the highest heap: handle 4000, work 2000, nothing truncated.
    assert report.width(report.frame("handle")) == pytest.approx(flame * 4000 / 6000, abs=1)
    assert report.width(report.frame("work")) == pytest.approx(flame * 2000 / 6000, abs=1)
    assert report.page.locator(".lt-frame", has_text="deep").count() == 0


def _functions(report: Page) -> list[str]:
    return report.page.locator("#lt-sites tbody tr.lt-site-row").evaluate_all(
        "rows => rows.map(r => r.children[r.children.length - 2].textContent)"
    )


def test_table_sorts(report: Page) -> None:
    assert _functions(report) == ["work", "handle", "deep"]  # by bytes, largest first
    report.page.click('#lt-sites th[data-key="bytes"]')
    assert _functions(report) == ["deep", "handle", "work"]
    report.page.click('#lt-sites th[data-key="allocated_bytes"]')
    assert _functions(report) == ["handle", "work", "deep"]  # 6000, 2600, 100
    report.page.click('#lt-sites th[data-key="function"]')
    assert _functions(report) == ["deep", "handle", "work"]
    report.page.click('#lt-sites th[data-key="function"]')
    assert _functions(report) == ["work", "handle", "deep"]
    assert report.page.get_attribute('#lt-sites th[data-key="function"]', "class") == (
        "lt-sorted-desc"
    )
    report.page.locator("#lt-sites tr.lt-site-row", has_text="handle").click()
    detail = report.texts("#lt-sites tr.lt-detail div")
    assert detail == ["handle  /app/a.py:20", "main  /app/a.py:5", "<module>  /app/a.py:10"]


def test_timeline(report: Page) -> None:
    dots = report.page.locator("#lt-timeline circle")
    assert dots.count() == 2
    assert report.page.locator("#lt-timeline circle.lt-peak").get_attribute("data-seq") == "0"
    titles = report.texts("#lt-timeline circle title")
    assert titles == [
        "snapshot #0 (mark \u201cwarm\u201d) at 1.000 s: heap 5.9 KiB"
        " (highest heap of all snapshots)",
        "snapshot #1 (final) at 2.000 s: heap 3.5 KiB",
    ]
    assert report.page.locator("#lt-timeline path.lt-heap").count() == 1
    assert report.page.locator("#lt-timeline path.lt-rss").count() == 0


@dataclass(frozen=True)
class NativeFrame:
    function: str
    file: str
    line: int
    kind: str = "native"


def test_growth_retention_and_native_frames(
    browser: Any, sample: Path, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    """What other parts of leaktrace add (JSON growth and retention, native frames)
    reaches the page through the shared model."""
    render_json = html_report.render

    def with_extras(capture: Any, fmt: str, **kwargs: Any) -> str:
        import json

        doc = json.loads(render_json(capture, fmt, **kwargs))
        for i, site in enumerate(doc["leaks"]):
            site["growth"] = {"class": "leaking" if i == 1 else "noise",
                              "rate": [10, 1024, 0][i], "unit": "iteration",
                              "confidence": 0.9, "series": [0, 5, 10]}  # fmt: skip
            site["retention"] = [
                {"text": f"module app → CACHE[{i}] → dict", "retained_bytes": 2048}
            ]
        return json.dumps(doc)

    monkeypatch.setattr(html_report, "render", with_extras)
    profile = load_profile(sample)
    work = next(n for n, f in enumerate(profile.frame) if profile.stack(n)[0].function == "work")
    profile.frames.append(NativeFrame("PyBytes_FromSize", "libpython3.so", 0))  # type: ignore[arg-type]
    native = profile.add_node(work, len(profile.frames) - 1)
    profile.live_bytes[native], profile.live_count[native] = 400, 1
    out = tmp_path / "extras.html"
    out.write_text(html_report.render_html(profile))
    with opened(browser, out) as page:
        native = page.page.locator(".lt-frame.lt-native")
        assert native.count() == 1
        assert native.get_attribute("data-kind") == "native"
        assert page.texts('#lt-sites th[data-key="growth"]') == ["growth"]
        growth = page.page.locator("#lt-sites tbody tr.lt-site-row").evaluate_all(
            "rows => rows.map(r => r.children[5].textContent)"
        )
        assert growth == [
            "noise +10 B/iteration",
            "leaking +1.0 KiB/iteration",
            "noise +0 B/iteration",
        ]
        page.page.click('#lt-sites th[data-key="growth"]')
        assert _functions(page) == ["handle", "work", "deep"]
        page.page.locator("#lt-sites tr.lt-site-row", has_text="handle").click()
        assert page.texts("#lt-sites .lt-path") == [
            "held by: module app \u2192 CACHE[1] \u2192 dict  (retains 2.0 KiB)"
        ]


def test_size_is_bounded_by_stacks(tmp_path: Path) -> None:
    """Ten times the allocation events at the same stacks: the same HTML, but for digits."""
    sizes = []
    for n in (2_000, 20_000):
        program = tmp_path / f"churn{n}.py"
        program.write_text(
            "def work(n):\n"
            "    kept = []\n"
            "    for i in range(n):\n"
            "        kept.append(str(i) * 3)\n"
            "        if len(kept) > 100:\n"
            "            kept.clear()\n"
            "    return kept\n"
            f"kept = work({n})\n"
        )
        capture = tmp_path / f"churn{n}.ltc"
        run = subprocess.run(
            [*leaktrace_cli.command(), "run", "-q", "-o", capture, program],
            capture_output=True,
            text=True,
            timeout=60,
        )
        assert run.returncode == 0, run.stderr
        sizes.append(html_file(capture, tmp_path / f"churn{n}.html").stat().st_size)
    # Ten times the allocations, the same stacks: the page holds what the sites are, not
    # what they did; what moves is each site's growth series (its points and their
    # digits, which depend on how many snapshots the run took: 2.5% once).
    assert abs(sizes[1] - sizes[0]) < 0.1 * sizes[0], sizes


def test_large_captures_build_the_table_from_the_profile(
    browser: Any, sample: Path, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    """Past JSON_SITES_LIMIT live sites the rows come from the profile: the same rows."""
    monkeypatch.setattr(html_report, "JSON_SITES_LIMIT", 2)
    out = tmp_path / "large.html"
    out.write_text(html_report.render_html(load_profile(sample)))
    with opened(browser, out) as page:
        assert _functions(page) == ["work", "handle", "deep"]
        cells = page.page.locator("#lt-sites tbody tr.lt-site-row").evaluate_all(
            "rows => rows.map(r => [...r.children].slice(1, 5).map(c => c.textContent))"
        )
        assert cells == [
            ["2.0 KiB", "3", "2.5 KiB", "4"],
            ["1.5 KiB", "1", "5.9 KiB", "5"],
            ["100 B", "1", "100 B", "1"],
        ]
        assert page.texts("#lt-sites-note") == [
            "3 sites: growth and retention, when the capture has them, are in the JSON "
            "report (the page shows them up to 2 sites)"
        ]
        page.page.locator("#lt-sites tr.lt-site-row", has_text="deep").click()
        assert page.texts("#lt-sites tr.lt-detail div") == [
            "deep  /app/c.py:3",
            "... deeper frames were not recorded",
        ]


def test_partial_capture_banner(browser: Any, tmp_path: Path) -> None:
    head, second, _ = sample_parts()
    capture = tmp_path / "cut.ltc"
    capture.write_bytes(head + second[:5])  # killed while writing snapshot #1
    result = subprocess.run(
        [*leaktrace_cli.command(), "report", capture, "--format", "html", "-o",
         tmp_path / "cut.html"],
        capture_output=True,
        text=True,
        timeout=60,
    )  # fmt: skip
    assert result.returncode == 0, result.stderr
    with opened(browser, tmp_path / "cut.html") as page:
        assert page.texts("#lt-partial") == [
            "Partial capture (the tracked process died before stopping): it "
            f"reaches snapshot #0 at 1.000 s; {len(head)} of {len(head) + 5} bytes valid"
        ]
        assert page.page.locator("#lt-timeline circle").count() == 1
