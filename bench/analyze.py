"""Report speed: leaktrace's reporters against memray's, on captures of one program.

Two programs: ``requests`` (bench/analyze_program.py, the default) makes at least 50
million allocations at a few dozen stacks; ``stacks`` (bench/analyze_many_stacks.py)
leaks 200,000 blocks at about as many distinct stacks. The program is captured, in the
same run, by ``leaktrace run`` and by ``memray run
--trace-python-allocators`` (so that memray sees the pymalloc allocations leaktrace
sees), and by ``memray run --aggregate --trace-python-allocators`` (memray's own
record-time aggregation). Then each report is timed as a user runs it, a whole
command from start to exit, best of --repeat runs:

* leaktrace: ``leaktrace report CAPTURE --format F -o OUT`` for every format;
* memray: ``memray flamegraph`` and ``memray table`` on each memray capture.

events = the allocations the capture represents (its STATS ``total_allocations``);
events/s = events / report seconds. The ratios divide memray's time by leaktrace's.
A markdown table goes to stdout, progress to stderr.

Usage: python bench/analyze.py [--program requests|stacks] [--iterations N] [--repeat N]
                               [--python PATH] [--keep DIR]
Needs memray in the interpreter that runs the program (pip install memray).
"""

from __future__ import annotations

import argparse
import json
import os
import platform
import subprocess
import sys
import tempfile
from pathlib import Path

from _runs import log, missing_module, timed

HERE = Path(__file__).resolve().parent
PROGRAMS = {
    "requests": HERE / "analyze_program.py",  # many events, few stacks
    "stacks": HERE / "analyze_many_stacks.py",  # about one stack per leaked block
}
FORMATS = ("text", "json", "collapsed", "pprof", "speedscope", "html")
MEMRAY_REPORTERS = ("flamegraph", "table")
DEFAULT_ITERATIONS = {"requests": 6_000_000, "stacks": 200_000}  # 54 M allocations; 194 k stacks


def run(command: list[str], what: str) -> float:
    """Runs a command to completion; returns its wall time. Exits 2 when it fails."""
    return timed(command, what).seconds


def best(command: list[str], what: str, repeat: int) -> float:
    return min(run(command, what) for _ in range(repeat))


def mib(path: Path) -> str:
    size = path.stat().st_size
    return f"{size / 2**20:.1f} MiB" if size >= 2**20 else f"{size / 1024:.1f} KiB"


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--program", choices=sorted(PROGRAMS), default="requests")
    parser.add_argument("--iterations", type=int, help="default: 6 M requests, 200 k stacks")
    parser.add_argument("--repeat", type=int, default=3, help="runs per report (best kept)")
    parser.add_argument("--python", default=sys.executable, help="interpreter with both tools")
    parser.add_argument("--keep", metavar="DIR", help="keep captures and reports here")
    args = parser.parse_args()
    py = args.python
    if missing_module(py, ("leaktrace", "memray")):
        return 2
    workdir = Path(args.keep or tempfile.mkdtemp(prefix="lt-analyze-"))
    workdir.mkdir(parents=True, exist_ok=True)
    ltc, mrb, mra = workdir / "run.ltc", workdir / "run.bin", workdir / "run-aggregate.bin"
    for path in (ltc, mrb, mra):
        path.unlink(missing_ok=True)
    iterations = args.iterations or DEFAULT_ITERATIONS[args.program]
    program = [str(PROGRAMS[args.program]), str(iterations)]

    log(f"capturing {PROGRAMS[args.program].name} {iterations:,} with leaktrace ...")
    t_lt = run([py, "-m", "leaktrace", "run", "-q", "-o", str(ltc), *program], "leaktrace run")
    log("capturing with memray --trace-python-allocators ...")
    memray_run = [py, "-m", "memray", "run", "-q", "-f", "--trace-python-allocators"]
    t_mr = run([*memray_run, "-o", str(mrb), *program], "memray run")
    log("capturing with memray --aggregate --trace-python-allocators ...")
    t_ma = run([*memray_run, "--aggregate", "-o", str(mra), *program], "memray run --aggregate")

    summary = subprocess.run(
        [py, "-m", "leaktrace", "report", str(ltc), "--format", "json"],
        capture_output=True,
        text=True,
        check=True,
    )
    events = json.loads(summary.stdout)["total_allocations"]
    stacks = len(json.loads(summary.stdout)["leaks"])
    if events < 50_000_000:
        log(f"note: the capture holds {events:,} allocations, fewer than 50 M")

    rows: list[tuple[str, str, float]] = []
    for fmt in FORMATS:
        log(f"leaktrace report --format {fmt} ...")
        out = workdir / f"report.{fmt}"
        command = [py, "-m", "leaktrace", "report", str(ltc), "--format", fmt, "-o", str(out)]
        rows.append(("leaktrace", f"report --format {fmt}", best(command, fmt, args.repeat)))
    memray_times: dict[str, float] = {}
    for capture, label in ((mrb, "all events"), (mra, "--aggregate")):
        for reporter in MEMRAY_REPORTERS:
            log(f"memray {reporter} ({label}) ...")
            out = workdir / f"memray-{reporter}-{capture.stem}.html"
            command = [py, "-m", "memray", reporter, "-f", "-o", str(out), str(capture)]
            # memray's reporters on all events take minutes: once is enough.
            repeat = args.repeat if capture == mra else 1
            seconds = best(command, f"memray {reporter}", repeat)
            rows.append((f"memray ({label})", reporter, seconds))
            if capture == mrb:
                memray_times[reporter] = seconds

    name = PROGRAMS[args.program].name
    print(f"# Report speed: {name}, {events:,} allocations, {stacks:,} leaking stacks\n")
    print(f"- machine: {platform.node()}, {os.cpu_count()} CPUs, {platform.platform()}")
    version = subprocess.run(
        [py, "-c", "import sys, memray; print(sys.version.split()[0], memray.__version__)"],
        capture_output=True,
        text=True,
        check=True,
    ).stdout.split()
    print(f"- Python {version[0]}, memray {version[1]}; best of {args.repeat} runs per report")
    print(
        f"- captures: leaktrace {mib(ltc)} (run {t_lt:.1f} s), memray {mib(mrb)} "
        f"(run {t_mr:.1f} s), memray --aggregate {mib(mra)} (run {t_ma:.1f} s)\n"
    )
    flame, table = memray_times["flamegraph"], memray_times["table"]
    print("| tool | report | seconds | events/s | memray flamegraph ÷ this | memray table ÷ this |")
    print("| --- | --- | ---: | ---: | ---: | ---: |")
    for tool, report, seconds in rows:
        print(
            f"| {tool} | {report} | {seconds:.3f} | {events / seconds / 1e6:,.1f} M "
            f"| {flame / seconds:,.1f}× | {table / seconds:,.1f}× |"  # noqa: RUF001
        )
    if not args.keep:
        for path in workdir.iterdir():
            path.unlink()
        workdir.rmdir()
    return 0


if __name__ == "__main__":
    sys.exit(main())
