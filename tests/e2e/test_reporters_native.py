"""The profile reporters (pprof, collapsed, HTML) on a --native capture: native frames
come out named (function, file, line), as in the text report, and the HTML timeline
carries the resident set size the capture records after each snapshot."""

from __future__ import annotations

import json
import os
import re
from pathlib import Path

from report_support import pprof_binary
from test_reporters import pprof

from leaktrace import _core
from leaktrace.reading import load_profile
from leaktrace.reports import export

LEAK_BYTES = 54_321


def c_line(text: str) -> int:
    source = Path(__file__).resolve().parents[1] / "testext" / "ltx_native.c"
    return next(i for i, row in enumerate(source.read_text().splitlines(), 1) if text in row)


def native_capture(native_ext, path: Path) -> tuple[Path, int]:
    """A capture whose one leak of LEAK_BYTES is a malloc in ltxn_malloc."""
    _core.start(str(path), native=True, native_frames=True)
    handle = native_ext.malloc(LEAK_BYTES)
    _core.snapshot("after the leak")
    _core.stop()
    native_ext.free(handle)
    return path, c_line("return heap_handle(malloc((size_t)n), (size_t)n);")


def test_collapsed_names_native_frames(native_ext, tmp_path: Path) -> None:
    capture, line = native_capture(native_ext, tmp_path / "n.ltc")
    _, folded = export(capture, "collapsed", include_all=True)
    (row,) = [r for r in folded.decode().splitlines() if r.endswith(f" {LEAK_BYTES}")]
    innermost = row.rsplit(" ", 1)[0].split(";")[-1]
    assert re.fullmatch(rf"ltxn_malloc \(.*/ltx_native\.c:{line}\)", innermost), row
    assert "0x" not in row


def test_pprof_names_native_frames(native_ext, tmp_path: Path) -> None:
    assert pprof_binary()
    capture, line = native_capture(native_ext, tmp_path / "n.ltc")
    out = tmp_path / "n.pb.gz"
    _, data = export(capture, "pprof", include_all=True)
    out.write_bytes(data)
    raw = pprof("-raw", out)
    locations = raw.split("Locations\n", 1)[1].split("Mappings\n", 1)[0]
    (location,) = [r for r in locations.splitlines() if "ltxn_malloc" in r]
    assert re.search(rf" ltxn_malloc \S*/ltx_native\.c:{line} ", location + " "), location
    assert not re.search(r" 0x[0-9a-f]+ <native>", locations)


def test_html_timeline_carries_rss(native_ext, tmp_path: Path) -> None:
    capture, _ = native_capture(native_ext, tmp_path / "n.ltc")
    profile = load_profile(capture)
    rss = [p.rss_bytes for p in profile.timeline]
    assert len(rss) == 2 and all(r is not None and r > 0 for r in rss)
    statm_pages = int(Path("/proc/self/statm").read_text().split()[1])
    page = os.sysconf("SC_PAGE_SIZE")
    # The RSS of this very process, a moment ago: same order of magnitude.
    assert all(0.5 < r / (statm_pages * page) < 2 for r in rss)
    _, html = export(capture, "html")
    data = re.search(rb'<script type="application/json" id="lt-data">(.*?)</script>', html, re.S)
    assert data, "the page embeds its data"
    timeline = json.loads(data.group(1))["timeline"]
    assert [point[2] for point in timeline] == rss
