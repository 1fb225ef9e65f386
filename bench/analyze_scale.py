"""Capture size and report cost at many stacks with periodic snapshots.

The target of issue 14: a program that runs about a second untracked and leaks at about
100,000 distinct stacks (bench/analyze_many_stacks.py), run under ``leaktrace run
--interval 0.1``, must give a capture of at most 100 MB, and ``leaktrace report
--format json`` must take at most 3x the program's own untracked run time and at most
1 GiB of memory.

In one run, each step repeated --repeat times (medians):
* the program untracked (``python PROGRAM N``);
* ``leaktrace run -q --interval I -o CAPTURE PROGRAM N``: capture size and snapshots;
* ``leaktrace report CAPTURE --format F -o OUT`` for each format: wall time and the
  peak RSS of the report process (``wait4``'s ``ru_maxrss``).
A markdown table goes to stdout, progress to stderr.

Usage: python bench/analyze_scale.py [--objects N] [--interval S] [--repeat N]
                                     [--python PATH] [--formats text,json,...]
"""

from __future__ import annotations

import argparse
import os
import platform
import statistics
import subprocess
import sys
import tempfile
from pathlib import Path

from _runs import log, timed

HERE = Path(__file__).resolve().parent
PROGRAM = HERE / "analyze_many_stacks.py"
FORMATS = ("json", "text", "html", "pprof", "collapsed", "speedscope")


def median_run(command: list[str], what: str, repeat: int) -> tuple[float, int]:
    runs = [timed(command, what) for _ in range(repeat)]
    return statistics.median(r.seconds for r in runs), max(r.rss for r in runs)


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--objects", type=int, default=100_000)
    parser.add_argument("--interval", type=float, default=0.1)
    parser.add_argument("--repeat", type=int, default=3)
    parser.add_argument("--python", default=sys.executable)
    parser.add_argument("--formats", default=",".join(FORMATS))
    args = parser.parse_args()
    py = args.python
    workdir = Path(tempfile.mkdtemp(prefix="lt-scale-"))
    capture = workdir / "run.ltc"
    program = [str(PROGRAM), str(args.objects)]

    log(f"untracked: {PROGRAM.name} {args.objects:,} ...")
    untracked, _ = median_run([py, *program], "untracked run", args.repeat)
    log("leaktrace run ...")
    run_command = [py, "-m", "leaktrace", "run", "-q", "--interval", str(args.interval)]
    tracked, _ = median_run([*run_command, "-o", str(capture), *program], "run", args.repeat)
    # The figures of the capture come from a child: a big document parsed here would
    # count in every later child's ru_maxrss (a forked child starts with the parent's
    # resident set).
    summary = (
        "import json, subprocess, sys\n"
        "out = subprocess.run([sys.executable, '-m', 'leaktrace', 'report', sys.argv[1],\n"
        "                      '--format', 'json'], capture_output=True, check=True).stdout\n"
        "doc = json.loads(out)\n"
        "print(len(doc['leaks']), doc['total_allocations'])\n"
    )
    counts = subprocess.run(
        [py, "-c", summary, str(capture)], capture_output=True, text=True, check=True
    ).stdout.split()
    doc = {"leaks": int(counts[0]), "total_allocations": int(counts[1])}
    rows = []
    for fmt in args.formats.split(","):
        log(f"leaktrace report --format {fmt} ...")
        out = workdir / f"report.{fmt}"
        command = [py, "-m", "leaktrace", "report", str(capture), "--format", fmt, "-o", str(out)]
        seconds, rss = median_run(command, f"report --format {fmt}", args.repeat)
        rows.append((fmt, seconds, rss, out.stat().st_size))

    size = capture.stat().st_size
    print(f"# {PROGRAM.name} {args.objects:,}, --interval {args.interval}\n")
    print(f"- machine: {platform.node()}, {os.cpu_count()} CPUs, {platform.platform()}, shared")
    print(f"- Python {platform.python_version()}; medians of {args.repeat} runs")
    print(
        f"- untracked run {untracked:.2f} s; `leaktrace run` {tracked:.2f} s; capture "
        f"{size / 1e6:.1f} MB, {doc['leaks']:,} leaking sites, "
        f"{doc['total_allocations']:,} allocations\n"
    )
    print("| report | seconds | ÷ untracked run | peak RSS | output |")
    print("| --- | ---: | ---: | ---: | ---: |")
    for fmt, seconds, rss, out_size in rows:
        print(
            f"| `--format {fmt}` | {seconds:.2f} | {seconds / untracked:.2f}× "  # noqa: RUF001
            f"| {rss / 2**20:.0f} MiB | {out_size / 1e6:.1f} MB |"
        )
    for path in workdir.iterdir():
        path.unlink()
    workdir.rmdir()
    return 0


if __name__ == "__main__":
    sys.exit(main())
