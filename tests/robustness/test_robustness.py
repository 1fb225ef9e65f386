"""Regressions for faults a review of the engine reproduced: starting and stopping while
threads without the GIL allocate, other tracers wrapping or unwrapping leaktrace's hooks,
fork handlers that allocate, forked children of ``leaktrace run``, and captures with
absurdly deep stacks. Each runs in a child process, so a crash or hang fails the test
instead of the test run."""

from __future__ import annotations

import os
import subprocess
import sys
import textwrap
from pathlib import Path
from types import ModuleType

import leaktrace_cli
import pytest
from capture_craft import REC_FRAME, REC_NODE, REC_STRING, header, record, varints


def run_child(code: str, tmp_path: Path, timeout: float = 120) -> subprocess.CompletedProcess:
    script = tmp_path / "child.py"
    script.write_text(textwrap.dedent(code))
    try:
        return subprocess.run(
            [sys.executable, str(script)],
            capture_output=True,
            text=True,
            timeout=timeout,
            cwd=tmp_path,
        )
    except subprocess.TimeoutExpired as e:
        pytest.fail(f"the child hung (over {timeout} s); stderr so far: {e.stderr!r}")


def assert_survived(result: subprocess.CompletedProcess, marker: str) -> None:
    assert result.returncode == 0, f"exit {result.returncode}\n{result.stderr}"
    assert marker in result.stdout, result.stdout + result.stderr


def test_start_stop_while_threads_allocate_without_the_gil(
    testext: ModuleType, tmp_path: Path
) -> None:
    # PyMem_SetAllocator is not atomic: a RAW caller without the GIL may see the new
    # function with the old context. The hooks must not depend on the context.
    ext_dir = os.path.dirname(testext.__file__)
    result = run_child(
        f"""
        import sys, threading
        sys.path.insert(0, {ext_dir!r})
        import ltx_testext, leaktrace
        done = False
        def churn():
            while not done:
                ltx_testext.raw_churn_nogil(64, 5000)
        threads = [threading.Thread(target=churn) for _ in range(3)]
        for t in threads:
            t.start()
        for _ in range(4000):
            leaktrace.start("race.ltc", max_depth=4)
            leaktrace.stop()
        done = True
        for t in threads:
            t.join()
        print("survived")
        """,
        tmp_path,
    )
    assert_survived(result, "survived")


def test_tracer_started_before_and_stopped_first(tmp_path: Path) -> None:
    # tracemalloc restores the original allocators when it stops, removing leaktrace's
    # hooks from the chain: leaktrace's stop must not reinstall tracemalloc's.
    result = run_child(
        """
        import tracemalloc, leaktrace
        tracemalloc.start()
        leaktrace.start("t.ltc")
        tracemalloc.stop()
        leaktrace.stop()
        data = [str(i) * 10 for i in range(100000)]
        print("survived", len(data))
        """,
        tmp_path,
    )
    assert_survived(result, "survived 100000")


def test_tracer_started_after_keeps_working(tmp_path: Path) -> None:
    # A tracer that wrapped leaktrace's hooks keeps them: leaktrace's stop leaves them
    # in place (forwarding), tracemalloc keeps tracing, and leaktrace refuses to start
    # again beneath it with a clear message until it stops.
    result = run_child(
        """
        import tracemalloc, leaktrace
        leaktrace.start("a.ltc")
        tracemalloc.start()
        leaktrace.stop()
        keep = [bytes(1000) for _ in range(100)]
        current, _ = tracemalloc.get_traced_memory()
        assert current >= 100 * 1000, current
        try:
            leaktrace.start("b.ltc")
        except RuntimeError as e:
            print("refused:", e)
        else:
            raise SystemExit("leaktrace started beneath tracemalloc")
        tracemalloc.stop()
        leaktrace.start("c.ltc")
        more = [bytes(500) for _ in range(10)]
        stats = leaktrace.stop()
        assert stats["total_allocated_bytes"] >= 10 * 500, stats
        print("survived")
        """,
        tmp_path,
    )
    assert_survived(result, "survived")
    assert "refused: leaktrace cannot start: its previous hooks are still installed" in (
        result.stdout
    )


@pytest.mark.skipif(not sys.platform.startswith("linux"), reason="glibc's __register_atfork")
def test_fork_with_an_allocating_prepare_handler(tmp_path: Path) -> None:
    # A pthread_atfork prepare handler registered before leaktrace's runs after it, while
    # leaktrace holds its lock; if it allocates, it must not wait for that lock.
    result = run_child(
        """
        import ctypes, os, leaktrace
        libc = ctypes.CDLL(None)
        if not hasattr(libc, "__register_atfork"):
            print("survived (no __register_atfork)")
            raise SystemExit(0)
        CALLBACK = ctypes.CFUNCTYPE(None)
        @CALLBACK
        def prepare():
            [str(i) for i in range(100)]
        libc.__register_atfork(prepare, None, None, None)
        leaktrace.start("f.ltc")
        pid = os.fork()
        if pid == 0:
            os._exit(0)
        os.waitpid(pid, 0)
        leaktrace.stop()
        print("survived")
        """,
        tmp_path,
        timeout=60,
    )
    assert_survived(result, "survived")


def test_run_program_whose_forked_child_returns(tmp_path: Path) -> None:
    # The child stops recording at fork; when it returns normally it must uninstall
    # its hooks quietly, not report on (or read) its parent's capture.
    program = tmp_path / "forker.py"
    program.write_text(
        textwrap.dedent(
            """
            import os
            keep = [bytearray(1000) for _ in range(100)]
            pid = os.fork()
            if pid == 0:
                print("child done", flush=True)
            else:
                _, status = os.waitpid(pid, 0)
                print("parent saw", os.waitstatus_to_exitcode(status), flush=True)
            """
        )
    )
    result = subprocess.run(
        [*leaktrace_cli.command(), "run", "-o", "fork.ltc", str(program)],
        capture_output=True,
        text=True,
        timeout=60,
        cwd=tmp_path,
    )
    assert result.returncode == 0, result.stderr
    assert "child done" in result.stdout
    assert "parent saw 0" in result.stdout
    assert "cannot read back" not in result.stderr
    assert result.stderr.count("capture written to") == 1, result.stderr


def test_capture_with_a_stack_deeper_than_any_writer_makes(tmp_path: Path) -> None:
    # A chain of nodes, each with a site, made stack building quadratic: the reader
    # now rejects chains deeper than the deepest stack the format allows.
    body = record(REC_STRING, b"f") + record(REC_FRAME, varints(0, 0, 2))
    body += b"".join(record(REC_NODE, varints(i, 0)) for i in range(3000))
    path = tmp_path / "deep.ltc"
    path.write_bytes(header() + body)
    result = subprocess.run(
        [*leaktrace_cli.command(), "report", "--partial", str(path)],
        capture_output=True,
        text=True,
        timeout=30,
    )
    assert result.returncode == 2, result.stdout
    assert result.stderr.startswith("leaktrace: error:"), result.stderr
    assert "deeper than 1024 frames" in result.stderr
