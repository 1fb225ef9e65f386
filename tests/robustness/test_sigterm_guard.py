"""A SIGTERM that the main thread would never see still reaches leaktrace's handler.

CPython runs a Python signal handler on the main thread, when a blocking call there
fails with EINTR. A SIGTERM delivered to another thread, or just before the main
thread's blocking call starts, interrupts nothing: a terminated Pool worker waiting on
its queue's lock then never finishes its capture and terminate() hangs. The guard
(module/lt_pysignal.h) repeats the signal to the main thread until the handler ran.
"""

from __future__ import annotations

import subprocess
import sys
import textwrap
from pathlib import Path

import pytest

PROGRAM = """
import multiprocessing, os, signal, sys, threading, time
from leaktrace import _exits

def on_signal(signum):
    print("handled", signum, flush=True)
    os._exit(7)

_exits.catch_sigterm(on_signal)
if sys.argv[1] == "unguarded":  # Python's own C handler back in front
    signal.signal(signal.SIGTERM, signal.getsignal(signal.SIGTERM))

def send_from_this_thread():
    time.sleep(0.3)  # the main thread is blocked by then
    signal.pthread_kill(threading.get_ident(), signal.SIGTERM)

threading.Thread(target=send_from_this_thread).start()
multiprocessing.Semaphore(0).acquire()  # blocks for ever unless interrupted
"""


def run(tmp_path: Path, mode: str, timeout: float) -> subprocess.CompletedProcess[str] | None:
    program = tmp_path / "blocked.py"
    program.write_text(textwrap.dedent(PROGRAM))
    try:
        return subprocess.run(
            [sys.executable, str(program), mode], capture_output=True, text=True, timeout=timeout
        )
    except subprocess.TimeoutExpired:
        return None


@pytest.mark.skipif(not sys.platform.startswith("linux"), reason="the guard is Linux only")
def test_signal_to_another_thread_reaches_the_handler(tmp_path: Path) -> None:
    result = run(tmp_path, "guarded", timeout=60)
    assert result is not None, "the blocked main thread never ran the SIGTERM handler"
    assert (result.returncode, result.stdout) == (7, "handled 15\n"), result.stderr


@pytest.mark.skipif(not sys.platform.startswith("linux"), reason="the guard is Linux only")
def test_without_the_guard_the_signal_is_lost(tmp_path: Path) -> None:
    """The case the guard exists for, shown without it: the handler never runs."""
    assert run(tmp_path, "unguarded", timeout=3) is None


FORK_HOLD = """
import os, signal
from leaktrace import _core

def blocked():
    return signal.SIGTERM in signal.pthread_sigmask(signal.SIG_BLOCK, set())

os.register_at_fork(before=_core.hold_sigterm_for_fork)
pid = os.fork()
if pid == 0:
    held = blocked()
    _core.release_fork_hold()
    os._exit(10 * held + (not blocked()))
_, status = os.waitpid(pid, 0)
print(os.waitstatus_to_exitcode(status), blocked())
"""


def test_forked_child_starts_with_sigterm_held_and_the_parent_does_not(tmp_path: Path) -> None:
    """hold_sigterm_for_fork blocks SIGTERM across os.fork(): the child starts with it
    blocked until release_fork_hold(), the parent's mask is back as it was once fork()
    returns (a pthread_atfork handler, no Python code in between)."""
    (tmp_path / "hold.py").write_text(FORK_HOLD)
    result = subprocess.run(
        [sys.executable, "hold.py"], capture_output=True, text=True, cwd=tmp_path, timeout=60
    )
    assert result.returncode == 0, result.stderr
    assert result.stdout == "11 False\n"
