"""Instructions per mode under callgrind: the hot path's cost without timing noise.

Runs each workload of bench/workloads once per mode under ``valgrind --tool=callgrind``,
in one process, tracking started by ``_core.start`` around ``runpy`` (no second
interpreter, no report), and prints the instructions executed over the untracked run,
each mode's fixed cost (its run of the empty script ``_empty.py``: interpreter start,
installing the hooks and the native patches, writing the capture) taken off both.
On a shared machine this is the figure to compare between builds; wall time is not.

The interpreter runs with PYTHONHASHSEED=0: with a random seed, dict and set layouts move
the counts by up to 2% from run to run (json_roundtrip); what is left (address layout) moves
them by a few tenths of a percent.

Modes: untracked; full (every allocation, 64 frames, native allocations);
sampled (the default 512 KiB rate); hooks only (a rate no allocation reaches).

Usage: python bench/instructions.py [--scale S] [--workloads NAME ...] [--modes MODE ...]
"""

from __future__ import annotations

import argparse
import os
import re
import subprocess
import sys
import tempfile
from pathlib import Path

WORKLOAD_DIR = Path(__file__).resolve().parent / "workloads"
MODES = {
    "untracked": None,
    "full": 0,
    "sampled": 512 * 1024,
    "hooks only": 2**62,
}
DRIVER = """
import runpy, sys
rate, script, out = sys.argv[1], sys.argv[2], sys.argv[3]
sys.argv = [script, *sys.argv[4:]]
sys.path.insert(0, __import__("os").path.dirname(script))
if rate != "none":
    from leaktrace import _core
    _core.start(out, native=True, sample_bytes=int(rate), sample_seed=1)
runpy.run_path(script, run_name="__main__")
if rate != "none":
    _core.stop()
"""


class BenchError(Exception):
    pass


def instructions(python: str, rate: int | None, script: Path, scale: str, tmp: str) -> int:
    out = os.path.join(tmp, "callgrind.out")
    argv = [
        "valgrind",
        "--tool=callgrind",
        f"--callgrind-out-file={out}",
        python,
        "-c",
        DRIVER,
        "none" if rate is None else str(rate),
        str(script),
        os.path.join(tmp, "capture.ltc"),
        scale,
    ]
    # A fixed hash seed (see the module's docstring).
    env = {**os.environ, "PYTHONHASHSEED": "0"}
    proc = subprocess.run(argv, capture_output=True, text=True, check=False, env=env)
    if proc.returncode != 0:
        raise BenchError(f"{script.name}: {proc.stderr.strip().splitlines()[-1:]}")
    match = re.search(r"Collected : (\d+)", proc.stderr)
    if not match:
        raise BenchError(f"{script.name}: no instruction count in callgrind's output")
    return int(match.group(1))


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--python", default=sys.executable)
    parser.add_argument("--scale", default="0.05")
    parser.add_argument("--workloads", nargs="+", default=[], metavar="NAME")
    parser.add_argument("--modes", nargs="+", choices=list(MODES), default=list(MODES))
    args = parser.parse_args()
    scripts = sorted(p for p in WORKLOAD_DIR.glob("*.py") if not p.stem.startswith("_"))
    if args.workloads:
        scripts = [p for p in scripts if p.stem in args.workloads]
        if not scripts:
            print(f"instructions: error: no workload among {args.workloads}", file=sys.stderr)
            return 2
    modes = ["untracked", *(m for m in args.modes if m != "untracked")]
    print(
        f"scale {args.scale}; instructions over the untracked run (callgrind), fixed costs"
        " off (their row: untracked's count, and each mode's extra)"
    )
    print()
    print("| workload | untracked Ir | " + " | ".join(modes[1:]) + " |")
    print("|---|---|" + "---|" * (len(modes) - 1))
    try:
        with tempfile.TemporaryDirectory(prefix="leaktrace-ir-") as tmp:
            empty = WORKLOAD_DIR / "_empty.py"
            fixed = {m: instructions(args.python, MODES[m], empty, args.scale, tmp) for m in modes}
            cells = [f"{fixed[m] - fixed['untracked']:+,}" for m in modes[1:]]
            print(f"| fixed cost | {fixed['untracked']:,} | " + " | ".join(cells) + " |")
            for script in scripts:
                counts = {
                    m: instructions(args.python, MODES[m], script, args.scale, tmp) - fixed[m]
                    for m in modes
                }
                base = counts["untracked"]
                cells = [f"{counts[m] / base:.2f}x" for m in modes[1:]]
                print(f"| {script.stem} | {base:,} | " + " | ".join(cells) + " |", flush=True)
    except BenchError as e:
        print(f"instructions: error: {e}", file=sys.stderr)
        return 2
    return 0


if __name__ == "__main__":
    sys.exit(main())
