"""Benchmark suite: leaktrace (full, sampled, hooks only) against its peers, side by side.

Every workload runs, interleaved and repeated, as a child process in every mode; the
table gives the median wall time of each mode over the untracked median (x), one row
per workload, and the geometric mean over the workloads.

Fixed cost apart: an empty script (``bench/workloads/_empty.py``) runs in every mode
too. Its median is the mode's fixed cost (interpreter start; for ``leaktrace run`` also
the second interpreter start and the capture write). A second table gives the
per-allocation ratio, (mode - mode's fixed cost) / (untracked - untracked's fixed
cost): what a long-running program pays.

Modes (a mode whose tool is not installed in --python is reported as n/a):

* ``untracked``            ``python W``
* ``leaktrace``            ``python -m leaktrace run -q W`` (every allocation, 64 frames,
                           and the default snapshots by work and time: docs/growth.md)
* ``leaktrace --no-snapshots``  the same without the snapshots during the run: side by
                           side with ``leaktrace``, the cost of the default snapshots
* ``leaktrace --sample``   sampled at the default rate (512 KiB, docs/sampling.md)
* ``leaktrace hooks only`` ``--sample-bytes 2**62``: nothing is ever sampled, so this
                           is the floor of the design: PEP 445 wrappers, the re-entry
                           guard, the sampling countdown, and an address-filter load per free
* ``PEP 445 forwarding``   ``bench/floor``: hooks on the three domains that only call
                           the allocator they wrap (built at start with the
                           interpreter's compiler): what any PEP 445 tracer pays first
* ``tracemalloc``          ``python -X tracemalloc=1 W``
* ``memray``               ``python -m memray run W`` (and ``--native``,
                           ``--trace-python-allocators``)
* ``scalene``              ``python -m scalene run W`` (CPU and memory profiling, its default)

Workloads: ``bench/workloads/*.py`` (``bigheap`` keeps a live heap of more than 1 GB
in millions of blocks) and, when pyperformance is installed in --python,
a handful of its benchmarks run in one pyperf worker process
(``run_benchmark.py --worker -l 1 -n N -w 0``).

Usage: python bench/suite.py [--quick] [--repeat N] [--python PATH]
                             [--modes MODE ...] [--workloads NAME ...] [--json OUT]
"""

from __future__ import annotations

import argparse
import json
import math
import os
import platform
import statistics
import subprocess
import sys
import tempfile
import time
from pathlib import Path

WORKLOAD_DIR = Path(__file__).resolve().parent / "workloads"
EMPTY = "fixed cost (empty script)"
PYPERFORMANCE = ("float", "deltablue", "raytrace", "chaos", "go", "json_dumps")
NOTHING_SAMPLED = str(2**62)
FLOOR_DIR = Path(__file__).resolve().parent / "floor"

# mode -> (module that must be importable, argv builder)
MODES: dict[str, tuple[str | None, list[str]]] = {
    "untracked": (None, []),
    "leaktrace": ("leaktrace", ["-m", "leaktrace", "run", "-q", "-f", "-o", "{out}.ltc"]),
    "leaktrace --no-snapshots": (
        "leaktrace",
        ["-m", "leaktrace", "run", "-q", "-f", "--no-snapshots", "-o", "{out}.ltc"],
    ),
    "leaktrace --sample": (
        "leaktrace",
        ["-m", "leaktrace", "run", "-q", "-f", "--sample", "-o", "{out}.ltc"],
    ),
    "leaktrace hooks only": (
        "leaktrace",
        [
            "-m",
            "leaktrace",
            "run",
            "-q",
            "-f",
            "--sample-bytes",
            NOTHING_SAMPLED,
            "-o",
            "{out}.ltc",
        ],
    ),
    "PEP 445 forwarding": (None, [str(FLOOR_DIR / "run.py"), "{floor}"]),
    "tracemalloc": (None, ["-X", "tracemalloc=1"]),
    "memray": ("memray", ["-m", "memray", "run", "-q", "-f", "-o", "{out}.bin"]),
    "memray --native": (
        "memray",
        ["-m", "memray", "run", "-q", "-f", "--native", "-o", "{out}.bin"],
    ),
    "memray --trace-python-allocators": (
        "memray",
        ["-m", "memray", "run", "-q", "-f", "--trace-python-allocators", "-o", "{out}.bin"],
    ),
    "scalene": ("scalene", ["-m", "scalene", "run", "-o", "{out}.json"]),
}


class BenchError(Exception):
    pass


def workloads(python: str, quick: bool, selected: list[str]) -> dict[str, list[str]]:
    """name -> the script and its arguments."""
    scale = "0.3" if quick else "1"
    found = {
        p.stem: [str(p), scale]
        for p in sorted(WORKLOAD_DIR.glob("*.py"))
        if not p.stem.startswith("_")
    }
    probe = subprocess.run(
        [python, "-c", "import pyperformance, os; print(os.path.dirname(pyperformance.__file__))"],
        capture_output=True,
        text=True,
        check=False,
    )
    if probe.returncode == 0:
        base = Path(probe.stdout.strip()) / "data-files" / "benchmarks"
        values = "1" if quick else "3"
        for name in PYPERFORMANCE:
            script = base / f"bm_{name}" / "run_benchmark.py"
            if script.exists():
                found[f"pyperformance {name}"] = [
                    str(script),
                    "--worker",
                    "-l",
                    "1",
                    "-n",
                    values,
                    "-w",
                    "0",
                    "-q",
                ]
    else:
        print(
            "note: pyperformance is not installed in --python: its benchmarks are skipped",
            file=sys.stderr,
        )
    if selected:
        missing = [s for s in selected if s not in found]
        if missing:
            raise BenchError(f"unknown workload(s) {missing}; have {sorted(found)}")
        found = {k: v for k, v in found.items() if k in selected}
    return found


def available_modes(python: str, wanted: list[str]) -> dict[str, bool]:
    result = {}
    for mode in wanted:
        module = MODES[mode][0]
        if module is None:
            result[mode] = True
            continue
        probe = subprocess.run([python, "-c", f"import {module}"], capture_output=True, check=False)
        result[mode] = probe.returncode == 0
    return result


def build_floor(python: str, into: str) -> None:
    """Compiles bench/floor/pep445_floor.c for python into the directory into."""
    code = (
        "import shlex, subprocess, sys, sysconfig\n"
        "cc = shlex.split(sysconfig.get_config_var('CC') or 'cc')\n"
        "out = sys.argv[2] + '/pep445_floor' + sysconfig.get_config_var('EXT_SUFFIX')\n"
        "subprocess.run([*cc, '-O2', '-shared', '-fPIC', "
        "'-I' + sysconfig.get_paths()['include'], sys.argv[1], '-o', out], check=True)\n"
    )
    built = subprocess.run(
        [python, "-c", code, str(FLOOR_DIR / "pep445_floor.c"), into],
        capture_output=True,
        text=True,
        check=False,
    )
    if built.returncode != 0:
        raise BenchError(f"building bench/floor/pep445_floor.c failed: {built.stderr.strip()}")


def argv_for(mode: str, python: str, work: list[str], out: str) -> list[str]:
    floor = os.path.join(os.path.dirname(out), "floor")
    options = [a.format(out=out, floor=floor) for a in MODES[mode][1]]
    if mode == "scalene":
        return [python, *options, work[0], "---", *work[1:]]
    return [python, *options, *work]


def run_once(argv: list[str], env: dict[str, str], cwd: str) -> float:
    start = time.perf_counter()
    proc = subprocess.run(
        argv, env=env, cwd=cwd, stdout=subprocess.DEVNULL, stderr=subprocess.PIPE, check=False
    )
    elapsed = time.perf_counter() - start
    if proc.returncode != 0:
        tail = proc.stderr.decode(errors="replace").strip().splitlines()[-3:]
        raise BenchError(f"{' '.join(argv)} failed ({proc.returncode}): {' | '.join(tail)}")
    return elapsed


def machine() -> str:
    cpu = "unknown"
    try:
        for line in Path("/proc/cpuinfo").read_text().splitlines():
            if line.startswith("model name"):
                cpu = line.split(":", 1)[1].strip()
                break
    except OSError:
        pass
    load = " ".join(f"{x:.2f}" for x in os.getloadavg())
    return (
        f"{platform.node()}: {cpu}, {os.cpu_count()} CPUs, {platform.system()} "
        f"{platform.release()}; load average {load}"
    )


def print_table(
    header: list[str],
    works: dict[str, list[str]],
    modes: list[str],
    have: dict[str, bool],
    times: dict[str, dict[str, list[float]]],
    fixed: dict[str, float] | None,
) -> None:
    """One row per workload (the empty script excluded) and the geometric mean."""
    print("| " + " | ".join(header) + " |")
    print("|" + "---|" * len(header))
    ratios: dict[str, list[float]] = {m: [] for m in modes}
    for name in works:
        if name == EMPTY:
            continue
        base = statistics.median(times[name]["untracked"])
        base_cost = base - (fixed["untracked"] if fixed else 0.0)
        cells = [name, f"{base:.2f}"]
        for mode in modes[1:]:
            if not have[mode]:
                cells.append("n/a")
                continue
            cost = statistics.median(times[name][mode]) - (fixed[mode] if fixed else 0.0)
            if base_cost <= 0 or cost <= 0:
                cells.append("-")
                continue
            ratio = cost / base_cost
            ratios[mode].append(ratio)
            cells.append(f"{ratio:.2f}x")
        print("| " + " | ".join(cells) + " |")
    geo = ["geometric mean", ""]
    for mode in modes[1:]:
        r = ratios[mode]
        geo.append(f"{math.exp(sum(map(math.log, r)) / len(r)):.2f}x" if r else "n/a")
    print("| " + " | ".join(geo) + " |")


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--quick", action="store_true", help="smaller workloads, fewer values")
    parser.add_argument("--repeat", type=int, default=3, metavar="N")
    parser.add_argument("--python", default=sys.executable)
    parser.add_argument("--modes", nargs="+", choices=list(MODES), default=list(MODES))
    parser.add_argument("--workloads", nargs="+", default=[], metavar="NAME")
    parser.add_argument("--json", metavar="OUT", help="also write the raw timings here")
    args = parser.parse_args()
    modes = ["untracked", *(m for m in args.modes if m != "untracked")]
    try:
        works = workloads(args.python, args.quick, args.workloads)
        have = available_modes(args.python, modes)
        version = subprocess.run(
            [args.python, "-VV"], capture_output=True, text=True, check=True
        ).stdout.strip()
        env = {
            k: v
            for k, v in os.environ.items()
            if k not in ("PYTHONTRACEMALLOC", "PYTHONMALLOC", "PYTHONDEVMODE")
        }
        env["PYTHONHASHSEED"] = "0"
        runnable = [m for m in modes if have[m]]
        works = {EMPTY: [str(WORKLOAD_DIR / "_empty.py")], **works}
        times: dict[str, dict[str, list[float]]] = {w: {m: [] for m in runnable} for w in works}
        with tempfile.TemporaryDirectory(prefix="leaktrace-suite-") as tmp:
            if "PEP 445 forwarding" in runnable:
                os.mkdir(os.path.join(tmp, "floor"))
                build_floor(args.python, os.path.join(tmp, "floor"))
            for rep in range(args.repeat):
                order = runnable[rep % len(runnable) :] + runnable[: rep % len(runnable)]
                for name, work in works.items():
                    for mode in order:
                        out = os.path.join(tmp, "out")
                        t = run_once(argv_for(mode, args.python, work, out), env, tmp)
                        times[name][mode].append(t)
                        print(
                            f"[{rep + 1}/{args.repeat}] {name:28} {mode:34} {t:7.2f} s",
                            file=sys.stderr,
                        )
    except BenchError as e:
        print(f"suite: error: {e}", file=sys.stderr)
        return 2

    print(f"Machine: {machine()}")
    print(
        f"Python: {version}; {args.repeat} interleaved repetitions, median wall time"
        f"{' (--quick)' if args.quick else ''}"
    )
    print()
    header = ["workload", "untracked s", *(m for m in modes if m != "untracked")]
    fixed = {m: statistics.median(times[EMPTY][m]) for m in modes if have[m]}
    print("Wall time over the untracked run:")
    print()
    print_table(header, works, modes, have, times, None)
    print()
    print(
        "Fixed cost (median of the empty script, s): "
        + ", ".join(f"{m} {fixed[m]:.3f}" for m in modes if have[m])
    )
    print()
    print(
        "Per-allocation ratio, each mode's fixed cost taken off:"
        " (mode - fixed) / (untracked - fixed)"
    )
    print()
    print_table(header, works, modes, have, times, fixed)
    missing = [m for m in modes if not have[m]]
    if missing:
        print(f"\nnot installed in {args.python}: {', '.join(missing)}")
    if args.json:
        Path(args.json).write_text(
            json.dumps({"machine": machine(), "python": version, "times": times}, indent=2)
        )
    return 0


if __name__ == "__main__":
    sys.exit(main())
