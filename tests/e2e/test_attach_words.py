"""What leaktrace snapshot and detach say about a live process: none of leaktrace's
own frames or memory, and words for a process that is running (docs/attach.md)."""

from __future__ import annotations

import itertools
import json
import subprocess
import sys
import textwrap
from pathlib import Path

import leaktrace_cli
import pytest
from report_support import with_stacks
from test_attach import needs_ptrace

import leaktrace

TARGET = """
import sys
import time

kept = []
print("ready", flush=True)
for line in sys.stdin:
    kept.append(bytearray(100_000))  # TARGET-SITE
    print("ok", flush=True)
"""
TARGET_LINE = 8


def leaktrace_cmd(cwd: Path, *args: str) -> subprocess.CompletedProcess[str]:
    return leaktrace_cli.run(*args, cwd=cwd)


def _own_files() -> tuple[str, ...]:
    return (str(Path(leaktrace.__file__).resolve().parent), "<string>", "<leaktrace")


@needs_ptrace
def test_snapshot_and_detach_of_a_live_process(tmp_path: Path) -> None:
    (tmp_path / "target.py").write_text(textwrap.dedent(TARGET))
    proc = subprocess.Popen(
        [sys.executable, "target.py"],
        cwd=tmp_path,
        stdin=subprocess.PIPE,
        stdout=subprocess.PIPE,
        stderr=subprocess.PIPE,
        text=True,
    )
    assert proc.stdin is not None and proc.stdout is not None
    pid = str(proc.pid)
    try:
        assert proc.stdout.readline() == "ready\n"
        assert leaktrace_cmd(tmp_path, "attach", pid, "-o", "a.ltc").returncode == 0
        texts, docs = [], []
        for _ in range(3):  # several requests: none of them may leave anything behind
            proc.stdin.write("go\n")
            proc.stdin.flush()
            assert proc.stdout.readline() == "ok\n"
            text = leaktrace_cmd(tmp_path, "snapshot", pid, "--all")
            assert text.returncode == 0, text.stderr
            texts.append(text.stdout)
            doc = leaktrace_cmd(tmp_path, "snapshot", pid, "--format", "json", "--all")
            docs.append(with_stacks(json.loads(doc.stdout)))
        for text in texts:
            assert "PARTIAL" not in text and "at exit" not in text
            assert f"process {pid}" in text and "running" in text
            for own in _own_files():
                assert own not in text, text
        for n, doc in enumerate(docs, 1):
            frames = [f["file"] for site in doc["leaks"] for f in site["stack"]]
            assert not [f for f in frames if f.startswith(_own_files())], frames
            at_target = sum(
                s["bytes"]
                for s in doc["leaks"]
                if s["stack"] and s["stack"][0]["line"] == TARGET_LINE
            )
            assert n * 100_000 <= at_target < n * 100_000 + 4096
        # Between two snapshots the heap grows by what the program kept, 100 KB a line:
        # leaktrace's own requests leave nothing behind.
        heap = [doc["live_bytes_at_exit"] for doc in docs]
        for before, after in itertools.pairwise(heap):
            assert 100_000 <= after - before < 100_000 + 2048, heap
        detached = leaktrace_cmd(tmp_path, "detach", pid)
        assert detached.returncode == 0, detached.stderr
        assert "at exit" not in detached.stdout and "PARTIAL" not in detached.stdout
        assert "when leaktrace detached from" in detached.stdout
        for own in _own_files():
            assert own not in detached.stdout
    finally:
        proc.stdin.close()
        proc.wait(timeout=30)
    assert proc.stderr is not None and proc.stderr.read() == ""


@pytest.mark.parametrize("command", ["snapshot", "detach"])
def test_words_of_a_process_that_is_not_attached(tmp_path: Path, command: str) -> None:
    sleeper = subprocess.Popen([sys.executable, "-c", "import time; time.sleep(30)"])
    try:
        result = leaktrace_cmd(tmp_path, command, str(sleeper.pid))
    finally:
        sleeper.kill()
        sleeper.wait()
    assert result.returncode == 2
    assert result.stderr.count("\n") == 1
    assert "not tracking" in result.stderr or "cannot import" in result.stderr
