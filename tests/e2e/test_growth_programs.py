"""The verdict with no options on the planted programs of tests/programs/growth/.

Each program marks its planted line ``# PLANT: <class>``; bench/growth_accuracy.py
prints the class of every one on every CPython. Here the shapes whose verdict does not
depend on how many snapshots a loaded machine gets: a leak in a 0.3 s run, a leak
followed by an export phase; and holders with a bound (an lru_cache full or still
filling, a deque with a maxlen, SQLAlchemy's compiled cache), which must be called
plateaued with the bound read from the structure, never leaking.
(sawtooth.py, sqlalchemy_lru.py and slow_leak_noise.py are measured by the bench only;
long_run.py takes 30 s.)
"""

from __future__ import annotations

import json
import re
import subprocess
import sys
from pathlib import Path
from typing import Any

import pytest
from report_support import with_stacks

GROWTH = Path(__file__).resolve().parents[1] / "programs" / "growth"
PLANT = re.compile(r"#\s*PLANT:\s*(\w+)")


def _report(program: Path, tmp_path: Path, *args: str) -> tuple[dict[str, Any], int]:
    """The JSON report of a run with no options, and the program's planted line."""
    out = tmp_path / "c.json"
    argv = ["-m", "leaktrace", "run", "-q", "-o", str(tmp_path / "c.ltc"), "--json-output"]
    done = subprocess.run(
        [sys.executable, *argv, str(out), str(program), *args],
        capture_output=True,
        text=True,
        timeout=300,
        cwd=tmp_path,
    )
    assert done.returncode == 0, done.stderr
    line = next(
        (n for n, text in enumerate(program.read_text().splitlines(), 1) if PLANT.search(text)),
        0,
    )
    return with_stacks(json.loads(out.read_text())), line


def _planted(doc: dict[str, Any], program: Path, line: int) -> dict[str, Any]:
    sites = [
        s
        for s in doc["leaks"]
        if s["stack"] and (s["stack"][0]["file"], s["stack"][0]["line"]) == (str(program), line)
    ]
    assert sites, f"no site at {program.name}:{line}"
    return max(sites, key=lambda s: s["bytes"])


@pytest.mark.parametrize("name", ["short_run.py", "early_leak_quiet.py"])
def test_planted_leak_is_leaking_first(name: str, tmp_path: Path) -> None:
    program = GROWTH / name
    doc, line = _report(program, tmp_path)
    site = _planted(doc, program, line)
    assert site["growth"]["class"] == "leaking", site["growth"]
    assert site["growth"]["unit"] == "MB allocated"
    assert site["growth"]["rate"] > 0 and site["growth"]["rate_per_second"] > 0
    assert site["growth"]["points"] >= 4
    # the report leads with it: no site of another class ranks above a leaking one
    classes = [s["growth"]["class"] for s in doc["leaks"]]
    assert classes.index("leaking") == 0
    assert site["holder"]["kind"] in ("sequence", "dict")


@pytest.mark.parametrize(
    ("name", "kind", "bound"),
    [
        ("bounded_lru.py", "functools.lru_cache", 256),  # full early, then evicting
        ("lru_filling.py", "functools.lru_cache", 4096),  # rises all run, under its bound
        ("deque_window.py", "collections.deque", 1000),
    ],
)
def test_bounded_holder_is_read_and_not_a_leak(
    name: str, kind: str, bound: int, tmp_path: Path
) -> None:
    program = GROWTH / name
    doc, line = _report(program, tmp_path)
    site = _planted(doc, program, line)
    assert site["growth"]["class"] == "plateaued", site["growth"]
    assert site["holder"]["kind"] == kind, site["holder"]
    assert site["holder"]["bounded"] is True
    assert site["holder"]["bound"] == bound
    assert 0 < site["holder"]["entries"] <= bound
    if name == "lru_filling.py":  # its series rises to the end, as a leak's would
        assert site["growth"]["reason"] == "bounded-holder", site["growth"]
        report = subprocess.run(
            [sys.executable, "-m", "leaktrace", "report", str(tmp_path / "c.ltc")],
            capture_output=True,
            text=True,
            check=True,
        ).stdout
        first = report.split("\n#1  ", 1)[1].splitlines()[0]
        assert first.startswith("BOUNDED CACHE"), report
        assert f"of maxsize={bound})" in report
    assert "leaking" not in [s["growth"]["class"] for s in doc["leaks"][:1]]
    # the planted site says why it is alive (a site without a path has an empty list)
    assert site["retention"], site
    assert all(s["growth"] is not None for s in doc["leaks"])


def test_unbounded_lru_cache_is_named_unbounded(tmp_path: Path) -> None:
    program = GROWTH.parent / "lru_method.py"  # lru_cache(maxsize=None) on a method
    doc, _ = _report(program, tmp_path)
    line = next(n for n, t in enumerate(program.read_text().splitlines(), 1) if "LEAK-SITE" in t)
    site = _planted(doc, program, line)
    assert site["holder"]["kind"] == "functools.lru_cache", site["holder"]
    assert site["holder"]["bounded"] is False and site["holder"]["bound"] is None
    assert site["growth"]["reason"] != "bounded-holder"


def test_sqlalchemy_compiled_cache_is_bounded_by_its_capacity(tmp_path: Path) -> None:
    pytest.importorskip("sqlalchemy")
    program = GROWTH / "sqlalchemy_cache.py"
    doc, _ = _report(program, tmp_path, "4000", "200")
    held = [
        s
        for s in doc["leaks"]
        if s["holder"] and s["holder"]["text"].endswith("engine → ._compiled_cache")
    ]
    assert held, [s["holder"] for s in doc["leaks"][:10]]
    for site in held:
        assert site["holder"]["kind"] == "capacity", site["holder"]
        assert site["holder"]["bound"] == 200 and site["holder"]["type"] == "LRUCache"
        assert site["growth"]["class"] != "leaking", site["growth"]


def test_re_cache_is_bounded_by_maxcache(tmp_path: Path) -> None:
    program = tmp_path / "patterns.py"
    program.write_text(
        "import re\n"
        "for i in range(3000):\n"
        "    re.compile(f'item-{i}-[a-z]+(x|y){{2,{i % 7 + 2}}}')\n"
    )
    doc, _ = _report(program, tmp_path)
    held = [s for s in doc["leaks"] if s["holder"] and s["holder"]["text"] == "module re → _cache"]
    assert held, [s["holder"] for s in doc["leaks"][:10]]
    for site in held:
        assert site["holder"]["kind"] == "re's compiled-pattern cache", site["holder"]
        assert site["holder"]["bound"] == re._MAXCACHE
        assert site["growth"]["class"] != "leaking", site["growth"]
