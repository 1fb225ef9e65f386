"""Objects held by an object the collector cannot traverse (src/core/heap/lt_hidden.h).

``ltx_table.Box(obj)`` holds obj with no tp_traverse, as extension types without gc
support do. The report must name the box as the nearest referrer, with its type,
rather than stopping at "held from C", and must name a cycle through a box as one.
"""

from __future__ import annotations

import json
import subprocess
import sys
from pathlib import Path

from report_support import with_stacks

PROGRAM = """\
import importlib.util, sys

spec = importlib.util.spec_from_file_location("ltx_table", sys.argv[1])
ltx_table = importlib.util.module_from_spec(spec)
spec.loader.exec_module(ltx_table)


def make():
    return [bytes(1000 + i) for i in range(2000)]  # @boxed


def cycle():
    items = [bytearray(2000 + i) for i in range(2000)]  # @cycle
    items.append(ltx_table.Box(items))


KEEP = ltx_table.Box(make())
cycle()
"""


def _line(mark: str) -> int:
    return next(n for n, text in enumerate(PROGRAM.splitlines(), 1) if mark in text)


def test_untraversed_holder_is_named_with_its_type(table_ext_path: Path, tmp_path: Path) -> None:
    program = tmp_path / "boxed.py"
    program.write_text(PROGRAM)
    report = tmp_path / "c.json"
    argv = ["-m", "leaktrace", "run", "-q", "-o", str(tmp_path / "c.ltc")]
    done = subprocess.run(
        [sys.executable, *argv, "--json-output", str(report), str(program), str(table_ext_path)],
        capture_output=True,
        text=True,
        timeout=300,
        cwd=tmp_path,
    )
    assert done.returncode == 0, done.stderr
    doc = with_stacks(json.loads(report.read_text()))

    def paths_at(line: int) -> list[str]:
        sites = [s for s in doc["leaks"] if s["stack"] and s["stack"][0]["line"] == line]
        assert sites, f"no site at line {line}"
        return [p["text"] for s in sites for p in s["retention"]]

    boxed = paths_at(_line("@boxed"))
    # the nearest referrer, its type, and the way there from the module
    box = "module __main__ → KEEP → reference from ltx_table.Box the collector cannot see: list"
    assert any(p.startswith(box + "[") and p.endswith("→ bytes") for p in boxed), boxed
    # (3.10 also has the comprehension's own site at the line, not analysed)
    cycled = paths_at(_line("@cycle"))
    cycle = "held from C or by an untracked object: a cycle through ltx_table.Box, which "
    cycle += "the collector cannot traverse: list"
    assert cycled and all(p.startswith(cycle) for p in cycled), cycled
