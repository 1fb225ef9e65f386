"""The Python API: start/snapshot/stop/load, Capture.leaks() and the JSON report.

Allocations come from ltx_testext (see conftest.py) at lines marked ``# @name``.
"""

from __future__ import annotations

import importlib
import json
import os
import platform
import sys
from pathlib import Path

import pytest
from ltx_support import STAT_KEYS, at, marker_lines, sites_at
from report_support import with_stacks

import leaktrace
from leaktrace import CaptureError, Frame, _core
from leaktrace.reports.json import render_json
from leaktrace.reports.text import render_text

THIS_FILE = (lambda: None).__code__.co_filename
LINE = marker_lines(THIS_FILE)


def test_round_trip(ext, tmp_path):
    path = tmp_path / "round.ltc"
    size = 12_345
    assert not leaktrace.is_tracking()
    leaktrace.start(path, max_depth=48, snapshots=False)  # a PathLike is accepted
    assert leaktrace.is_tracking()
    h = ext.mem_malloc(size)  # @round-trip
    assert leaktrace.snapshot("mid") == 0
    assert leaktrace.snapshot() == 1
    stats = leaktrace.stop()
    ext.mem_free(h)
    assert not leaktrace.is_tracking()

    assert set(stats) == STAT_KEYS
    assert stats["max_depth"] == 48
    capture = leaktrace.load(path)
    assert isinstance(capture, leaktrace.Capture)
    assert capture.complete
    assert capture.valid_size == capture.file_size == path.stat().st_size
    assert capture.format_version[0] == _core.FORMAT_MAJOR
    assert capture.meta["command"].startswith("leaktrace.start()")
    assert capture.meta["python_version"] == platform.python_version()
    assert capture.meta["pid"] == str(os.getpid())
    assert capture.meta["leaktrace_version"] == leaktrace.__version__
    assert capture.stats == stats
    assert [(s.seq, s.kind, s.label) for s in capture.snapshots] == [
        (0, "mark", "mid"),
        (1, "mark", None),
        (2, "final", None),
    ]
    assert capture.final is capture.snapshots[-1]
    for snap in capture.snapshots:
        assert at(capture, THIS_FILE, LINE["round-trip"], snap)[:4] == (size, 1, size, 1)
    # leaks() shows the block with its stack as recorded, innermost first.
    leaks, _ = capture.leaks()
    ours = [
        s for s in leaks if s.stack[0] == Frame("test_round_trip", THIS_FILE, LINE["round-trip"])
    ]
    assert len(ours) == 1
    assert (ours[0].bytes, ours[0].count, ours[0].alloc_bytes, ours[0].alloc_count) == (
        size,
        1,
        size,
        1,
    )


def test_stop_without_start_and_start_twice(tmp_path):
    with pytest.raises(RuntimeError):
        leaktrace.stop()
    leaktrace.start(tmp_path / "a.ltc")
    try:
        with pytest.raises(RuntimeError):
            leaktrace.start(tmp_path / "b.ltc")
    finally:
        leaktrace.stop()
    with pytest.raises(ValueError):
        leaktrace.start(tmp_path / "c.ltc", max_depth=0)
    assert not leaktrace.is_tracking()


def is_runpy(frame: Frame) -> bool:
    return frame.file == "<frozen runpy>" or os.path.basename(frame.file) == "runpy.py"


def allocate(ext, size: int) -> int:
    return ext.obj_malloc(size)  # @helper


def test_leaks_groups_identical_stacks(ext, tmp_path):
    path = tmp_path / "group.ltc"
    a, b = 10_007, 20_011
    looped, times = 3_001, 4
    leaktrace.start(path, snapshots=False)
    # Two calls on one line: two instructions, hence two stack nodes whose
    # frames read the same (function, file, line).
    h1, h2 = ext.raw_malloc(a), ext.raw_malloc(b)  # @same-line
    # One helper, one calling line, several calls: one node.
    hs = [allocate(ext, looped) for _ in range(times)]  # @helper-loop
    # The same helper from another line: another stack.
    h3 = allocate(ext, looped)  # @helper-other
    leaktrace.stop()
    ext.raw_free(h1)
    ext.raw_free(h2)
    for h in [*hs, h3]:
        ext.obj_free(h)
    capture = leaktrace.load(path)

    nodes = sites_at(capture, THIS_FILE, LINE["same-line"])
    assert len(nodes) == 2
    assert nodes[0].stack == nodes[1].stack
    assert sorted(s.bytes for s in nodes) == [a, b]

    leaks, excluded = capture.leaks()
    function = "test_leaks_groups_identical_stacks"
    same_line = [s for s in leaks if s.stack[0] == Frame(function, THIS_FILE, LINE["same-line"])]
    assert len(same_line) == 1
    assert (same_line[0].bytes, same_line[0].count) == (a + b, 2)
    assert (same_line[0].alloc_bytes, same_line[0].alloc_count) == (a + b, 2)
    # leaks() trims runpy's frames (pytest may run as ``python -m pytest``) and
    # nothing else from the outer end.
    kept = len(same_line[0].stack)
    assert same_line[0].stack == nodes[0].stack[:kept]
    assert all(is_runpy(f) for f in nodes[0].stack[kept:])

    helper = Frame("allocate", THIS_FILE, LINE["helper"])
    by_caller = {s.stack[1].line: s for s in leaks if s.stack[0] == helper}
    # The list comprehension is a frame of its own up to 3.11 and inlined from 3.12.
    loop_line = LINE["helper-loop"]
    assert set(by_caller) == {loop_line, LINE["helper-other"]}
    assert (by_caller[loop_line].bytes, by_caller[loop_line].count) == (times * looped, times)
    other = by_caller[LINE["helper-other"]]
    assert (other.bytes, other.count) == (looped, 1)
    assert other.stack[1] == Frame(function, THIS_FILE, LINE["helper-other"])

    # Largest first; no two groups share a stack.
    assert [s.bytes for s in leaks] == sorted((s.bytes for s in leaks), reverse=True)
    assert len({s.stack for s in leaks}) == len(leaks)
    assert all(s.count > 0 and s.stack for s in leaks)
    assert set(excluded) == {"imports", "no_python_frame"}


def test_leaks_leaves_out_frameless_and_import_allocations(ext, tmp_path, monkeypatch):
    path = tmp_path / "excluded.ltc"
    nogil_size, nogil_count = 5_003, 3
    import_size = 70_001
    module_dir = tmp_path / "mods"
    module_dir.mkdir()
    module_name = "ltx_import_time_alloc"
    # The block is allocated in a function: on a module-level line, storing
    # the global could also grow the module's dict.
    (module_dir / f"{module_name}.py").write_text(
        "import ltx_testext\n"
        "\n"
        "\n"
        "def make():\n"
        f"    return ltx_testext.raw_malloc({import_size})  # @import-alloc\n"
        "\n"
        "\n"
        "HANDLE = make()\n",
        encoding="utf-8",
    )
    module_file = str(module_dir / f"{module_name}.py")
    import_line = marker_lines(module_file)["import-alloc"]
    monkeypatch.syspath_prepend(str(module_dir))
    monkeypatch.delitem(sys.modules, module_name, raising=False)

    leaktrace.start(path, snapshots=False)
    nogil = ext.raw_malloc_nogil(nogil_size, nogil_count)
    module = importlib.import_module(module_name)
    leaktrace.stop()
    ext.raw_free_nogil(nogil)
    ext.raw_free(module.HANDLE)
    capture = leaktrace.load(path)

    leaks, excluded = capture.leaks()
    assert excluded["no_python_frame"].bytes == nogil_size * nogil_count
    assert excluded["no_python_frame"].count == nogil_count
    assert excluded["imports"].bytes >= import_size
    assert not [s for s in leaks if not s.stack]
    assert not [s for s in leaks if s.stack[0].file == module_file]

    everything, _ = capture.leaks(include_all=True)
    frameless = [s for s in everything if not s.stack]
    assert [(s.bytes, s.count) for s in frameless] == [(nogil_size * nogil_count, nogil_count)]
    at_import = [
        s for s in everything if s.stack and s.stack[0] == Frame("make", module_file, import_line)
    ]
    assert [(s.bytes, s.count) for s in at_import] == [(import_size, 1)]
    assert any(f.file.startswith("<frozen importlib") for f in at_import[0].stack)


def test_render_json_keys_and_values(ext, tmp_path):
    path = tmp_path / "report.ltc"
    size = 33_333
    leaktrace.start(path, snapshots=False)
    h = ext.raw_malloc(size)  # @json-leak
    leaktrace.stop()
    ext.raw_free(h)
    capture = leaktrace.load(path)
    raw = json.loads(render_json(capture))
    assert raw["schema_version"] == 2
    doc = with_stacks(raw)

    for key in (
        "frames",
        "leaks",
        "peak_bytes",
        "total_allocated_bytes",
        "python_version",
        "command",
    ):
        assert key in doc, key
    assert doc["command"] == capture.meta["command"]
    assert doc["command"].startswith("leaktrace.start()")
    assert doc["python_version"] == platform.python_version()
    assert doc["peak_bytes"] == capture.stats["peak_bytes"]
    assert doc["total_allocated_bytes"] == capture.stats["total_allocated_bytes"]
    assert doc["total_allocations"] == capture.stats["total_allocations"]
    assert doc["max_depth"] == 64
    assert doc["live_bytes_at_exit"] == capture.final.heap_bytes
    assert doc["complete"] is True
    assert doc["capture"] == os.path.abspath(path)

    assert isinstance(doc["leaks"], list) and doc["leaks"]
    for leak in doc["leaks"]:
        assert {"bytes", "count", "stack"} <= set(leak)
        assert leak["count"] > 0
        for frame in leak["stack"]:
            assert set(frame) == {"function", "file", "line", "kind"}
            assert isinstance(frame["line"], int)
    innermost = {
        "function": "test_render_json_keys_and_values",
        "file": THIS_FILE,
        "line": LINE["json-leak"],
        "kind": "python",
    }
    ours = [leak for leak in doc["leaks"] if leak["stack"][0] == innermost]
    assert len(ours) == 1
    assert (ours[0]["bytes"], ours[0]["count"]) == (size, 1)
    assert (ours[0]["allocated_bytes"], ours[0]["allocations"]) == (size, 1)
    # The JSON lists what leaks() lists, in the same order.
    leaks, excluded = capture.leaks()
    assert [leak["bytes"] for leak in doc["leaks"]] == [s.bytes for s in leaks]
    assert doc["excluded"] == {k: {"bytes": e.bytes, "count": e.count} for k, e in excluded.items()}

    text = render_text(capture)
    assert f"test_api.py:{LINE['json-leak']} in {innermost['function']}" in text


def test_render_json_carries_the_meta(tmp_path):
    path = str(tmp_path / "meta.ltc")
    meta = {"command": "python prog.py 1 2", "python_version": platform.python_version()}
    _core.start(path, meta=meta)
    _core.stop()
    doc = json.loads(render_json(leaktrace.load(path)))
    assert (doc["command"], doc["python_version"]) == (meta["command"], meta["python_version"])


def test_load_rejects_bad_and_truncated_files(ext, tmp_path):
    bad = tmp_path / "bad.ltc"
    bad.write_bytes(b"not a capture at all")
    with pytest.raises(CaptureError):
        leaktrace.load(bad)
    assert issubclass(CaptureError, ValueError)

    path = tmp_path / "whole.ltc"
    size = 9_001
    leaktrace.start(path, snapshots=False)
    h = ext.mem_malloc(size)  # @partial
    leaktrace.snapshot("kept")
    leaktrace.stop()
    ext.mem_free(h)
    data = path.read_bytes()
    cut = tmp_path / "cut.ltc"
    cut.write_bytes(data[:-1])  # the closing record is incomplete
    with pytest.raises(CaptureError):
        leaktrace.load(cut)
    partial = leaktrace.load(cut, allow_partial=True)
    assert not partial.complete
    assert partial.file_size == len(data) - 1
    assert partial.valid_size < partial.file_size
    assert partial.snapshots[0].label == "kept"
    assert at(partial, THIS_FILE, LINE["partial"], partial.snapshots[0])[:2] == (size, 1)


def test_missing_capture_raises(tmp_path: Path):
    with pytest.raises((CaptureError, OSError)):
        leaktrace.load(tmp_path / "missing.ltc")
