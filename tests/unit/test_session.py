"""The session options (one set of defaults, one serialized form) and the report registry."""

from __future__ import annotations

import json
import subprocess
import sys
from collections.abc import Callable
from pathlib import Path

import pytest
from capture_craft import header, record, varints

import leaktrace
from leaktrace import _core, reports, session
from leaktrace._bootstrap import RunPlan
from leaktrace.reading import Capture, frames
from leaktrace.session import Options, OptionsError


def test_options_round_trip_through_json() -> None:
    options = Options(
        output="/tmp/x.ltc",
        depth=12,
        native_allocs=True,
        native_frames=True,
        interval=0.5,
        sample_bytes=4096,
        sample_seed=2**64 - 1,
        follow_children=True,
    )
    assert Options.from_json(options.to_json()) == options


def test_options_are_a_frozen_value() -> None:
    options = Options("/tmp/x.ltc", 12, sample_bytes=4096)
    assert options == Options(output="/tmp/x.ltc", depth=12, sample_bytes=4096)
    assert hash(options) == hash(Options("/tmp/x.ltc", 12, sample_bytes=4096))
    assert options != Options("/tmp/x.ltc", 13, sample_bytes=4096)
    moved = options.with_output("/tmp/y.ltc")
    assert (moved.output, moved.depth, moved.sample_bytes) == ("/tmp/y.ltc", 12, 4096)
    assert options.output == "/tmp/x.ltc"
    with pytest.raises(AttributeError, match="frozen"):
        options.depth = 3  # type: ignore[misc]
    assert eval(repr(options), {"Options": Options}) == options


def test_tracked_processes_and_the_run_command_import_little() -> None:
    """leaktrace run's command throws its imports away at the execv, and the program's
    interpreter imports the package before the program: neither needs the readers,
    the report formats, dataclasses or typing (a program that imports them pays them)."""
    probe = (
        "import sys; import leaktrace, leaktrace.cli, leaktrace._bootstrap;"
        "from leaktrace.cli import build_parser; parser, _ = build_parser();"
        "parser.parse_args(['run', '--depth', '8', 'x.py']);"
        "print(sorted(m for m in sys.modules if m.startswith(('leaktrace.reading', "
        "'leaktrace.reports', 'dataclasses', 'typing'))))"
    )
    proc = subprocess.run([sys.executable, "-c", probe], capture_output=True, text=True, check=True)
    assert proc.stdout.strip() == "[]", proc.stdout


def test_a_report_imports_only_its_own_format(tmp_path: Path, leaktrace_cli) -> None:
    """report --format text checks its --format and renders without importing the other
    formats' modules."""
    capture, program = tmp_path / "c.ltc", tmp_path / "p.py"
    program.write_text("kept = [bytearray(100) for _ in range(10)]\n")
    assert leaktrace_cli("run", "-q", "-o", capture, program).returncode == 0
    probe = (
        "import sys; from leaktrace.cli import main;"
        f"main(['report', {str(capture)!r}, '--format', 'text', '-o', {str(tmp_path / 'r')!r}]);"
        "print(sorted(m for m in sys.modules if m.startswith('leaktrace.reports.')))"
    )
    proc = subprocess.run([sys.executable, "-c", probe], capture_output=True, text=True, check=True)
    assert proc.stdout.strip() == "['leaktrace.reports.common', 'leaktrace.reports.text']"


@pytest.mark.parametrize(
    ("data", "message"),
    [
        ({"output": "a", "depth": 0}, "depth must be between 1"),
        ({"output": "a", "depth": _core.MAX_DEPTH_LIMIT + 1}, "depth must be between 1"),
        ({"output": "a", "depth": "64"}, "depth must be an int"),
        ({"output": "a", "native_allocs": 1}, "native_allocs must be a bool"),
        ({"output": "a", "interval": 0.0001}, "interval must be between"),
        ({"output": "a", "native_frames": True, "native_allocs": False}, "native frames need"),
        ({"output": "a", "sample_bytes": -1}, "sample_bytes must not be negative"),
        ({"output": "a", "sample_seed": 2**64}, "sample_seed must be between"),
        ({"output": ""}, "output must be a non-empty path"),
        ({"output": "a", "colour": "red"}, "unknown session options: colour"),
        ({"depth": 3}, "output"),
        ([1, 2], "must be an object"),
    ],
)
def test_bad_options_are_refused(data: object, message: str) -> None:
    with pytest.raises(OptionsError, match=message):
        Options.from_json(json.dumps(data))


def test_defaults_are_written_once() -> None:
    """start(), track() and the run command share session's defaults."""
    import inspect

    from leaktrace import api
    from leaktrace.cli import build_parser

    assert Options(output="x").depth == session.DEFAULT_DEPTH == 64
    assert inspect.signature(leaktrace.start).parameters["max_depth"].default == 64
    assert inspect.signature(api.track).parameters["max_depth"].default == 64
    _, subparsers = build_parser()
    assert subparsers["run"].get_default("depth") == session.DEFAULT_DEPTH
    assert subparsers["attach"].get_default("depth") == session.DEFAULT_DEPTH


def test_run_plan_is_validated_on_read() -> None:
    plan = RunPlan(Options(output="o.ltc"), "python x.py", fmt="json", top=3)
    back = RunPlan.from_json(plan.to_json())
    assert (back.options, back.command, back.fmt, back.top) == (
        plan.options,
        "python x.py",
        "json",
        3,
    )
    doc = json.loads(plan.to_json())
    doc["report"]["top"] = "3"
    with pytest.raises(OptionsError, match="top must be int"):
        RunPlan.from_json(json.dumps(doc))
    with pytest.raises(OptionsError, match="not JSON"):
        RunPlan.from_json("output=o.ltc")


def test_bootstrap_refuses_a_bad_plan_in_one_line(tmp_path: Path) -> None:
    script = tmp_path / "p.py"
    script.write_text("print('ran')\n")
    stub = "import sys; from leaktrace._bootstrap import main; main(sys.argv[1:])"
    plan = '{"session": {"output": "o.ltc", "depth": -1}, "report": {}}'
    proc = subprocess.run(
        [sys.executable, "-c", stub, plan, "--", str(script)],
        capture_output=True,
        text=True,
        timeout=60,
        check=False,
    )
    assert proc.returncode == 2
    assert proc.stdout == ""
    limit = _core.MAX_DEPTH_LIMIT
    assert proc.stderr == f"leaktrace: error: depth must be between 1 and {limit}\n"


def test_begin_failing_leaves_nothing_running(tmp_path: Path) -> None:
    with pytest.raises(ValueError, match="interval"):
        session.begin(Options(output=str(tmp_path / "t.ltc"), interval=-1.0), "test")
    assert not _core.is_tracking()
    assert not (tmp_path / "t.ltc").exists()


def test_report_registry_lists_every_format_once() -> None:
    assert reports.names() == ["text", "json", "pprof", "collapsed", "speedscope", "html"]
    assert reports.names("capture") == ["text", "json"]
    assert reports.get("pprof").binary and not reports.get("html").binary
    # each format's module registers the format of its name (what names() lists
    # without importing them)
    assert all(reports.get(name).name == name for name in reports.names())
    with pytest.raises(ValueError, match="unknown report format 'nope'"):
        reports.get("nope")
    with pytest.raises(ValueError, match="registered twice"):
        reports.register(reports.ReportFormat("text", "capture", lambda c, **k: ""))


def test_report_format_choices_come_from_the_registry(
    leaktrace_cli: Callable[..., subprocess.CompletedProcess[str]],
) -> None:
    proc = leaktrace_cli("report", "x.ltc", "--format", "nope")
    assert proc.returncode == 2
    assert "'text', 'json', 'pprof', 'collapsed', 'speedscope', 'html'" in proc.stderr


def _policy_capture(path: Path, stacks: list[list[str]]) -> None:
    """A version 1 capture with one block of 10 bytes at each stack (files, innermost
    first), written by hand."""
    strings = ["<truncated>", "", "f"]
    frames: dict[str, int] = {}
    body = b""
    for stack in stacks:
        for file in stack:
            if file not in strings:
                strings.append(file)
    for s in strings:
        body += record(0x02, s.encode())
    body += record(0x03, varints(0, 1, 0))  # frame 0: the truncation marker
    for file in strings[3:]:
        frames[file] = len(frames) + 1
        body += record(0x03, varints(2, strings.index(file), 2))
    nodes: dict[tuple[int, int], int] = {}
    leaves = []
    for stack in stacks:
        node = 0
        for file in reversed(stack):  # from the outermost frame
            key = (node, frames[file])
            if key not in nodes:
                nodes[key] = len(nodes) + 1
                body += record(0x04, varints(*key))
            node = nodes[key]
        leaves.append(node)
    sites = b""
    previous = 0
    for node in sorted(leaves):
        sites += varints(node - previous, 1, 10, 1, 10)
        previous = node
    body += record(0x05, varints(0, 2, 1, 0, 10 * len(leaves), len(leaves), len(leaves)) + sites)
    body += record(0x07, varints(len(strings), len(frames) + 1, len(nodes) + 1, 1))
    path.write_bytes(header(major=1) + body)


def test_one_trimming_policy(tmp_path: Path) -> None:
    """Every report trims and sums up by the analyzer's one policy (lt_trim.c)."""
    own = frames.PACKAGE_DIR + "_bootstrap.py"
    user, stub, imp = "/app/user.py", "<string>", "<frozen importlib._bootstrap>"
    path = tmp_path / "policy.ltc"
    # innermost first: the stub and leaktrace's frames at the outer end go.
    _policy_capture(
        path,
        [
            [user, own, own, stub],
            [own, user, own],
            [user + "2", stub],  # a stub that started no own frame
            [own, stub],  # leaktrace's own, while stopping: not counted
            [user + "3", imp, user + "4"],  # made while importing
        ],
    )
    leaks, excluded = Capture(path).leaks()
    stacks = sorted(tuple(f.file for f in s.stack) for s in leaks)
    assert stacks == sorted([(user,), (own, user), (user + "2", stub)])
    assert (excluded["imports"].bytes, excluded["imports"].count) == (10, 1)
    assert excluded["no_python_frame"].bytes == 0
    everything, _ = Capture(path).leaks(include_all=True)
    assert len(everything) == 5
