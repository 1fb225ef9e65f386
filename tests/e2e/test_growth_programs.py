"""The verdict with no options on the planted programs of tests/programs/growth/.

Each program marks its planted line ``# PLANT: <class>``; bench/growth_accuracy.py
prints the class of every one on every CPython. Here the shapes whose verdict does not
depend on how many snapshots a loaded machine gets: a leak in a 0.3 s run, a leak
followed by an export phase, and a bounded lru_cache, which must not be called leaking.
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

GROWTH = Path(__file__).resolve().parents[1] / "programs" / "growth"
PLANT = re.compile(r"#\s*PLANT:\s*(\w+)")


def _report(program: Path, tmp_path: Path) -> tuple[dict[str, Any], int]:
    """The JSON report of a run with no options, and the program's planted line."""
    out = tmp_path / "c.json"
    argv = ["-m", "leaktrace", "run", "-q", "-o", str(tmp_path / "c.ltc"), "--json-output"]
    done = subprocess.run(
        [sys.executable, *argv, str(out), str(program)],
        capture_output=True,
        text=True,
        timeout=300,
        cwd=tmp_path,
    )
    assert done.returncode == 0, done.stderr
    line = next(
        n for n, text in enumerate(program.read_text().splitlines(), 1) if PLANT.search(text)
    )
    return json.loads(out.read_text()), line


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


def test_bounded_lru_cache_is_not_a_leak(tmp_path: Path) -> None:
    program = GROWTH / "bounded_lru.py"
    doc, line = _report(program, tmp_path)
    site = _planted(doc, program, line)
    assert site["growth"]["class"] in ("plateaued", "noise"), site["growth"]
    assert site["holder"]["kind"] == "functools.lru_cache"
    # every site says why it is alive, or that no Python referrer was found
    assert all(s["retention"] for s in doc["leaks"])
    assert all(s["growth"] is not None for s in doc["leaks"])
