"""Crash-safe captures: a process killed with SIGKILL leaves a capture that reports up
to its last snapshot, and every report says it is partial and how far it reaches."""

from __future__ import annotations

import gzip
import json
import os
import signal
import subprocess
from collections.abc import Callable
from pathlib import Path

import leaktrace_cli
import pytest
from report_support import sample_parts, with_stacks

HANGS = """\
import sys, time
import leaktrace

kept = [bytearray(5000) for _ in range(40)]  # @kept
leaktrace.snapshot("before the hang")
print("ready", flush=True)
more = [bytearray(7000) for _ in range(10)]  # never reaches the capture
time.sleep(600)
"""


@pytest.fixture(scope="module")
def killed_capture(tmp_path_factory: pytest.TempPathFactory) -> Path:
    tmp = tmp_path_factory.mktemp("killed")
    program = tmp / "hangs.py"
    program.write_text(HANGS)
    capture = tmp / "hangs.ltc"
    proc = subprocess.Popen(
        # No snapshots by work: the reports below name the one snapshot, #0.
        [*leaktrace_cli.command(), "run", "--no-snapshots", "-o", str(capture), str(program)],
        stdout=subprocess.PIPE,
        stderr=subprocess.PIPE,
        text=True,
    )
    try:
        assert proc.stdout is not None
        assert proc.stdout.readline() == "ready\n"
        os.kill(proc.pid, signal.SIGKILL)  # leaktrace run execs: this is the program
    finally:
        proc.kill()
        proc.communicate(timeout=30)
    assert proc.returncode == -signal.SIGKILL
    return capture


def test_sigkill_text_report(
    killed_capture: Path, leaktrace_cli: Callable[..., subprocess.CompletedProcess[str]]
) -> None:
    size = killed_capture.stat().st_size
    result = leaktrace_cli("report", killed_capture)
    assert result.returncode == 0, result.stderr
    first = result.stdout.splitlines()[0]
    assert first.startswith(f"leaktrace: PARTIAL capture: it ends at byte {size} of {size}; ")
    assert "showing its last snapshot (#0, taken " in first
    assert "hangs.py:4 in <listcomp>" in result.stdout or "hangs.py:4 in <module>" in result.stdout


def test_sigkill_json_report(
    killed_capture: Path, leaktrace_cli: Callable[..., subprocess.CompletedProcess[str]]
) -> None:
    result = leaktrace_cli("report", killed_capture, "--format", "json")
    assert result.returncode == 0, result.stderr
    doc = with_stacks(json.loads(result.stdout))
    assert doc["complete"] is False
    lines = {s["stack"][0]["line"] for s in doc["leaks"]}
    assert 4 in lines and 7 not in lines
    top = next(s for s in doc["leaks"] if s["stack"][0]["line"] == 4 and s["bytes"] >= 200_000)
    assert top["count"] >= 40


@pytest.mark.parametrize("fmt", ["pprof", "collapsed", "speedscope", "html"])
def test_sigkill_exports_say_partial(
    killed_capture: Path,
    tmp_path: Path,
    fmt: str,
    leaktrace_cli: Callable[..., subprocess.CompletedProcess[str]],
) -> None:
    size = killed_capture.stat().st_size
    out = tmp_path / f"out.{fmt}"
    result = leaktrace_cli("report", killed_capture, "--format", fmt, "-o", out)
    assert result.returncode == 0, result.stderr
    assert result.stderr.startswith(
        f"leaktrace: note: {killed_capture}: partial capture (the tracked process died before "
        "stopping): it reaches snapshot #0 at "
    ), result.stderr
    assert result.stderr.endswith(f" s; {size} of {size} bytes valid\n")
    data = out.read_bytes()
    if fmt == "pprof":  # a comment in the profile's string table
        assert b"leaktrace: partial capture (the tracked process died" in gzip.decompress(data)
    if fmt == "html":  # the page's banner
        assert '"partial":"partial capture (the tracked process died' in data.decode()


def test_cut_inside_a_record(
    tmp_path: Path, leaktrace_cli: Callable[..., subprocess.CompletedProcess[str]]
) -> None:
    """Killed while writing: the last record is cut; the report names both sizes."""
    head, second, _ = sample_parts()
    path = tmp_path / "cut.ltc"
    path.write_bytes(head + second[: len(second) // 2])
    result = leaktrace_cli("report", path, "--format", "collapsed")
    assert result.returncode == 0, result.stderr
    assert result.stderr == (
        f"leaktrace: note: {path}: partial capture (the tracked process died before "
        f"stopping): it reaches snapshot #0 at 1.000 s; {len(head)} of "
        f"{len(head) + len(second) // 2} bytes valid\n"
    )
    # The reports hold snapshot #0: the memory alive then.
    assert result.stdout == (
        "<module> (/app/a.py:10);main (/app/a.py:5);handle (/app/a.py:20) 4000\n"
        "<module> (/app/a.py:10);main (/app/a.py:5);work (/app/b.py:7) 2000\n"
    )


@pytest.mark.parametrize("fmt", ["pprof", "collapsed", "speedscope", "html"])
def test_exports_refuse_what_holds_no_snapshot(
    tmp_path: Path, fmt: str, leaktrace_cli: Callable[..., subprocess.CompletedProcess[str]]
) -> None:
    head, _, _ = sample_parts()
    path = tmp_path / "early.ltc"
    cut = len(head) - 5  # inside snapshot #0, the first one
    path.write_bytes(head[:cut])
    result = leaktrace_cli("report", path, "--format", fmt, "-o", tmp_path / "out")
    assert result.returncode == 2
    assert result.stdout == ""
    assert result.stderr == (
        f"leaktrace: error: {path}: truncated capture holds no snapshot: it ends at byte "
        f"{_last_whole_record_end(head[:cut])} of {cut}, before its first snapshot was written\n"
    )
    assert not (tmp_path / "out").exists()


def _last_whole_record_end(data: bytes) -> int:
    from capture_craft import HEADER_SIZE, read_varint

    pos = HEADER_SIZE
    while pos < len(data):
        length, start = read_varint(data, pos + 1)
        if start + length > len(data):
            break
        pos = start + length
    return pos


@pytest.mark.parametrize("fmt", ["pprof", "collapsed", "speedscope", "html"])
def test_exports_bad_input(
    tmp_path: Path, fmt: str, leaktrace_cli: Callable[..., subprocess.CompletedProcess[str]]
) -> None:
    junk = tmp_path / "junk.ltc"
    junk.write_bytes(b"not a capture at all" * 10)
    result = leaktrace_cli("report", junk, "--format", fmt)
    assert (result.returncode, result.stdout) == (2, "")
    assert result.stderr == (
        f"leaktrace: error: {junk}: not a leaktrace capture (bad magic number)\n"
    )
    missing = tmp_path / "missing.ltc"
    result = leaktrace_cli("report", missing, "--format", fmt)
    assert result.returncode == 2
    assert result.stderr == (
        f"leaktrace: error: cannot open {missing}: No such file or directory\n"
    )
    head, second, tail = sample_parts()
    good = tmp_path / "good.ltc"
    good.write_bytes(head + second + tail)
    result = leaktrace_cli("report", good, "--format", fmt, "-o", tmp_path / "no/such/dir/out")
    assert result.returncode == 2
    assert result.stderr.startswith(f"leaktrace: error: cannot write {tmp_path}/no/such/dir/out")
