"""Workers of multiprocessing.Pool (terminated when its with-block ends) and of
ProcessPoolExecutor leave complete captures, with what they held at the end
(docs/children.md)."""

from __future__ import annotations

import subprocess
import textwrap
from pathlib import Path

import leaktrace_cli
import pytest

import leaktrace
from leaktrace.reading.family import child_captures

WORKERS = """
import multiprocessing
import sys
from concurrent.futures import ProcessPoolExecutor

KEPT = []


def work(n):
    KEPT.append(bytearray(200_000 + n))  # WORKER-SITE
    return n


if __name__ == "__main__":
    ctx = multiprocessing.get_context(sys.argv[2])
    if sys.argv[1] == "pool":
        with ctx.Pool(2) as pool:
            print(sum(pool.map(work, range(8))), flush=True)
    else:
        with ProcessPoolExecutor(2, mp_context=ctx) as executor:
            print(sum(executor.map(work, range(8))), flush=True)
"""

WORKER_LINE = 10


@pytest.mark.parametrize("method", ["fork", "spawn", "forkserver"])
@pytest.mark.parametrize("kind", ["pool", "executor"])
def test_workers_leave_complete_captures(tmp_path: Path, kind: str, method: str) -> None:
    (tmp_path / "workers.py").write_text(textwrap.dedent(WORKERS))
    result = subprocess.run(
        [*leaktrace_cli.command(), "run", "-q", "--follow-children", "-o", "w.ltc",
         "workers.py", kind, method],
        capture_output=True,
        text=True,
        cwd=tmp_path,
        timeout=180,
    )  # fmt: skip
    assert result.returncode == 0, result.stderr
    assert result.stdout == "28\n"
    assert result.stderr == ""
    held = 0
    workers = 0
    for path in child_captures(str(tmp_path / "w.ltc")):
        capture = leaktrace.load(path)  # complete: it raises on a capture with no final state
        assert capture.complete, path
        sites, _ = capture.leaks()
        at_work = [s for s in sites if s.stack and s.stack[0].line == WORKER_LINE]
        if at_work:
            workers += 1
            held += sum(s.bytes for s in at_work)
    assert workers >= 1
    # Each of the 8 tasks kept 200 KB in whichever worker ran it, until the end.
    assert held >= 8 * 200_000
