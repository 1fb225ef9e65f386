"""The load test (tests/stress/stress.py) for a short time: 32 threads allocating and
freeing through every domain and C's malloc, with and without the GIL, checked exactly.

``LEAKTRACE_STRESS_SECONDS`` sets the duration (default 10); ``make -C tests/stress``
runs it for minutes.
"""

from __future__ import annotations

import json
import os
import subprocess
import sys
from pathlib import Path
from types import ModuleType

STRESS = Path(__file__).resolve().parent / "stress.py"
SECONDS = float(os.environ.get("LEAKTRACE_STRESS_SECONDS", "10"))
THREADS = 32


def test_32_threads_exact_totals(
    testext: ModuleType, native_ext_path: Path, tmp_path: Path
) -> None:
    command = [
        sys.executable,
        str(STRESS),
        f"--threads={THREADS}",
        f"--seconds={SECONDS}",
        f"--output={tmp_path / 'stress.ltc'}",
        f"--testext={testext.__file__}",
        f"--native-ext={native_ext_path}",
    ]
    # The script's own watchdog fires first (3 x SECONDS + 120 s) and dumps stacks.
    proc = subprocess.run(command, capture_output=True, text=True, timeout=SECONDS * 3 + 180)
    described = f"status {proc.returncode}\nstdout:\n{proc.stdout}\nstderr:\n{proc.stderr[-6000:]}"
    assert proc.returncode == 0, described
    summary = json.loads(proc.stdout)
    assert summary["mismatches"] == [], described
    assert summary["threads"] == THREADS
    # Every thread ran, and the run was a load, not a trickle.
    assert summary["min_rounds_per_thread"] > 0, described
    assert summary["total_allocations"] > 100_000, described
    assert summary["no_stack_allocations"] > 0, described
