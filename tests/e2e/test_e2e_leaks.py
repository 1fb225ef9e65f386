"""End-to-end leak detection: run known-leaky programs under ``leaktrace run``.

Every program in ``tests/programs`` marks the line that allocates its leaked
memory with a trailing ``# LEAK-SITE`` comment. The tests run the program under
the tracker, render the capture as JSON and check that the biggest leak site
points at that line, with a size consistent with the program's parameters.
"""

from __future__ import annotations

import importlib.util
import json
import platform
import re
import subprocess
import sys
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import leaktrace_cli
import pytest
from report_support import with_stacks

TESTS_DIR = Path(__file__).resolve().parents[1]
PROGRAMS = TESTS_DIR / "programs"
EXAMPLES = TESTS_DIR.parent / "examples"
TIMEOUT = 300
LEAK_MARKER = re.compile(r"\S.*#\s*LEAK-SITE\s*$")
KIB = 1024

Site = dict[str, Any]
Report = dict[str, Any]


def largest(leaks: list[Site]) -> Site:
    """The site holding the most bytes (reports rank by the growth verdict first)."""
    return max(leaks, key=lambda site: site["bytes"])


@dataclass(frozen=True)
class LeakCase:
    """A leaky program, the arguments it is run with, and the size it must leak."""

    program: str
    count: int  # how many leaked objects the program creates (argv[1])
    item_size: int  # bytes in each leaked object (argv[2])
    function: str  # function that contains the LEAK-SITE line

    @property
    def path(self) -> Path:
        return PROGRAMS / self.program

    @property
    def args(self) -> list[str]:
        return [str(self.count), str(self.item_size)]

    @property
    def expected_bytes(self) -> int:
        return self.count * self.item_size


LEAK_CASES = [
    LeakCase("global_list.py", 150, 40_000, "handle_request"),
    LeakCase("class_cache.py", 120, 48_000, "render"),
    LeakCase("lru_method.py", 160, 36_000, "__init__"),
    LeakCase("stored_exceptions.py", 140, 44_000, "parse_record"),
    LeakCase("closure_callbacks.py", 130, 52_000, "subscribe"),
]


@dataclass
class TrackedRun:
    proc: subprocess.CompletedProcess[bytes]
    capture: Path
    report: Report
    cwd: Path


def describe(proc: subprocess.CompletedProcess[bytes]) -> str:
    return (
        f"command: {proc.args}\nexit code: {proc.returncode}\n"
        f"stdout:\n{proc.stdout.decode(errors='replace')[-3000:]}\n"
        f"stderr:\n{proc.stderr.decode(errors='replace')[-3000:]}"
    )


def leak_site_lines(path: Path) -> list[int]:
    lines = path.read_text(encoding="utf-8").splitlines()
    return [number for number, text in enumerate(lines, start=1) if LEAK_MARKER.search(text)]


def json_report(capture: Path, cwd: Path) -> Report:
    cmd = [*leaktrace_cli.command(), "report", str(capture), "--format", "json"]
    proc = subprocess.run(cmd, cwd=cwd, capture_output=True, timeout=TIMEOUT, check=False)
    assert proc.returncode == 0, describe(proc)
    report = json.loads(proc.stdout)
    assert isinstance(report, dict), report
    return with_stacks(report)


def run_tracked(
    tmp_path: Path, program: Path, args: list[str], options: tuple[str, ...] = ()
) -> TrackedRun:
    capture = tmp_path / f"{program.stem}.capture"
    cmd = [
        sys.executable,
        "-m",
        "leaktrace",
        "run",
        "-o",
        str(capture),
        *options,
        str(program),
        *args,
    ]
    proc = subprocess.run(cmd, cwd=tmp_path, capture_output=True, timeout=TIMEOUT, check=False)
    assert proc.returncode == 0, describe(proc)
    assert capture.is_file(), f"capture {capture} was not written\n{describe(proc)}"
    return TrackedRun(proc, capture, json_report(capture, tmp_path), tmp_path)


def same_file(recorded: object, expected: Path, cwd: Path) -> bool:
    if not isinstance(recorded, str) or not recorded or recorded.startswith("<"):
        return False
    path = Path(recorded)
    if not path.is_absolute():
        path = cwd / path
    try:
        return path.resolve() == expected.resolve()
    except OSError:
        return False


def function_matches(recorded: object, name: str) -> bool:
    """Plain ``co_name`` or dotted ``co_qualname`` (Python 3.11+) are both fine."""
    return isinstance(recorded, str) and (recorded == name or recorded.endswith(f".{name}"))


def real_frames(stack: list[dict[str, Any]]) -> list[dict[str, Any]]:
    """Frames that name a source position (not a truncation marker)."""
    return [frame for frame in stack if frame.get("file") and frame.get("line", 0) >= 1]


def frames_in(site: Site, program: Path, cwd: Path) -> list[dict[str, Any]]:
    return [frame for frame in site["stack"] if same_file(frame.get("file"), program, cwd)]


def has_frame_at(site: Site, program: Path, line: int, cwd: Path) -> bool:
    return any(frame.get("line") == line for frame in frames_in(site, program, cwd))


def format_sites(sites: list[Site], limit: int = 5) -> str:
    rows = []
    for site in sites[:limit]:
        stack = " <- ".join(
            f"{frame.get('function')}@{Path(str(frame.get('file'))).name}:{frame.get('line')}"
            for frame in site.get("stack", [])
        )
        rows.append(f"  {site.get('bytes')} B in {site.get('count')} blocks: {stack}")
    return "\n".join(rows) or "  (no sites)"


def leaktrace_package_dir() -> Path:
    spec = importlib.util.find_spec("leaktrace")
    assert spec is not None and spec.submodule_search_locations, "leaktrace is not installed"
    return Path(next(iter(spec.submodule_search_locations))).resolve()


def is_tool_frame(frame: dict[str, Any], package_dir: Path) -> bool:
    file = str(frame.get("file", ""))
    if "runpy" in Path(file).name:
        return True
    try:
        return Path(file).resolve().is_relative_to(package_dir)
    except (OSError, ValueError):
        return False


def is_import_frame(frame: dict[str, Any]) -> bool:
    file = str(frame.get("file", ""))
    return "importlib._bootstrap" in file or "importlib/_bootstrap" in file


def check_report_shape(report: Report) -> None:
    for key in ("leaks", "peak_bytes", "total_allocated_bytes", "python_version", "command"):
        assert key in report, f"report has no {key!r}: keys are {sorted(report)}"
    leaks = report["leaks"]
    assert isinstance(leaks, list)
    for site in leaks:
        assert isinstance(site["bytes"], int) and site["bytes"] > 0, site
        assert isinstance(site["count"], int) and site["count"] > 0, site
        assert isinstance(site["stack"], list), site
        for frame in site["stack"]:
            assert isinstance(frame["function"], str), frame
            assert isinstance(frame["file"], str), frame
            assert isinstance(frame["line"], int), frame
    # Ranked by the verdict (docs/growth.md): leaking first (fastest first), then every
    # other site by bytes, descending, whatever its class.
    leaking = [site["growth"]["class"] == "leaking" for site in leaks]
    assert leaking == sorted(leaking, reverse=True), "a leaking site follows another class"
    sizes = [site["bytes"] for site in leaks if site["growth"]["class"] != "leaking"]
    assert sizes == sorted(sizes, reverse=True), "the other sites are not sorted by bytes"


def version_string(value: object) -> str:
    if isinstance(value, str):
        return value.split()[0] if value.split() else value
    if isinstance(value, (list, tuple)):
        return ".".join(str(part) for part in value[:3])
    if isinstance(value, dict):
        return ".".join(str(value[key]) for key in ("major", "minor", "micro") if key in value)
    return repr(value)


def test_every_program_marks_exactly_one_leak_site() -> None:
    for case in LEAK_CASES:
        assert len(leak_site_lines(case.path)) == 1, case.program
    assert leak_site_lines(PROGRAMS / "control.py") == []
    assert len(leak_site_lines(EXAMPLES / "leaky_app.py")) == 2


@pytest.mark.parametrize("case", LEAK_CASES, ids=lambda case: case.program)
def test_top_site_is_the_marked_line(tmp_path: Path, case: LeakCase) -> None:
    (leak_line,) = leak_site_lines(case.path)
    run = run_tracked(tmp_path, case.path, case.args)
    report = run.report
    check_report_shape(report)
    leaks = report["leaks"]
    assert leaks, "no leak sites reported"
    top = largest(leaks)
    assert has_frame_at(top, case.path, leak_line, tmp_path), (
        f"top site does not point at {case.program}:{leak_line}\n{format_sites(leaks)}"
    )

    # The site must account for (nearly) all of the leaked objects, and not
    # for memory that was freed again (each program also churns other memory).
    assert top["bytes"] >= 0.8 * case.expected_bytes, format_sites(leaks)
    assert top["bytes"] <= 1.25 * case.expected_bytes + 256 * KIB, format_sites(leaks)
    assert top["count"] >= case.count, format_sites(leaks)

    # The leaked bytes are counted once: no other site claims the same line
    # with a comparable size.
    rest = [site for site in leaks[1:] if has_frame_at(site, case.path, leak_line, tmp_path)]
    assert sum(site["bytes"] for site in rest) < 0.2 * case.expected_bytes, format_sites(leaks)


@pytest.mark.parametrize("case", LEAK_CASES, ids=lambda case: case.program)
def test_stack_is_innermost_first_and_trimmed(tmp_path: Path, case: LeakCase) -> None:
    (leak_line,) = leak_site_lines(case.path)
    run = run_tracked(tmp_path, case.path, case.args)
    top = largest(run.report["leaks"])
    stack = top["stack"]
    assert stack, "top site has an empty stack"
    innermost = stack[0]
    assert same_file(innermost["file"], case.path, tmp_path), format_sites([top])
    assert innermost["line"] == leak_line, format_sites([top])
    assert function_matches(innermost["function"], case.function), format_sites([top])

    # The outermost frame is the program's module body: leaktrace and runpy
    # frames below it are trimmed.
    outermost = stack[-1]
    assert same_file(outermost["file"], case.path, tmp_path), format_sites([top])
    assert outermost["function"] == "<module>", format_sites([top])
    package_dir = leaktrace_package_dir()
    for site in run.report["leaks"]:
        tool_frames = [frame for frame in site["stack"] if is_tool_frame(frame, package_dir)]
        assert not tool_frames, f"untrimmed tool frames: {tool_frames}"


@pytest.mark.parametrize("case", LEAK_CASES, ids=lambda case: case.program)
def test_report_totals_are_consistent(tmp_path: Path, case: LeakCase) -> None:
    run = run_tracked(tmp_path, case.path, case.args)
    report = run.report
    check_report_shape(report)
    live = sum(site["bytes"] for site in report["leaks"])
    assert live >= 0.8 * case.expected_bytes
    assert report["peak_bytes"] >= live
    assert report["total_allocated_bytes"] >= report["peak_bytes"]

    child = subprocess.run(
        [sys.executable, "-c", "import platform; print(platform.python_version())"],
        capture_output=True,
        text=True,
        timeout=TIMEOUT,
        check=True,
    )
    assert version_string(report["python_version"]) == child.stdout.strip()
    assert child.stdout.strip() == platform.python_version()
    assert case.program in str(report["command"])


def test_freed_memory_counts_in_totals_but_not_in_leaks(tmp_path: Path) -> None:
    # global_list.py allocates a 2 * ITEM_SIZE scratch buffer per request and
    # frees it before the next one.
    case = LEAK_CASES[0]
    assert case.program == "global_list.py"
    report = run_tracked(tmp_path, case.path, case.args).report
    scratch_total = case.count * 2 * case.item_size
    assert report["total_allocated_bytes"] >= 0.8 * (scratch_total + case.expected_bytes)
    live = sum(site["bytes"] for site in report["leaks"])
    assert live < case.expected_bytes + 0.5 * scratch_total, format_sites(report["leaks"])


def test_leak_size_scales_with_program_parameters(tmp_path: Path) -> None:
    case = LEAK_CASES[0]
    (leak_line,) = leak_site_lines(case.path)
    sizes = []
    for count in (case.count, 2 * case.count):
        workdir = tmp_path / f"n{count}"
        workdir.mkdir()
        report = run_tracked(workdir, case.path, [str(count), str(case.item_size)]).report
        top = largest(report["leaks"])
        assert has_frame_at(top, case.path, leak_line, workdir), format_sites(report["leaks"])
        sizes.append(top["bytes"])
    ratio = sizes[1] / sizes[0]
    assert 1.7 <= ratio <= 2.3, f"doubling the leak changed the site size by x{ratio:.2f}"


def test_depth_option_limits_stacks(tmp_path: Path) -> None:
    case = LEAK_CASES[0]
    (leak_line,) = leak_site_lines(case.path)
    report = run_tracked(tmp_path, case.path, case.args, options=("--depth", "1")).report
    check_report_shape(report)
    for site in report["leaks"]:
        real = real_frames(site["stack"])
        assert len(real) <= 1, format_sites([site])
        # A truncation marker, if any, may only follow the real frames.
        assert site["stack"][: len(real)] == real, format_sites([site])
    top = largest(report["leaks"])
    assert len(real_frames(top["stack"])) == 1
    assert top["stack"][0]["line"] == leak_line, format_sites(report["leaks"])
    assert same_file(top["stack"][0]["file"], case.path, tmp_path)
    assert top["bytes"] >= 0.8 * case.expected_bytes


def test_control_program_has_no_significant_site(tmp_path: Path) -> None:
    program = PROGRAMS / "control.py"
    iterations = 100_000
    run = run_tracked(tmp_path, program, [str(iterations)])
    report = run.report
    check_report_shape(report)

    own_sites = [site for site in report["leaks"] if frames_in(site, program, tmp_path)]
    big = [site for site in own_sites if site["bytes"] > 64 * KIB]
    assert not big, f"control.py should not leak:\n{format_sites(big)}"
    assert sum(site["bytes"] for site in own_sites) < 1024 * KIB, format_sites(own_sites)

    # The run really was tracked: the churn (a dict per iteration and a 64 KiB
    # scratch buffer per 1000 iterations) shows up in the totals.
    scratch_total = (iterations // 1000) * 64 * KIB
    assert report["total_allocated_bytes"] >= scratch_total + iterations * 64
    assert report["peak_bytes"] >= 64 * KIB
    assert b"handled 100000 requests" in run.proc.stdout


def test_import_machinery_is_not_listed(tmp_path: Path) -> None:
    # control.py imports collections; the demo imports json, argparse, ...
    for program in (PROGRAMS / "control.py", EXAMPLES / "leaky_app.py"):
        workdir = tmp_path / program.stem
        workdir.mkdir()
        args = ["20000"] if program.name == "control.py" else ["--requests", "1000"]
        report = run_tracked(workdir, program, args).report
        for site in report["leaks"]:
            imported = [frame for frame in site["stack"] if is_import_frame(frame)]
            assert not imported, f"{program.name}: import-time site listed\n{format_sites([site])}"


def test_demo_app_top_two_sites_are_the_two_leaks(tmp_path: Path) -> None:
    program = EXAMPLES / "leaky_app.py"
    leak_lines = leak_site_lines(program)
    run = run_tracked(tmp_path, program, ["--requests", "4000"])
    assert b"served 4000 requests" in run.proc.stdout, describe(run.proc)
    leaks = run.report["leaks"]
    assert len(leaks) >= 2, format_sites(leaks)
    found = set()
    for site in leaks[:2]:
        lines = [line for line in leak_lines if has_frame_at(site, program, line, tmp_path)]
        assert len(lines) == 1, f"site does not match one LEAK-SITE line:\n{format_sites(leaks)}"
        found.update(lines)
    assert found == set(leak_lines), format_sites(leaks)
    # Both leaks are well above the healthy churn.
    assert leaks[1]["bytes"] >= 1024 * KIB, format_sites(leaks)
