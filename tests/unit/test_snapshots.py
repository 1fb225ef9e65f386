"""Snapshots: mark(), the interval timer, RSS per snapshot, and diffs (API and CLI)."""

from __future__ import annotations

import ctypes
import json
import os
import subprocess
import sys
import time
from collections.abc import Callable
from pathlib import Path

import pytest
from capture_craft import header, parse_records, read_varint, record, varints
from report_support import with_stacks

import leaktrace
from leaktrace import _core

REC_SNAPSHOT = 0x05
HERE = Path(__file__).resolve()


def test_mark_records_a_labelled_snapshot_with_rss(tmp_path: Path) -> None:
    path = tmp_path / "m.ltc"
    leaktrace.start(path, snapshots=False)
    kept = bytearray(40_000)
    assert leaktrace.mark("after") == 0
    with pytest.raises(TypeError):
        leaktrace.mark(None)  # type: ignore[arg-type]
    leaktrace.stop()
    cap = leaktrace.load(path)
    assert [(s.kind, s.label) for s in cap.snapshots] == [("mark", "after"), ("final", None)]
    page = os.sysconf("SC_PAGESIZE")
    for snap in cap.snapshots:
        assert snap.rss_bytes is not None and snap.rss_bytes % page == 0
        assert snap.rss_bytes > snap.heap_bytes
    del kept


def test_interval_timer_snapshots_and_stops_with_tracking(tmp_path: Path) -> None:
    path = tmp_path / "t.ltc"
    leaktrace.start(path, interval=0.01)
    deadline = time.monotonic() + 5
    while _core.timer_ticks() < 3 and time.monotonic() < deadline:
        time.sleep(0.005)
    leaktrace.stop()
    ticks = _core.timer_ticks()
    time.sleep(0.03)
    assert _core.timer_ticks() == ticks >= 3  # no tick after stop
    kinds = [s.kind for s in leaktrace.load(path).snapshots]
    assert kinds == ["interval"] * ticks + ["final"]


def test_timer_needs_tracking_and_a_sane_interval(tmp_path: Path) -> None:
    with pytest.raises(RuntimeError, match="not tracking"):
        _core.start_timer(1.0)
    leaktrace.start(tmp_path / "x.ltc", snapshots=False)
    try:
        with pytest.raises(ValueError, match=r"between 0\.001 and 86400"):
            _core.start_timer(0.0005)
        with pytest.raises(ValueError, match=r"between 0\.001 and 86400"):
            _core.start_timer(-1.0)
        _core.start_timer()  # 0: the default schedule, by work
        with pytest.raises(RuntimeError, match="already running"):
            _core.start_timer(10.0)
    finally:
        leaktrace.stop()


# 3.12+ warns that the process has another thread (the timer's) when it forks.
@pytest.mark.filterwarnings("ignore:This process .* is multi-threaded:DeprecationWarning")
def test_timer_survives_fork(tmp_path: Path) -> None:
    path = tmp_path / "f.ltc"
    leaktrace.start(path, interval=0.01)
    pid = os.fork()
    if pid == 0:
        code = 0 if not _core.is_tracking() else 1
        _core.stop()
        os._exit(code)
    _, status = os.waitpid(pid, 0)
    time.sleep(0.03)
    leaktrace.stop()
    assert os.waitstatus_to_exitcode(status) == 0
    assert leaktrace.load(path).final.kind == "final"


def test_exit_with_timer_running_does_not_hang(tmp_path: Path) -> None:
    path = tmp_path / "e.ltc"
    code = (
        f"import leaktrace, time; leaktrace.start({str(path)!r}, interval=0.005); "
        "time.sleep(0.05); print('bye')"
    )
    proc = subprocess.run(
        [sys.executable, "-c", code], capture_output=True, text=True, timeout=30, check=False
    )
    assert (proc.returncode, proc.stdout, proc.stderr) == (0, "bye\n", "")


def _two_snapshot_capture(path: Path) -> int:
    leaktrace.start(path, snapshots=False)
    leaktrace.mark("before")
    grown = [bytearray(10_000) for _ in range(5)]  # the growth
    line = sys._getframe().f_lineno - 1
    leaktrace.mark("after")
    leaktrace.stop()
    del grown
    return line


def test_diff_api_within_one_capture(tmp_path: Path) -> None:
    path = tmp_path / "d.ltc"
    line = _two_snapshot_capture(path)
    cap = leaktrace.load(path)
    d = leaktrace.diff(cap, start=0, end=1)
    top = d.sites[0]
    assert (top.stack[0].file, top.stack[0].line) == (str(HERE), line)
    # five bytearrays (object and buffer each) and the list
    assert top.count_before == 0 and top.count_after == 11
    assert top.bytes_delta == top.bytes_after >= 50_000


def test_diff_cli_two_captures_and_snapshots(
    tmp_path: Path, leaktrace_cli: Callable[..., subprocess.CompletedProcess[str]]
) -> None:
    path = tmp_path / "d.ltc"
    line = _two_snapshot_capture(path)
    proc = leaktrace_cli("diff", str(path), "--from", "0", "--to", "1", "--format", "json")
    assert proc.returncode == 0, proc.stderr
    doc = with_stacks(json.loads(proc.stdout))
    assert (doc["before"]["label"], doc["after"]["label"]) == ("before", "after")
    assert doc["sites"][0]["stack"][0]["line"] == line
    assert doc["sites"][0]["count_delta"] == 11
    # the same capture against itself: nothing changed
    proc = leaktrace_cli("diff", str(path), str(path))
    assert proc.returncode == 0
    assert proc.stdout.startswith("leaktrace diff: +0 B live in 0 changed sites\n")
    text = leaktrace_cli("diff", str(path), "--from", "0", "--to", "1").stdout
    assert f"test_snapshots.py:{line} in _two_snapshot_capture" in text


@pytest.mark.parametrize(
    ("args", "message"),
    [
        (["--from", "7"], "has snapshots 0 to 2, not 7"),
        (["--to", "x"], "argument --to: invalid int value"),
    ],
)
def test_diff_bad_input(
    tmp_path: Path,
    args: list[str],
    message: str,
    leaktrace_cli: Callable[..., subprocess.CompletedProcess[str]],
) -> None:
    path = tmp_path / "d.ltc"
    _two_snapshot_capture(path)
    proc = leaktrace_cli("diff", str(path), *args)
    assert proc.returncode == 2
    assert message in proc.stderr and proc.stderr.count("\n") == 1


def test_diff_missing_capture(
    tmp_path: Path, leaktrace_cli: Callable[..., subprocess.CompletedProcess[str]]
) -> None:
    proc = leaktrace_cli("diff", str(tmp_path / "nope.ltc"))
    assert proc.returncode == 2 and proc.stderr.count("\n") == 1


def test_run_interval_bad_value(
    leaktrace_cli: Callable[..., subprocess.CompletedProcess[str]],
) -> None:
    proc = leaktrace_cli("run", "--interval", "0", "-c")
    assert proc.returncode == 2
    proc = leaktrace_cli("run", "--interval", "-1", str(HERE))
    assert proc.returncode == 2 and "--interval must be between" in proc.stderr


def test_report_json_has_growth(
    tmp_path: Path, leaktrace_cli: Callable[..., subprocess.CompletedProcess[str]]
) -> None:
    script = tmp_path / "p.py"
    script.write_text(
        "import time\nk = []\nfor i in range(20):\n    k.append(bytearray(5000))\n"
        "    time.sleep(0.01)\n"
    )
    out = tmp_path / "p.ltc"
    proc = leaktrace_cli("run", "-q", "--interval", "0.02", "-o", str(out), str(script))
    assert proc.returncode == 0, proc.stderr
    doc = with_stacks(json.loads(leaktrace_cli("report", str(out), "--format", "json").stdout))
    first = doc["leaks"][0]
    assert first["stack"][0]["line"] == 4
    assert first["growth"]["class"] == "leaking"
    assert first["growth"]["unit"] == "MB allocated"
    assert first["growth"]["rate_per_second"] > 0
    assert len(first["growth"]["series"]) == len(leaktrace.load(out).snapshots)


def test_interval_leaves_the_reported_sites_alone(
    tmp_path: Path, leaktrace_cli: Callable[..., subprocess.CompletedProcess[str]]
) -> None:
    script = tmp_path / "steady.py"
    # half a second of 10 ms ticks: a busy machine may delay ticks, not take all but 3
    script.write_text("import time\nkeep = [bytearray(100) for _ in range(100)]\ntime.sleep(0.5)\n")
    plain, timed = tmp_path / "plain.ltc", tmp_path / "timed.ltc"
    for out, extra in ((plain, []), (timed, ["--interval", "0.01"])):
        proc = leaktrace_cli("run", "-q", *extra, "-o", str(out), str(script))
        assert proc.returncode == 0, proc.stderr
    a, b = leaktrace.load(plain), leaktrace.load(timed)
    assert len(b.snapshots) > 3
    assert leaktrace.diff(a, b).sites == []
    assert a.stats["no_stack_allocations"] == b.stats["no_stack_allocations"] == 0


# ---- delta snapshots (format 2) ----


def _snapshot_entries(payload: bytes) -> tuple[list[int], list[tuple[int, ...]]]:
    """A SNAPSHOT payload: its seven header varints and its (node, counters) entries."""
    values, pos = [], 0
    while pos < len(payload):
        v, pos = read_varint(payload, pos)
        values.append(v)
    head, rest = values[:7], values[7:]
    entries, node = [], 0
    for i in range(0, len(rest), 5):
        node += rest[i]
        entries.append((node, *rest[i + 1 : i + 5]))
    assert len(entries) == head[6]
    return head, entries


def as_version_1(data: bytes) -> bytes:
    """The capture with every snapshot whole (every node it holds), as version 1 wrote."""
    state: dict[int, tuple[int, ...]] = {}
    parts = [header(major=1)]
    for rec in parse_records(data):
        if rec.rtype != REC_SNAPSHOT:
            parts.append(data[rec.offset : rec.end])
            continue
        head, entries = _snapshot_entries(rec.payload)
        state.update({node: counters for node, *counters in entries})
        body, previous = b"", 0
        for node in sorted(state):
            body += varints(node - previous, *state[node])
            previous = node
        parts.append(record(REC_SNAPSHOT, varints(*head[:6], len(state)) + body))
    return b"".join(parts)


RUN_QUIET = [sys.executable, "-m", "leaktrace", "run", "-q", "--no-snapshots"]


def test_snapshots_hold_only_what_changed(tmp_path: Path) -> None:
    """Ten snapshots of a program that allocates at a hundred stacks once, then at one:
    the later snapshots list one node each, not every node again."""
    program = tmp_path / "quiet.py"
    program.write_text(
        "import leaktrace\n"
        "kept = []\n"
        "def at(i):\n"
        "    kept.append(bytearray(100 + i))\n"
        "for i in range(100):\n"
        "    exec(f'def f{i}(): at({i})\\nf{i}()', {'at': at})\n"
        "leaktrace.mark('warm')\n"
        "for k in range(10):\n"
        "    kept.append(bytearray(7))  # one stack only\n"
        "    leaktrace.mark(f'quiet {k}')\n"
    )
    path = tmp_path / "quiet.ltc"
    proc = subprocess.run(
        [*RUN_QUIET, "-o", str(path), str(program)],
        capture_output=True,
        text=True,
    )
    assert proc.returncode == 0, proc.stderr
    data = path.read_bytes()
    assert data[8] == _core.FORMAT_MAJOR == 2
    snapshots = [
        _snapshot_entries(r.payload) for r in parse_records(data) if r.rtype == REC_SNAPSHOT
    ]
    labels = [s.label for s in leaktrace.load(path).snapshots]
    warm = labels.index("warm")
    assert len(snapshots[warm][1]) > 100
    for k in range(1, 10):
        quiet = snapshots[labels.index(f"quiet {k}")][1]
        assert 1 <= len(quiet) <= 5, quiet  # the bytearray's site, the list's, a few more


def test_version_1_captures_read_as_before(tmp_path: Path) -> None:
    """A capture rewritten with whole snapshots (format 1) reports exactly as itself."""
    path = tmp_path / "d.ltc"
    _two_snapshot_capture(path)
    old = tmp_path / "v1.ltc"
    old.write_bytes(as_version_1(path.read_bytes()))
    for fmt in ("json", "text", "collapsed"):
        new_doc = subprocess.run(
            [sys.executable, "-m", "leaktrace", "report", str(path), "--format", fmt],
            capture_output=True,
            text=True,
        )
        old_doc = subprocess.run(
            [sys.executable, "-m", "leaktrace", "report", str(old), "--format", fmt],
            capture_output=True,
            text=True,
        )
        assert new_doc.returncode == old_doc.returncode == 0, old_doc.stderr
        assert old_doc.stdout == new_doc.stdout.replace(str(path), str(old)), fmt
    a, b = leaktrace.load(path), leaktrace.load(old)
    assert a.format_version[0] == 2 and b.format_version[0] == 1
    for snap_a, snap_b in zip(a.snapshots, b.snapshots, strict=True):
        assert a.sites(snap_a) == b.sites(snap_b)


def test_timer_leaves_this_threads_gilstate_alone(tmp_path: Path) -> None:
    """The timer takes the GIL with a thread state of its own while the main thread
    sleeps; ending it must not unbind the main thread's PyGILState slot (3.12+ unbinds
    the deleting thread's), which native hooks read to find the stack of C code
    running without the GIL (a ctypes call)."""
    this_thread_state = ctypes.pythonapi.PyGILState_GetThisThreadState
    this_thread_state.restype = ctypes.c_void_p
    before = this_thread_state()
    leaktrace.start(tmp_path / "g.ltc", interval=0.005)
    time.sleep(0.1)  # the timer thread takes the GIL itself meanwhile
    leaktrace.stop()
    assert leaktrace.load(tmp_path / "g.ltc").snapshots[1:], "no snapshot taken"
    assert this_thread_state() == before


def test_busy_main_thread_serves_the_timer_promptly(tmp_path: Path) -> None:
    """The timer's pending call runs at the main thread's next bytecode boundary on
    every version (3.10-3.12 needed the eval breaker set for it: lt_compat.h), not
    only when the GIL changes hands. With a switch interval of a second, a call served
    only then would give at most one snapshot in 0.2 s; served at once, the schedule's
    (one every 2 ms at first) gives about a hundred, and at least ten on a machine so
    loaded that the timer thread waits for a core."""
    path = tmp_path / "busy.ltc"
    kept: list[str] = []
    interval = sys.getswitchinterval()
    sys.setswitchinterval(1.0)
    leaktrace.start(path)
    try:
        end = time.monotonic() + 0.2
        while time.monotonic() < end:
            kept.append("x" * 300)
            if len(kept) > 20_000:
                kept.clear()
    finally:
        leaktrace.stop()
        sys.setswitchinterval(interval)
    ticks = [s for s in leaktrace.load(path).snapshots if s.kind == "interval"]
    assert len(ticks) >= 10, len(ticks)
