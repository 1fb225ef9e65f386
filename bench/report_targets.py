"""Both report targets of issue 14, measured side by side in one run.

1. The program of bench/analyze_many_stacks.py at 100,000 objects (about as many
   distinct stacks), run under ``leaktrace run --interval 0.1``: the capture must be at
   most 100 MB, and ``leaktrace report --format json`` must take at most 3x the
   program's own untracked run and at most 1 GiB.
2. The same program at 200,000 objects, captured by ``leaktrace run`` and by ``memray
   run --trace-python-allocators`` (so that memray sees the pymalloc allocations
   leaktrace sees): every ``leaktrace report --format F`` against memray's ``table``
   and ``flamegraph`` reporters on memray's capture; the target is 10x faster than both.

Every command runs as a whole process, as a user runs it (interpreter start-up
included). Each repetition runs every command once, in an order rotated from one
repetition to the next; the tables give medians of wall time and of CPU time (user and
system, which a busy machine disturbs less), and the largest peak RSS (wait4's
ru_maxrss). A markdown report goes to stdout, progress to stderr.

Usage: python bench/report_targets.py [--repeat N] [--python PATH] [--keep DIR]
Needs memray in the interpreter (pip install memray).
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

from _runs import Timing, log, missing_module, timed

HERE = Path(__file__).resolve().parent
PROGRAM = HERE / "analyze_many_stacks.py"
FORMATS = ("text", "json", "pprof", "collapsed", "speedscope", "html")
MEMRAY_REPORTERS = ("table", "flamegraph")


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--repeat", type=int, default=5)
    parser.add_argument("--python", default=sys.executable)
    parser.add_argument("--keep", metavar="DIR", help="keep captures and reports here")
    args = parser.parse_args()
    py = args.python
    if missing_module(py, ("leaktrace", "memray")):
        return 2
    work = Path(args.keep or tempfile.mkdtemp(prefix="lt-targets-"))
    work.mkdir(parents=True, exist_ok=True)
    scale, stacks, memray = work / "scale.ltc", work / "stacks.ltc", work / "stacks.bin"
    for path in (scale, stacks, memray):
        path.unlink(missing_ok=True)

    log(
        "capturing: leaktrace run --interval 0.1 (100,000), leaktrace run and memray run "
        "(200,000) ..."
    )
    lt_run = [py, "-m", "leaktrace", "run", "-q"]
    timed([*lt_run, "--interval", "0.1", "-o", str(scale), str(PROGRAM), "100000"], "run")
    timed([*lt_run, "-o", str(stacks), str(PROGRAM), "200000"], "run")
    memray_run = [py, "-m", "memray", "run", "-q", "-f", "--trace-python-allocators"]
    timed([*memray_run, "-o", str(memray), str(PROGRAM), "200000"], "memray run")

    report = [py, "-m", "leaktrace", "report"]
    commands: dict[str, list[str]] = {
        "untracked 100k": [py, str(PROGRAM), "100000"],
        "json 100k": [*report, str(scale), "--format", "json", "-o", str(work / "scale.json")],
    }
    for fmt in FORMATS:
        out = str(work / f"stacks.{fmt}")
        commands[fmt] = [*report, str(stacks), "--format", fmt, "-o", out]
    for reporter in MEMRAY_REPORTERS:
        out = str(work / f"memray-{reporter}.html")
        commands[f"memray {reporter}"] = [
            py,
            "-m",
            "memray",
            reporter,
            "-f",
            "-o",
            out,
            str(memray),
        ]

    samples: dict[str, list[Timing]] = {name: [] for name in commands}
    names = list(commands)
    load_start = os.getloadavg()
    for rep in range(args.repeat):
        shift = rep % len(names)
        for name in names[shift:] + names[:shift]:
            log(f"[{rep + 1}/{args.repeat}] {name} ...")
            samples[name].append(timed(commands[name], name))
    load_end = os.getloadavg()

    def seconds(name: str) -> float:
        return statistics.median(s.seconds for s in samples[name])

    def rss(name: str) -> int:
        return max(s.rss for s in samples[name])

    def cpu(name: str) -> float:
        return statistics.median(s.cpu for s in samples[name])

    print("# Report targets (issue 14)\n")
    print(f"- machine: {platform.node()}, {os.cpu_count()} CPUs, {platform.platform()}; shared")
    print(
        f"- load average (1, 5, 15 min): {' '.join(f'{x:.1f}' for x in load_start)} at "
        f"start, {' '.join(f'{x:.1f}' for x in load_end)} at end"
    )
    version = subprocess.run(
        [py, "-c", "import sys, memray; print(sys.version.split()[0], memray.__version__)"],
        capture_output=True,
        text=True,
        check=True,
    ).stdout.split()
    print(f"- Python {version[0]}, memray {version[1]}; medians of {args.repeat} interleaved runs")
    print(
        f"- captures: 100k --interval 0.1 {scale.stat().st_size / 1e6:.1f} MB; 200k: "
        f"leaktrace {stacks.stat().st_size / 1e6:.1f} MB, memray "
        f"{memray.stat().st_size / 1e6:.1f} MB\n"
    )

    untracked = seconds("untracked 100k")
    print("## 1. 100,000 stacks, --interval 0.1: capture ≤ 100 MB, JSON ≤ 3x untracked, ≤ 1 GiB\n")
    print("| | seconds | ÷ untracked run | CPU s | ÷ untracked CPU | peak RSS |")
    print("| --- | ---: | ---: | ---: | ---: | ---: |")
    for name, label in (
        ("untracked 100k", "the program, untracked"),
        ("json 100k", "`leaktrace report --format json`"),
    ):
        print(
            f"| {label} | {seconds(name):.2f} | {seconds(name) / untracked:.2f}x "
            f"| {cpu(name):.2f} | {cpu(name) / cpu('untracked 100k'):.2f}x "
            f"| {rss(name) / 2**20:.0f} MiB |"
        )
    print()

    table, flame = seconds("memray table"), seconds("memray flamegraph")
    table_cpu, flame_cpu = cpu("memray table"), cpu("memray flamegraph")
    print("## 2. 200,000 stacks: each report ≥ 10x faster than memray's table and flamegraph\n")
    print(
        "| report | seconds | memray table ÷ this | memray flamegraph ÷ this | CPU s "
        "| table ÷ this (CPU) | flamegraph ÷ this (CPU) | peak RSS |"
    )
    print("| --- | ---: | ---: | ---: | ---: | ---: | ---: | ---: |")
    for name in (*FORMATS, *(f"memray {r}" for r in MEMRAY_REPORTERS)):
        s, c = seconds(name), cpu(name)
        label = name if name.startswith("memray") else f"leaktrace report --format {name}"
        print(
            f"| {label} | {s:.2f} | {table / s:.1f}x | {flame / s:.1f}x | {c:.2f} "
            f"| {table_cpu / c:.1f}x | {flame_cpu / c:.1f}x | {rss(name) / 2**20:.0f} MiB |"
        )
    if not args.keep:
        for path in work.iterdir():
            path.unlink()
        work.rmdir()
    return 0


if __name__ == "__main__":
    sys.exit(main())
