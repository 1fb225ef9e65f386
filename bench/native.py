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

With ``--scan`` it measures instead the retention pass's scan of object memory for
pointers into native blocks (heap/lt_owners.h), in one child per heap and repetition:

* ``numpy-1g``     1,024 numpy arrays of 1 MiB in a list (1 GiB of native buffers)
* ``small-1m``     1,000,000 small objects (instances with two attributes) in a list

Each child tracks natively, builds its heap, and calls ``_core.find_paths`` on the
list: the table gives the graph build (which includes the scan), the scan alone, the
blocks considered, the native bytes read, and the analysis's peak memory.

Usage: python bench/native.py [--repeat N] [--scale S] [--python PATH] [--scan]
"""

from __future__ import annotations

import argparse
import json
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


SCAN_HEAPS = ("numpy-1g", "small-1m")

SCAN_CHILD = r"""
import json, sys, tempfile, os
from leaktrace import _core

class Small:
    def __init__(self, i):
        self.a = i
        self.b = None

heap = sys.argv[1]
path = os.path.join(tempfile.mkdtemp(prefix="lt-scan-"), "c.ltc")
_core.start(path, native=True)
if heap == "numpy-1g":
    import numpy as np
    kept = [np.ones(131_072) for _ in range(1024)]
else:
    kept = [Small(i) for i in range(1_000_000)]
result = _core.find_paths((kept,), max_paths=1)
_core.stop()
os.unlink(path)
del result["paths"]
print(json.dumps(result))
"""


def scan_table(python: str, repeat: int) -> None:
    runs: dict[str, list[dict[str, float]]] = {}
    for rep in range(repeat):
        for heap in SCAN_HEAPS:
            print(f"scan {heap} run {rep + 1}", file=sys.stderr)
            proc = subprocess.run([python, "-c", SCAN_CHILD, heap], capture_output=True,
                                  text=True, check=False)  # fmt: skip
            if proc.returncode != 0:
                raise SystemExit(f"bench: scan child {heap} failed: {proc.stderr.strip()[-300:]}")
            runs.setdefault(heap, []).append(json.loads(proc.stdout.splitlines()[-1]))
    print(f"Python {platform.python_version()}, {platform.machine()}, {os.cpu_count()} CPUs, "
          f"median of {repeat}")  # fmt: skip
    print()
    print("| heap | graph objects | native blocks | graph build s | of which scan s | "
          "native read MiB | owned MiB | analysis peak MiB |")  # fmt: skip
    print("| --- | --- | --- | --- | --- | --- | --- | --- |")
    for heap in SCAN_HEAPS:

        def med(key: str, heap: str = heap) -> float:
            return statistics.median(r[key] for r in runs[heap])

        print(f"| {heap} | {med('objects'):,.0f} | {med('native_blocks'):,.0f} | "
              f"{med('build_ns') / 1e9:.3f} | {med('owners_ns') / 1e9:.3f} | "
              f"{med('native_read_bytes') / 2**20:.1f} | {med('native_owned_bytes') / 2**20:.1f} | "
              f"{med('analysis_bytes') / 2**20:.1f} |")  # fmt: skip


def has_memray(python: str) -> bool:
    probe = subprocess.run([python, "-c", "import memray"], capture_output=True, check=False)
    return probe.returncode == 0


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--repeat", type=int, default=5)
    parser.add_argument("--scale", default="1.0")
    parser.add_argument("--python", default=sys.executable)
    parser.add_argument("--scan", action="store_true", help="measure the native owner scan")
    args = parser.parse_args()
    if args.scan:
        scan_table(args.python, args.repeat)
        return 0
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
