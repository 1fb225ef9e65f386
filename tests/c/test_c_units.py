"""The C unit tests (tests/c), run through make: plain, and under valgrind when it is installed.

They test the engine's pure-C units (varints, live table, interning, capture writer and
reader) without Python; this wrapper only builds, runs and checks the summary line.
"""

from __future__ import annotations

import os
import re
import shutil
import subprocess
from pathlib import Path

import pytest

C_TESTS = Path(__file__).resolve().parent
SUMMARY = re.compile(r"^(\d+) passed, (\d+) failed$")

needs_toolchain = pytest.mark.skipif(
    shutil.which("make") is None or shutil.which("cc") is None,
    reason="the C unit tests need make and cc",
)
# The units are pure C, the same for every Python: scripts/test.sh runs them plain and
# under valgrind in its first pass only, and sets this in the others.
once_per_suite = pytest.mark.skipif(
    bool(os.environ.get("LEAKTRACE_C_UNITS_DONE")),
    reason="pure C, run in scripts/test.sh's first pass",
)


def _clean_env() -> dict[str, str]:
    """The environment without the sanitizer runtime that the ASan test run preloads
    into Python: valgrind cannot run a process that has ASan preloaded, and the C
    units choose their own instrumentation through make targets."""
    drop = {"LD_PRELOAD", "ASAN_OPTIONS", "UBSAN_OPTIONS"}
    return {k: v for k, v in os.environ.items() if k not in drop}


def _run_make(target: str, timeout: float) -> tuple[int, int]:
    result = subprocess.run(
        ["make", "--no-print-directory", "-C", str(C_TESTS), target],
        capture_output=True,
        text=True,
        timeout=timeout,
        env=_clean_env(),
    )
    output = f"--- stdout\n{result.stdout}\n--- stderr\n{result.stderr}"
    lines = result.stdout.strip().splitlines()
    assert lines, f"make {target} printed nothing\n{output}"
    match = SUMMARY.match(lines[-1])
    assert match, f"make {target}: last line is not the summary\n{output}"
    assert result.returncode == 0, f"make {target} failed\n{output}"
    assert match.group(2) == "0", output
    return int(match.group(1)), int(match.group(2))


@needs_toolchain
@once_per_suite
def test_c_units() -> None:
    passed, _ = _run_make("test", timeout=300)
    assert passed > 0


@needs_toolchain
@once_per_suite
@pytest.mark.skipif(shutil.which("valgrind") is None, reason="valgrind is not installed")
def test_c_units_under_valgrind() -> None:
    passed, _ = _run_make("valgrind", timeout=600)
    assert passed > 0


@needs_toolchain
@pytest.mark.skipif(
    not os.environ.get("LEAKTRACE_SANITIZE"),
    reason="run in the sanitizer pass of scripts/test.sh (LEAKTRACE_SANITIZE set)",
)
def test_c_units_under_sanitizers() -> None:
    passed, _ = _run_make("asan", timeout=600)
    assert passed > 0
