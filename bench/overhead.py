"""Overhead benchmark: leaktrace against tracemalloc and an untracked run.

For every workload in ``bench/workloads/`` this runs, interleaved and
repeated, four child processes and keeps the median of each:

* ``untracked``      ``python w.py``
* ``tracemalloc1``   ``python -X tracemalloc=1 w.py``
* ``tracemalloc64``  ``python -X tracemalloc=64 w.py``
* ``leaktrace``      ``python -m leaktrace run -o CAPTURE --depth 64 w.py``

Wall time is that of the whole child process; peak RSS is the child's
``ru_maxrss`` from ``os.wait4``. For leaktrace it also reads ``peak_bytes`` and
``tracker_memory_bytes`` from ``leaktrace report CAPTURE --format json``.
A markdown table goes to stdout, progress to stderr. Exit status 2 means a
child failed (or the setup is wrong); the one-line error shows its stderr tail.

Usage: python bench/overhead.py [--quick] [--repeat N] [--workloads NAME ...]
                                [--modes MODE ...] [--python PATH] [--json OUT]
"""

from __future__ import annotations

import argparse
import ctypes
import functools
import json
import math
import os
import platform
import shutil
import signal
import statistics
import sys
import tempfile
import time
from dataclasses import asdict, dataclass, field
from datetime import datetime, timezone
from pathlib import Path
from typing import Any

WORKLOAD_DIR = Path(__file__).resolve().parent / "workloads"
MODES = ("untracked", "tracemalloc1", "tracemalloc64", "leaktrace")
TRACKED_MODES = MODES[1:]
LABELS = {
    "untracked": "untracked",
    "tracemalloc1": "tracemalloc=1",
    "tracemalloc64": "tracemalloc=64",
    "leaktrace": "leaktrace",
}
DEPTH = 64
DEFAULT_REPEAT = 5
QUICK_SCALE = 0.2
# Settings that would change what the children measure.
ENV_DROP = (
    "PYTHONTRACEMALLOC",
    "PYTHONMALLOC",
    "PYTHONMALLOCSTATS",
    "PYTHONDEVMODE",
    "PYTHONPYCACHEPREFIX",
)
TAIL_LINES = 4
TAIL_CHARS = 400
PR_SET_CHILD_SUBREAPER = 36  # from <linux/prctl.h>


class BenchError(Exception):
    """A child process failed or the setup is unusable; the text is one line."""


@dataclass(frozen=True)
class Plan:
    python: str
    env: dict[str, str]
    scale: str
    workloads: list[Path]
    modes: list[str]
    repeat: int
    workdir: Path


@dataclass(frozen=True)
class ChildRun:
    wall_s: float
    maxrss_kib: int
    stdout: str


@dataclass
class ModeSamples:
    wall_s: list[float] = field(default_factory=list)
    maxrss_kib: list[int] = field(default_factory=list)


@dataclass
class LeaktraceSamples:
    peak_bytes: list[int] = field(default_factory=list)
    tracker_memory_bytes: list[int] = field(default_factory=list)
    total_allocated_bytes: list[int] = field(default_factory=list)
    leak_sites: list[int] = field(default_factory=list)
    capture_bytes: list[int] = field(default_factory=list)
    tracked_s: list[float | None] = field(default_factory=list)  # `duration_s`, if reported
    report_s: list[float] = field(default_factory=list)


@dataclass
class WorkloadResult:
    name: str
    modes: dict[str, ModeSamples] = field(default_factory=dict)
    leaktrace: LeaktraceSamples = field(default_factory=LeaktraceSamples)


# --------------------------------------------------------------------------
# Running children


def tail(text: str) -> str:
    lines = [line.strip() for line in text.splitlines() if line.strip()]
    joined = " | ".join(lines[-TAIL_LINES:]) or "(no stderr)"
    return joined[-TAIL_CHARS:]


@functools.cache
def subreaper_shell() -> str | None:
    """Become a subreaper (adopt orphaned descendants); return ``sh`` if that worked."""
    shell = shutil.which("sh")
    try:
        libc = ctypes.CDLL(None, use_errno=True)
        ok = libc.prctl(PR_SET_CHILD_SUBREAPER, 1, 0, 0, 0) == 0
    except (OSError, AttributeError):
        ok = False
    return shell if ok else None


def run_child(argv: list[str], env: dict[str, str], what: str) -> ChildRun:
    """Run ``argv`` to completion; return its wall time, peak RSS and stdout.

    Linux charges the RSS of whatever process forks-and-execs a program to
    that program's ``ru_maxrss``, so a child started straight from this
    harness could never report less than the harness's own ~12 MiB. As a
    subreaper we instead let ``sh`` (tiny) start the program in the
    background and exit; the program is re-parented to us and ``wait4`` gives
    its own rusage. Without a subreaper the harness RSS stays in (see
    ``rss_floor_kib``). The few ms of ``sh`` start-up count in the wall time.
    """
    shell = subreaper_shell()
    launch = [shell, "-c", '"$@" &', "sh", *argv] if shell else argv
    with tempfile.TemporaryFile() as out, tempfile.TemporaryFile() as err:
        start = time.perf_counter()
        pid = os.fork()
        if pid == 0:  # child: exec or exit, never return into the harness
            try:
                os.setpgid(0, 0)  # own group, so an interrupt can end it all
                stdin = os.open(os.devnull, os.O_RDONLY)
                os.dup2(stdin, 0)
                os.dup2(out.fileno(), 1)
                os.dup2(err.fileno(), 2)
                os.execve(launch[0], launch, env)
            except OSError as exc:
                os.write(2, f"cannot execute {launch[0]}: {exc}\n".encode())
            finally:
                os._exit(127)
        try:
            _, status, usage = os.wait4(pid, 0)
            if launch is not argv and os.waitstatus_to_exitcode(status) == 0:
                _, status, usage = os.wait4(-1, 0)  # the re-parented program
        except ChildProcessError as exc:  # sh exited 0 without starting the program
            msg = f"{what}: lost track of the child ({exc})"
            raise BenchError(msg) from exc
        except KeyboardInterrupt:
            os.killpg(pid, signal.SIGKILL)  # the group we made, led by `pid`
            raise
        wall_s = time.perf_counter() - start
        out.seek(0)
        err.seek(0)
        stdout = out.read().decode(errors="replace")
        stderr = err.read().decode(errors="replace")
    code = os.waitstatus_to_exitcode(status)
    if code != 0:
        msg = f"{what} exited with status {code}: {tail(stderr)}"
        raise BenchError(msg)
    return ChildRun(wall_s, usage.ru_maxrss, stdout)


def mode_argv(mode: str, python: str, script: Path, scale: str, capture: Path) -> list[str]:
    tail_args = [str(script), scale]
    if mode == "untracked":
        return [python, *tail_args]
    if mode == "tracemalloc1":
        return [python, "-X", "tracemalloc=1", *tail_args]
    if mode == "tracemalloc64":
        return [python, "-X", f"tracemalloc={DEPTH}", *tail_args]
    run = ["-m", "leaktrace", "run", "-o", str(capture), "--depth", str(DEPTH)]
    return [python, *run, *tail_args]


def read_capture(
    python: str, capture: Path, env: dict[str, str], name: str, into: LeaktraceSamples
) -> None:
    """Record the capture's numbers and how long a text report takes."""
    what = f"leaktrace report of {name}"
    report = run_child([python, "-m", "leaktrace", "report", str(capture)], env, what)
    raw = run_child(
        [python, "-m", "leaktrace", "report", str(capture), "--format", "json"],
        env,
        f"{what} (json)",
    )
    try:
        data = json.loads(raw.stdout)
        peak = int(data["peak_bytes"])
        tracker = int(data["tracker_memory_bytes"])
        total = int(data["total_allocated_bytes"])
        sites = len(data["leaks"])
    except (ValueError, KeyError, TypeError) as exc:
        msg = f"{what}: unusable JSON ({exc!r}): {tail(raw.stdout)}"
        raise BenchError(msg) from exc
    into.peak_bytes.append(peak)
    into.tracker_memory_bytes.append(tracker)
    into.total_allocated_bytes.append(total)
    into.leak_sites.append(sites)
    into.capture_bytes.append(capture.stat().st_size)
    into.tracked_s.append(data.get("duration_s"))
    into.report_s.append(report.wall_s)


# --------------------------------------------------------------------------
# Setup


def child_env() -> dict[str, str]:
    env = {k: v for k, v in os.environ.items() if k not in ENV_DROP}
    env["PYTHONHASHSEED"] = "0"  # same dict layouts, so same allocations
    return env


def find_workloads(selected: list[str] | None) -> list[Path]:
    available = {p.stem: p for p in sorted(WORKLOAD_DIR.glob("*.py")) if not p.stem.startswith("_")}
    if not selected:
        return list(available.values())
    names = [n.removesuffix(".py") for item in selected for n in item.split(",") if n]
    unknown = [n for n in names if n not in available]
    if unknown:
        msg = f"unknown workload(s) {', '.join(unknown)}; have {', '.join(available)}"
        raise BenchError(msg)
    return [available[n] for n in names]


def cpu_model() -> str:
    try:
        text = Path("/proc/cpuinfo").read_text()
    except OSError:
        return platform.processor() or "unknown"
    for line in text.splitlines():
        key, _, value = line.partition(":")
        if key.strip() in ("model name", "Hardware", "cpu model"):
            return value.strip()
    return platform.processor() or "unknown"


def load_average() -> str:
    try:
        return " ".join(Path("/proc/loadavg").read_text().split()[:3])
    except OSError:
        return "unknown"


def rss_floor_kib(env: dict[str, str]) -> int | None:
    """ru_maxrss of a trivial program started like the real children.

    No child can report less than this; values near it are not meaningful.
    """
    true = shutil.which("true")
    return None if true is None else run_child([true], env, "true").maxrss_kib


def machine_info(python: str, env: dict[str, str], modes: list[str]) -> dict[str, Any]:
    probe = "import platform, sys; print(platform.python_version(), sys.implementation.name)"
    version = run_child([python, "-c", probe], env, "python version probe").stdout.strip()
    info: dict[str, Any] = {
        "date": datetime.now(timezone.utc).strftime("%Y-%m-%d %H:%M UTC"),
        "cpu": cpu_model(),
        "cores": os.cpu_count(),
        "usable_cores": len(os.sched_getaffinity(0)),
        "kernel": f"{platform.system()} {platform.release()}",
        "python": f"{version} ({python})",
        "rss_floor_kib": rss_floor_kib(env),
        "load_average_start": load_average(),
    }
    if "leaktrace" in modes:
        probe = "import leaktrace; print(getattr(leaktrace, '__version__', 'unknown'))"
        try:
            found = run_child([python, "-c", probe], env, "import leaktrace")
        except BenchError as exc:
            msg = (
                f"leaktrace is not importable by {python} ({exc}); install it "
                "(pip install . from the repository) or pass --modes without leaktrace"
            )
            raise BenchError(msg) from exc
        info["leaktrace"] = found.stdout.strip()
    return info


# --------------------------------------------------------------------------
# Measuring


def measure(plan: Plan) -> list[WorkloadResult]:
    python, env, scale, modes = plan.python, plan.env, plan.scale, plan.modes
    results = [WorkloadResult(w.stem, {m: ModeSamples() for m in modes}) for w in plan.workloads]
    expected: dict[str, str] = {}
    for script in plan.workloads:  # warm-up: page cache, and the reference stdout
        expected[script.stem] = run_child(
            [python, str(script), scale], env, f"warm-up of {script.name}"
        ).stdout
    capture = plan.workdir / "capture.ltc"
    for rep in range(plan.repeat):
        shift = rep % len(modes)
        order = modes[shift:] + modes[:shift]  # rotate so no mode always runs first
        for script, result in zip(plan.workloads, results, strict=True):
            for mode in order:
                what = f"{LABELS[mode]} run of {script.name}"
                argv = mode_argv(mode, python, script, scale, capture)
                run = run_child(argv, env, what)
                if run.stdout != expected[script.stem]:
                    msg = f"{what} changed the script's stdout: {tail(run.stdout)}"
                    raise BenchError(msg)
                result.modes[mode].wall_s.append(run.wall_s)
                result.modes[mode].maxrss_kib.append(run.maxrss_kib)
                if mode == "leaktrace":
                    read_capture(python, capture, env, script.name, result.leaktrace)
                    capture.unlink()
                print(
                    f"[{rep + 1}/{plan.repeat}] {script.stem:<16} {LABELS[mode]:<15}"
                    f" {run.wall_s:8.2f} s {run.maxrss_kib / 1024:8.1f} MiB",
                    file=sys.stderr,
                    flush=True,
                )
    return results


# --------------------------------------------------------------------------
# Summarising


def geomean(values: list[float]) -> float:
    good = [v for v in values if v > 0 and math.isfinite(v)]
    if not good or len(good) != len(values):
        return math.nan
    return math.exp(sum(math.log(v) for v in good) / len(good))


def summarise(result: WorkloadResult) -> dict[str, float]:
    """Medians and ratios to the untracked median for one workload."""
    base = result.modes["untracked"]
    base_wall = statistics.median(base.wall_s)
    base_rss = statistics.median(base.maxrss_kib)
    row = {"untracked_s": base_wall, "untracked_rss_mib": base_rss / 1024}
    for mode in TRACKED_MODES:
        samples = result.modes.get(mode)
        if samples is None:
            continue
        row[f"{mode}_time_x"] = statistics.median(samples.wall_s) / base_wall
        row[f"{mode}_rss_x"] = statistics.median(samples.maxrss_kib) / base_rss
    lt = result.leaktrace
    if lt.peak_bytes:
        ratios = [
            t / p if p else math.nan
            for t, p in zip(lt.tracker_memory_bytes, lt.peak_bytes, strict=True)
        ]
        row["tracker_over_peak"] = statistics.median(ratios)
        row["leaktrace_peak_heap_mib"] = statistics.median(lt.peak_bytes) / 2**20
        row["leaktrace_report_s"] = statistics.median(lt.report_s)
    return row


def fmt_x(value: float | None) -> str:
    if value is None or not math.isfinite(value):
        return "—"
    digits = max(0, 2 - int(math.log10(value))) if value > 0 else 2  # ~3 significant
    return f"{value:.{digits}f}x"


def fmt_num(value: float | None, digits: int = 2) -> str:
    return "—" if value is None or not math.isfinite(value) else f"{value:.{digits}f}"


def table_row(name: str, row: dict[str, float]) -> str:
    rss = " / ".join(fmt_x(row.get(f"{m}_rss_x")) for m in TRACKED_MODES)
    cells = [
        name,
        fmt_num(row.get("untracked_s")),
        fmt_num(row.get("untracked_rss_mib"), 1),
        *(fmt_x(row.get(f"{m}_time_x")) for m in TRACKED_MODES),
        rss,
        fmt_num(row.get("leaktrace_peak_heap_mib"), 3),
        fmt_x(row.get("tracker_over_peak")),
        fmt_num(row.get("leaktrace_report_s")),
    ]
    return "| " + " | ".join(cells) + " |"


TABLE_HEAD = (
    "| workload | untracked s | untracked RSS MiB | tracemalloc=1 x | tracemalloc=64 x"
    " | leaktrace x | RSS x (tm=1 / tm=64 / leaktrace) | peak heap MiB | tracker mem / peak heap"
    " | report s |\n"
    "|---|---:|---:|---:|---:|---:|---:|---:|---:|---:|"
)
TABLE_NOTE = (
    "x = median wall time (or peak RSS) over the untracked median. peak heap = leaktrace"
    " `peak_bytes` (peak tracked heap); tracker mem / peak heap = `tracker_memory_bytes` /"
    " `peak_bytes`. report s = wall time of a separate"
    " `leaktrace report CAPTURE` (includes interpreter start and loading the capture); the"
    " leaktrace x column already includes writing the capture and printing the report at exit."
)


def render(info: dict[str, Any], config: dict[str, Any], rows: dict[str, dict[str, float]]) -> str:
    floor = info["rss_floor_kib"]
    floor_text = "n/a" if floor is None else f"{floor / 1024:.1f} MiB"
    runs = f"median of {config['repeat']}, modes interleaved; scale {config['scale']}"
    lines = [
        "## Overhead benchmark",
        "",
        f"- Date: {info['date']}",
        f"- CPU: {info['cpu']} ({info['cores']} cores, {info['usable_cores']} usable)",
        f"- Kernel: {info['kernel']}",
        f"- Python: {info['python']}",
        f"- leaktrace: {info.get('leaktrace', 'not run')}",
        f"- Runs: {runs}; stack depth {DEPTH}",
        (
            f"- Load average (1, 5, 15 min): {info['load_average_start']} at start,"
            f" {info['load_average_end']} at end"
        ),
        f"- RSS floor (peak RSS of `true` launched like the children): {floor_text}",
        "",
        TABLE_HEAD,
    ]
    lines += [table_row(name, row) for name, row in rows.items()]
    keys = {k for row in rows.values() for k in row}
    means = {k: geomean([row.get(k, math.nan) for row in rows.values()]) for k in keys}
    lines += [table_row("**geomean**", means), "", TABLE_NOTE]
    return "\n".join(lines)


# --------------------------------------------------------------------------
# Command line


def parse_args(argv: list[str] | None) -> argparse.Namespace:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--repeat", type=int, help=f"runs per mode (default {DEFAULT_REPEAT})")
    parser.add_argument(
        "--quick", action="store_true", help=f"1 repeat at scale {QUICK_SCALE} (a smoke test)"
    )
    parser.add_argument("--scale", type=float, help="workload scale factor (default 1)")
    parser.add_argument("--workloads", nargs="+", metavar="NAME", help="workloads to run")
    parser.add_argument(
        "--modes",
        nargs="+",
        choices=TRACKED_MODES,
        default=list(TRACKED_MODES),
        help="tracked modes to compare (untracked always runs)",
    )
    parser.add_argument("--python", default=sys.executable, help="interpreter to benchmark")
    parser.add_argument("--json", type=Path, metavar="OUT", help="write raw numbers here")
    args = parser.parse_args(argv)
    args.repeat = args.repeat or (1 if args.quick else DEFAULT_REPEAT)
    args.scale = args.scale or (QUICK_SCALE if args.quick else 1.0)
    if args.repeat < 1 or args.scale <= 0:
        parser.error("--repeat must be >= 1 and --scale > 0")
    return args


def resolve_python(name: str) -> str:
    found = shutil.which(name) if os.sep not in name else name
    if found is None or not os.access(found, os.X_OK):
        msg = f"--python {name}: not an executable"
        raise BenchError(msg)
    return str(Path(found).absolute())  # not resolve(): keep a venv's symlink


def main(argv: list[str] | None = None) -> int:
    args = parse_args(argv)
    modes = ["untracked", *(m for m in TRACKED_MODES if m in args.modes)]
    scale = repr(args.scale)
    try:
        python = resolve_python(args.python)
        workloads = find_workloads(args.workloads)
        with tempfile.TemporaryDirectory(prefix="leaktrace-bench-") as tmp:
            workdir = Path(tmp)
            env = child_env()
            info = machine_info(python, env, modes)
            plan = Plan(python, env, scale, workloads, modes, args.repeat, workdir)
            results = measure(plan)
            info["load_average_end"] = load_average()
    except BenchError as exc:
        print(f"overhead.py: error: {exc}", file=sys.stderr)
        return 2
    config = {"repeat": args.repeat, "scale": args.scale, "depth": DEPTH, "modes": modes}
    rows = {r.name: summarise(r) for r in results}
    print(render(info, config, rows))
    if args.json:
        raw = {
            "machine": info,
            "config": config,
            "summary": {
                name: {k: v if math.isfinite(v) else None for k, v in row.items()}
                for name, row in rows.items()
            },
            "samples": {
                r.name: {
                    "modes": {m: asdict(s) for m, s in r.modes.items()},
                    "leaktrace": asdict(r.leaktrace),
                }
                for r in results
            },
        }
        args.json.write_text(json.dumps(raw, indent=2, allow_nan=False, default=str) + "\n")
    return 0


if __name__ == "__main__":
    sys.exit(main())
