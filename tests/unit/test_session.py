"""The session options (one set of defaults, one serialized form) and the report registry."""

from __future__ import annotations

import json
import subprocess
import sys
from collections.abc import Callable
from pathlib import Path

import pytest

import leaktrace
from leaktrace import _core, reports, session
from leaktrace._bootstrap import RunPlan
from leaktrace.reading import frames
from leaktrace.reading.model import Frame
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


def _f(file: str) -> Frame:
    return Frame("f", file, 1)


def test_one_trimming_policy() -> None:
    own = _f(frames._PACKAGE_DIR + "_bootstrap.py")
    user, stub = _f("/app/user.py"), _f("<string>")
    # innermost first: the stub and leaktrace's frames at the outer end go.
    assert frames.trim((user, own, own, stub)) == (user,)
    assert frames.trim((own, user, own)) == (own, user)
    assert frames.trim((user, stub)) == (user, stub)  # a stub that started no own frame
    assert frames.trim((own, stub)) == ()
    assert frames.in_import((user, _f("<frozen importlib._bootstrap>")))
    assert not frames.in_import((user,))
