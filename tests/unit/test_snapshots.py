"""Snapshots: mark(), the interval timer, RSS per snapshot, and diffs (API and CLI)."""

from __future__ import annotations

import json
import os
import subprocess
import sys
import time
from collections.abc import Callable
from pathlib import Path

import pytest

import leaktrace
from leaktrace import _core

HERE = Path(__file__).resolve()


def test_mark_records_a_labelled_snapshot_with_rss(tmp_path: Path) -> None:
    path = tmp_path / "m.ltc"
    leaktrace.start(path)
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
    leaktrace.start(tmp_path / "x.ltc")
    try:
        with pytest.raises(ValueError, match=r"between 0\.001 and 86400"):
            _core.start_timer(0.0)
        _core.start_timer(10.0)
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
    leaktrace.start(path)
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
    doc = json.loads(proc.stdout)
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
    doc = json.loads(leaktrace_cli("report", str(out), "--format", "json").stdout)
    first = doc["leaks"][0]
    assert first["stack"][0]["line"] == 4
    assert first["growth"]["class"] == "leaking"
    assert first["growth"]["unit"] == "second"
    assert len(first["growth"]["series"]) == len(leaktrace.load(out).snapshots)


def test_interval_leaves_the_reported_sites_alone(
    tmp_path: Path, leaktrace_cli: Callable[..., subprocess.CompletedProcess[str]]
) -> None:
    script = tmp_path / "steady.py"
    script.write_text("import time\nkeep = [bytearray(100) for _ in range(100)]\ntime.sleep(0.1)\n")
    plain, timed = tmp_path / "plain.ltc", tmp_path / "timed.ltc"
    for out, extra in ((plain, []), (timed, ["--interval", "0.01"])):
        proc = leaktrace_cli("run", "-q", *extra, "-o", str(out), str(script))
        assert proc.returncode == 0, proc.stderr
    a, b = leaktrace.load(plain), leaktrace.load(timed)
    assert len(b.snapshots) > 3
    assert leaktrace.diff(a, b).sites == []
    assert a.stats["no_stack_allocations"] == b.stats["no_stack_allocations"] == 0
