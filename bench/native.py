"""Native-allocation tracking overhead: leaktrace against memray --native and an untracked run.

For each workload in ``bench/native_workloads/`` this runs, interleaved and repeated,
one child process per mode and keeps the median of each:

* ``untracked``        ``python w.py``
* ``leaktrace-py``     ``python -m leaktrace run -q --no-native-allocs w.py``
* ``leaktrace``        ``python -m leaktrace run -q w.py`` (native allocations on, the default)
* ``leaktrace-native`` ``python -m leaktrace run -q --native w.py`` (plus C frames)
* ``memray-native``    ``python -m memray run --native -q -f -o CAPTURE w.py``

Each child's CPU time (user + system, from ``os.wait4``) is measured beside its wall
time: on a shared machine CPU time varies less. Ratios are to the untracked run.
A markdown table goes to stdout, progress to stderr. memray comes from PyPI
(``pip install memray``); without it the memray column says so.

Usage: python bench/native.py [--repeat N] [--scale S] [--python PATH]
"""

from __future__ import annotations

import argparse
import os
import platform
import statistics
import subprocess
import sys
import tempfile
import time
from pathlib import Path

WORKLOADS = Path(__file__).resolve().parent / "native_workloads"
MODES = ("untracked", "leaktrace-py", "leaktrace", "leaktrace-native", "memray-native")


def command(python: str, mode: str, workload: Path, scale: str, capture: Path) -> list[str]:
    target = [str(workload), scale]
    if mode == "untracked":
        return [python, *target]
    if mode == "leaktrace-py":
        return [python, "-m", "leaktrace", "run", "-q", "--no-native-allocs", "-o",
                str(capture), *target]  # fmt: skip
    if mode == "leaktrace":
        return [python, "-m", "leaktrace", "run", "-q", "-o", str(capture), *target]
    if mode == "leaktrace-native":
        return [python, "-m", "leaktrace", "run", "-q", "--native", "-o", str(capture), *target]
    if mode == "memray-native":
        return [python, "-m", "memray", "run", "--native", "-q", "-f", "-o", str(capture),
                *target]  # fmt: skip
    raise ValueError(mode)


def measure(argv: list[str]) -> tuple[float, float]:
    """(wall seconds, CPU seconds) of one child process."""
    start = time.perf_counter()
    proc = subprocess.Popen(argv, stdout=subprocess.DEVNULL, stderr=subprocess.PIPE)
    assert proc.stderr is not None
    err = proc.stderr.read()
    _, status, usage = os.wait4(proc.pid, 0)
    proc.returncode = os.waitstatus_to_exitcode(status)
    wall = time.perf_counter() - start
    if proc.returncode != 0:
        tail = err.decode(errors="replace").strip().splitlines()[-3:]
        raise SystemExit(f"bench: {' '.join(argv)} failed ({proc.returncode}): {' | '.join(tail)}")
    return wall, usage.ru_utime + usage.ru_stime


def has_memray(python: str) -> bool:
    probe = subprocess.run([python, "-c", "import memray"], capture_output=True, check=False)
    return probe.returncode == 0


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--repeat", type=int, default=5)
    parser.add_argument("--scale", default="1.0")
    parser.add_argument("--python", default=sys.executable)
    args = parser.parse_args()
    modes = [m for m in MODES if m != "memray-native" or has_memray(args.python)]
    workloads = sorted(WORKLOADS.glob("*.py"))
    results: dict[tuple[str, str], list[tuple[float, float]]] = {}
    with tempfile.TemporaryDirectory(prefix="lt-native-bench-") as tmp:
        capture = Path(tmp) / "capture"
        for workload in workloads:
            for rep in range(args.repeat):
                for mode in modes:  # interleaved, so that load changes hit every mode
                    print(f"{workload.stem} {mode} run {rep + 1}", file=sys.stderr)
                    argv = command(args.python, mode, workload, args.scale, capture)
                    results.setdefault((workload.stem, mode), []).append(measure(argv))
                    capture.unlink(missing_ok=True)

    def median(name: str, mode: str, index: int) -> float:
        return statistics.median(r[index] for r in results[(name, mode)])

    print(f"Python {platform.python_version()}, {platform.machine()}, {os.cpu_count()} CPUs, "
          f"scale {args.scale}, median of {args.repeat}")  # fmt: skip
    print()
    header = "| workload | untracked CPU s | " + " | ".join(
        f"{m} CPU x | {m} wall x" for m in modes[1:]
    )
    print(header + " |")
    print("|" + " --- |" * (2 + 2 * (len(modes) - 1)))
    for workload in workloads:
        name = workload.stem
        base_cpu = median(name, "untracked", 1)
        base_wall = median(name, "untracked", 0)
        cells = [name, f"{base_cpu:.2f}"]
        for mode in modes[1:]:
            cells.append(f"{median(name, mode, 1) / base_cpu:.2f}")
            cells.append(f"{median(name, mode, 0) / base_wall:.2f}")
        print("| " + " | ".join(cells) + " |")
    if "memray-native" not in modes:
        print("\nmemray is not installed for this Python: pip install memray")
    return 0


if __name__ == "__main__":
    sys.exit(main())
