"""What the report benchmarks share (analyze.py, analyze_scale.py, report_targets.py):
whole commands timed as processes, and the interpreter's check for the tools they compare."""

from __future__ import annotations

import os
import subprocess
import sys
import time
from pathlib import Path
from typing import NamedTuple


class Timing(NamedTuple):
    seconds: float  # wall time
    rss: int  # peak RSS, bytes
    cpu: float  # user + system time of the process, seconds


def log(message: str) -> None:
    print(message, file=sys.stderr, flush=True)


def _script() -> str:
    return Path(sys.argv[0]).name


def timed(command: list[str], what: str) -> Timing:
    """Runs a command to completion with its output discarded. Exits 2 when it fails,
    with the tail of its stderr."""
    start = time.perf_counter()
    proc = subprocess.Popen(command, stdout=subprocess.DEVNULL, stderr=subprocess.PIPE)
    assert proc.stderr is not None
    with proc.stderr:
        stderr = proc.stderr.read().decode(errors="replace")
    _, status, usage = os.wait4(proc.pid, 0)
    elapsed = time.perf_counter() - start
    proc.returncode = code = os.waitstatus_to_exitcode(status)
    if code != 0:
        log(f"{_script()}: {what} failed ({code}): {stderr.strip()[-300:]}")
        raise SystemExit(2)
    return Timing(elapsed, usage.ru_maxrss * 1024, usage.ru_utime + usage.ru_stime)


def missing_module(python: str, modules: tuple[str, ...]) -> bool:
    """Whether python cannot import one of modules (said on stderr, with the fix)."""
    for module in modules:
        probe = subprocess.run([python, "-c", f"import {module}"], capture_output=True, check=False)
        if probe.returncode != 0:
            log(f"{_script()}: {python} cannot import {module} (pip install {module})")
            return True
    return False
