"""Regenerates docs/img/html-report*.png: the HTML report of examples/leaky_app.py run
in eight rounds with a snapshot after each, shown in headless chromium.

Usage: python scripts/report_screenshots.py   (needs leaktrace, playwright, chromium)
"""

from __future__ import annotations

import subprocess
import sys
import tempfile
from pathlib import Path

from playwright.sync_api import sync_playwright

ROOT = Path(__file__).resolve().parent.parent
IMG = ROOT / "docs" / "img"
DRIVER = """\
import sys
import leaktrace
sys.path.insert(0, {examples!r})
import leaky_app
for n in range(8):
    leaky_app.main(["--requests", "500", "--seed", str(n)])
    leaktrace.snapshot(f"round {{n}}")
"""


def main() -> int:
    with tempfile.TemporaryDirectory() as tmp:
        driver = Path(tmp) / "leaky_rounds.py"
        driver.write_text(DRIVER.format(examples=str(ROOT / "examples")))
        capture, html = Path(tmp) / "rounds.ltc", Path(tmp) / "rounds.html"
        leaktrace = [sys.executable, "-m", "leaktrace"]
        subprocess.run([*leaktrace, "run", "-q", "-o", capture, driver], check=True,
                       stdout=subprocess.DEVNULL)  # fmt: skip
        subprocess.run([*leaktrace, "report", capture, "--format", "html", "-o", html], check=True)
        with sync_playwright() as p:
            browser = p.chromium.launch(executable_path="/usr/bin/chromium", args=["--no-sandbox"])
            page = browser.new_page(viewport={"width": 1280, "height": 1150})
            page.goto(html.as_uri())
            page.screenshot(path=IMG / "html-report.png")
            page.locator(".lt-frame", has_text="RequestHandler.handle").nth(1).click()
            page.fill("#lt-search", "render")
            frame = page.locator(".lt-frame", has_text="ProfileRenderer.render").first
            frame.hover()
            page.locator("#lt-flame").screenshot(path=IMG / "html-report-zoomed.png")
            page.locator("#lt-timeline").scroll_into_view_if_needed()
            page.locator("#lt-timeline").screenshot(path=IMG / "html-report-timeline.png")
            browser.close()
    for name in ("html-report.png", "html-report-zoomed.png", "html-report-timeline.png"):
        print(IMG / name)
    return 0


if __name__ == "__main__":
    sys.exit(main())
