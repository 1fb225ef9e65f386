"""The interval timer thread and fork: the program forks, through os.fork,
multiprocessing's fork start method and subprocess (with and without preexec_fn),
under ``leaktrace run --interval`` exactly as it does untracked. CPython 3.12+ warns
"This process ... is multi-threaded" at os.fork() when another thread runs; the timer
is joined before a fork and restarted in the parent after it (src/core/lt_timer.h)."""

from __future__ import annotations

import os
import subprocess
import sys
import textwrap
from pathlib import Path

import pytest

import leaktrace

PROGRAM = """
import multiprocessing as mp
import os
import subprocess
import sys
import time

import leaktrace


def work():
    print("worker", flush=True)


if __name__ == "__main__":
    time.sleep(0.05)
    for _ in range(3):
        pid = os.fork()
        if pid == 0:
            print("child", flush=True)
            os._exit(0)
        os.waitpid(pid, 0)
        print("parent", flush=True)
    p = mp.get_context("fork").Process(target=work)
    p.start()
    p.join()
    print("fork worker exit", p.exitcode, flush=True)
    subprocess.run([sys.executable, "-c", "print('subprocess')"], check=True)
    subprocess.run([sys.executable, "-c", "print('preexec')"], check=True, preexec_fn=os.getpid)
    if leaktrace.is_tracking():
        leaktrace.mark("forks done")
    time.sleep(0.2)
    print("done", flush=True)
"""


def run(cwd: Path, warnings: str, *args: str) -> subprocess.CompletedProcess[str]:
    env = {**os.environ, "PYTHONWARNINGS": warnings}
    return subprocess.run(
        [sys.executable, *args], capture_output=True, text=True, timeout=120, cwd=cwd, env=env
    )


# "always" shows the warning; under "error", CPython 3.12 raises it inside os.fork()
# and clears it, so the run must behave the same either way.
@pytest.fixture(scope="module", params=["always::DeprecationWarning", "error::DeprecationWarning"])
def runs(
    request: pytest.FixtureRequest,
    tmp_path_factory: pytest.TempPathFactory,
) -> tuple[Path, list[subprocess.CompletedProcess[str]]]:
    """The program run untracked, then under leaktrace run --interval 0.01 into f.ltc."""
    tmp = tmp_path_factory.mktemp("timer_fork")
    (tmp / "forks.py").write_text(textwrap.dedent(PROGRAM))
    untracked = run(tmp, request.param, "forks.py")
    tracked = run(
        tmp,
        request.param,
        "-m",
        "leaktrace",
        "run",
        "-q",
        "--interval",
        "0.01",
        "-o",
        "f.ltc",
        "forks.py",
    )
    return tmp, [untracked, tracked]


def test_forking_program_behaves_as_untracked(runs) -> None:
    _, (untracked, tracked) = runs
    assert untracked.returncode == 0, untracked.stderr
    assert untracked.stderr == ""
    expected = ["child", "parent"] * 3 + ["worker", "fork worker exit 0"]
    assert untracked.stdout.splitlines() == [*expected, "subprocess", "preexec", "done"]
    assert (tracked.returncode, tracked.stdout, tracked.stderr) == (0, untracked.stdout, "")


def test_timer_keeps_ticking_in_the_parent_after_forks(runs) -> None:
    tmp, _ = runs
    capture = leaktrace.load(tmp / "f.ltc")  # the capture ends 0.2 s after the mark
    (mark,) = [s for s in capture.snapshots if s.kind == "mark"]
    before = [s for s in capture.snapshots if s.kind == "interval" and s.seq < mark.seq]
    after = [s for s in capture.snapshots if s.kind == "interval" and s.seq > mark.seq]
    assert before and after
