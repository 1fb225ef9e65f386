"""leaktrace attach / snapshot / detach on a running helper process (docs/attach.md)."""

from __future__ import annotations

import json
import subprocess
import sys
import textwrap
from pathlib import Path
from typing import Any

import leaktrace_cli
import pytest
from report_support import site_stack

import leaktrace
from leaktrace import _inject

TARGET = """
import sys
import threading
import time

old = [bytearray(100_000) for _ in range(20)]
new = []
ticks = 0


def spin():  # a second thread, busy with the GIL most of the time
    global ticks
    while True:
        ticks += 1
        scratch = [ticks] * 8


threading.Thread(target=spin, daemon=True).start()
print("ready", flush=True)
for line in sys.stdin:
    command = line.strip()
    if command == "alive":
        before = ticks
        time.sleep(0.05)
        print("spinning", ticks > before, flush=True)
    if command == "leak":
        new.extend([bytearray(200_000) for _ in range(10)])
    elif command == "free-old":
        old.clear()
    elif command == "status":
        core = sys.modules.get("leaktrace._core")
        print("tracking", bool(core and core.is_tracking()), flush=True)
    print("ok", command, flush=True)
"""


def _ptrace_refused() -> str:
    """Why this machine refuses ptrace, or '' when it permits it. Any other failure of
    the injector is left to the tests, which then fail."""
    child = subprocess.Popen(
        [sys.executable, "-c", "import time; print('ready', flush=True); time.sleep(30)"],
        stdout=subprocess.PIPE,
        text=True,
    )
    try:
        assert child.stdout is not None and child.stdout.readline() == "ready\n"
        _inject.run_python(child.pid, "pass")
    except _inject.InjectError as e:
        if "not permitted" in str(e) or "disabled" in str(e):
            return str(e)
    finally:
        child.kill()
        child.wait()
    return ""


PTRACE_PROBLEM = _ptrace_refused() if sys.platform.startswith("linux") else "not Linux"
needs_ptrace = pytest.mark.skipif(bool(PTRACE_PROBLEM), reason=f"ptrace: {PTRACE_PROBLEM}")


class Target:
    def __init__(self, tmp_path: Path) -> None:
        script = tmp_path / "target.py"
        script.write_text(textwrap.dedent(TARGET))
        self.proc = subprocess.Popen(
            [sys.executable, str(script)],
            stdin=subprocess.PIPE,
            stdout=subprocess.PIPE,
            stderr=subprocess.PIPE,
            text=True,
        )
        assert self.proc.stdout.readline() == "ready\n"

    def send(self, command: str) -> list[str]:
        self.proc.stdin.write(command + "\n")
        self.proc.stdin.flush()
        lines = []
        while True:
            line = self.proc.stdout.readline()
            lines.append(line)
            if line == f"ok {command}\n" or not line:
                return lines

    def finish(self) -> tuple[int, str]:
        self.proc.stdin.close()
        rest = self.proc.stdout.read()
        err = self.proc.stderr.read()
        self.proc.wait(timeout=30)
        assert rest == ""
        return self.proc.returncode, err


def leaktrace_cmd(cwd: Path, *args: str) -> subprocess.CompletedProcess[str]:
    return leaktrace_cli.run(*args, cwd=cwd)


def line_of(text: str) -> int:
    """The line of TARGET (as written to target.py) that starts with text."""
    lines = textwrap.dedent(TARGET).splitlines()
    return next(i for i, line in enumerate(lines, 1) if line.strip().startswith(text))


OLD_LINE, LEAK_LINE = line_of("old = "), line_of("new.extend")


def line_bytes(doc: dict[str, Any], line: int) -> int:
    return sum(
        leak["bytes"]
        for leak in doc["leaks"]
        if leak["stack"] and site_stack(doc, leak)[0]["line"] == line
    )


@needs_ptrace
def test_attach_snapshot_detach(tmp_path: Path) -> None:
    target = Target(tmp_path)
    pid = str(target.proc.pid)
    try:
        attached = leaktrace_cmd(tmp_path, "attach", pid, "-o", "att.ltc")
        assert attached.returncode == 0, attached.stderr
        assert f"tracking process {pid} into {tmp_path / 'att.ltc'}" in attached.stdout
        assert target.send("alive") == ["spinning True\n", "ok alive\n"]
        assert target.send("leak") == ["ok leak\n"]
        assert target.send("free-old") == ["ok free-old\n"]  # frees of blocks never seen

        snap = leaktrace_cmd(tmp_path, "snapshot", pid, "--format", "json")
        assert snap.returncode == 0, snap.stderr
        doc = json.loads(snap.stdout)
        assert doc["attached"] is True
        assert 10 * 200_000 <= line_bytes(doc, LEAK_LINE) < 10 * 200_100 + 1024
        assert line_bytes(doc, OLD_LINE) == 0  # allocated before the attach: not seen

        text = leaktrace_cmd(tmp_path, "snapshot", pid)
        assert "blocks allocated before the attach are not seen" in text.stdout

        detached = leaktrace_cmd(tmp_path, "detach", pid, "--format", "json")
        assert detached.returncode == 0, detached.stderr
        final = json.loads(detached.stdout.split("leaktrace: process")[0])
        assert final["complete"] is True
        assert line_bytes(final, LEAK_LINE) == line_bytes(doc, LEAK_LINE)
        assert detached.stdout.endswith(
            f"leaktrace: process {pid} detached; capture {tmp_path / 'att.ltc'}\n"
        )
        # The process goes on untracked, its hooks removed, both threads running.
        assert target.send("status") == ["tracking False\n", "ok status\n"]
        assert target.send("alive") == ["spinning True\n", "ok alive\n"]
        again = leaktrace_cmd(tmp_path, "snapshot", pid)
        assert again.returncode == 2
        assert (
            again.stderr
            == f"leaktrace: error: process {pid}: leaktrace attach is not tracking this process\n"
        )
        capture = leaktrace.load(tmp_path / "att.ltc")
        assert capture.attached and capture.complete
    finally:
        code, err = target.finish()
    assert code == 0
    assert err == ""  # nothing printed in the target


@needs_ptrace
def test_attach_twice_is_refused(tmp_path: Path) -> None:
    target = Target(tmp_path)
    pid = str(target.proc.pid)
    try:
        assert leaktrace_cmd(tmp_path, "attach", pid, "-o", "a.ltc").returncode == 0
        second = leaktrace_cmd(tmp_path, "attach", pid, "-o", "b.ltc")
        assert second.returncode == 2
        assert "already tracking" in second.stderr and second.stderr.count("\n") == 1
        assert leaktrace_cmd(tmp_path, "detach", pid, "-q").returncode == 0
    finally:
        code, err = target.finish()
    assert (code, err) == (0, "")


def test_attach_errors_are_one_line(tmp_path: Path) -> None:
    not_python = subprocess.Popen(["sleep", "30"])
    try:
        cases = [
            (["attach", "999999999"], "no process with pid 999999999"),
            (["attach", "abc"], "not a process id: 'abc'"),
            (["snapshot", "0"], "not a process id: '0'"),
            (["attach", str(not_python.pid)], f"process {not_python.pid} is not a CPython"),
        ]
        for args, message in cases:
            result = leaktrace_cmd(tmp_path, *args)
            assert result.returncode == 2, (args, result.stdout)
            assert result.stderr.startswith("leaktrace: error:"), result.stderr
            assert message in result.stderr and result.stderr.count("\n") == 1, result.stderr
    finally:
        not_python.kill()
        not_python.wait()


def test_ptrace_scope_message(monkeypatch: pytest.MonkeyPatch) -> None:
    real_open = open

    def fake_open(path, *args, **kwargs):
        if path == "/proc/sys/kernel/yama/ptrace_scope":
            import io

            return io.StringIO("3\n")
        return real_open(path, *args, **kwargs)

    monkeypatch.setattr("builtins.open", fake_open)
    with pytest.raises(_inject.InjectError, match=r"ptrace is disabled on this system"):
        _inject.check_ptrace_allowed(1)
