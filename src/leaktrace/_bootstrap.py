"""The process that runs a program under ``leaktrace run``.

The command line parser execs a fresh interpreter into this module, so that the
tracked program shares its heap with nothing of leaktrace's but the C engine and
this file: the command's own imports (argparse and the reporters) would otherwise
sit in the program's heap and slow its garbage collector. Reporting modules are
imported only after tracking has stopped.

Invoked as ``python -c <stub> PLAN -- (script | -m module) [args ...]``, PLAN being
a :class:`RunPlan` as one JSON object (validated here).
"""

from __future__ import annotations

import sys

from . import _exits, runner, session

TYPE_CHECKING = False  # not typing's, which a tracked process need not import
if TYPE_CHECKING:
    from .reading.capture import Capture

EXIT_BAD_INPUT = 2


class RunPlan:
    """What ``leaktrace run`` asks of this process: the session, then the report.

    Serialized as one JSON object: ``{"session": Options, "report": {...}}``.
    """

    __slots__ = (
        "command",
        "fail_on_leak",
        "fmt",
        "include_all",
        "json_output",
        "options",
        "orig_argv",
        "quiet",
        "retention",
        "top",
    )

    def __init__(
        self,
        options: session.Options,
        command: str,
        *,
        fmt: str = "text",
        quiet: bool = False,
        top: int = 10,
        include_all: bool = False,
        retention: int = runner.RETENTION_SITES,
        json_output: str = "",
        fail_on_leak: bool = False,
        orig_argv: list[str] | None = None,
    ) -> None:
        self.options = options
        self.command = command
        self.fmt = fmt
        self.quiet = quiet
        self.top = top
        self.include_all = include_all
        self.retention = retention
        self.json_output = json_output  # "": none
        self.fail_on_leak = fail_on_leak
        self.orig_argv = orig_argv or []  # the program's sys.orig_argv, as untracked

    def to_json(self) -> str:
        import json

        report = {
            "command": self.command,
            "format": self.fmt,
            "quiet": self.quiet,
            "top": self.top,
            "include_all": self.include_all,
            "retention": self.retention,
            "json_output": self.json_output,
            "fail_on_leak": self.fail_on_leak,
            "orig_argv": self.orig_argv,
        }
        return json.dumps({"session": json.loads(self.options.to_json()), "report": report})

    @classmethod
    def from_json(cls, text: str) -> RunPlan:
        import json

        try:
            data = json.loads(text)
        except ValueError as e:
            raise session.OptionsError(f"run options are not JSON: {e}") from None
        if not isinstance(data, dict) or set(data) != {"session", "report"}:
            raise session.OptionsError("run options need exactly 'session' and 'report'")
        options = session.Options.from_dict(data["session"])
        report = data["report"]
        types = {
            "command": str,
            "format": str,
            "quiet": bool,
            "top": int,
            "include_all": bool,
            "retention": int,
            "json_output": str,
            "fail_on_leak": bool,
            "orig_argv": list,
        }
        if not isinstance(report, dict) or set(report) != set(types):
            raise session.OptionsError(f"run report options must be {', '.join(types)}")
        for key, kind in types.items():
            if type(report[key]) is not kind:
                raise session.OptionsError(f"run report option {key} must be {kind.__name__}")
        if not all(isinstance(arg, str) for arg in report["orig_argv"]):
            raise session.OptionsError("run report option orig_argv must be a list of str")
        return cls(
            options,
            report["command"],
            fmt=report["format"],
            quiet=report["quiet"],
            top=report["top"],
            include_all=report["include_all"],
            retention=report["retention"],
            json_output=report["json_output"],
            fail_on_leak=report["fail_on_leak"],
            orig_argv=report["orig_argv"],
        )


def _error(message: str) -> None:
    print(f"leaktrace: error: {message}", file=sys.stderr)
    sys.exit(EXIT_BAD_INPUT)


def _pause_programs_tracemalloc() -> int:
    """With -X tracemalloc or PYTHONTRACEMALLOC, tracemalloc traces from start-up, so
    the program would see leaktrace's imports in its snapshots. Stops it (forgetting
    those traces) until the program starts; returns its traceback limit, or 0."""
    import _tracemalloc

    if not _tracemalloc.is_tracing():
        return 0
    limit = _tracemalloc.get_traceback_limit()
    _tracemalloc.stop()
    return limit


def main(argv: list[str]) -> None:
    """argv: the run plan as JSON, then ``--``, then the program."""
    tracemalloc_limit = _pause_programs_tracemalloc()
    if len(argv) < 3 or argv[1] != "--":
        _error("bad bootstrap arguments (expected PLAN -- TARGET ...)")
    try:
        plan = RunPlan.from_json(argv[0])
    except session.OptionsError as e:
        _error(str(e))
    target = argv[2:]
    module = target[1] if target[0] == "-m" else None
    try:
        if module is None:
            code = runner.prepare_script(target[0], target[1:])
        else:
            code = None
            runner.prepare_module(module, target[2:])
    except runner.RunError as e:
        _error(str(e))

    options = plan.options
    output = options.output
    follow = options.follow_children
    try:
        session.begin(options, plan.command, follow=False)
    except OSError as e:
        _error(f"cannot write capture {output}: {e.strerror}")  # before the program starts

    # The closer closes the capture once, in this process only: a forked child
    # that returns stopped recording at fork, and merely uninstalls its hooks.
    # SIGTERM and os._exit, which never come back here, close it too (_exits).
    closer = _exits.CaptureCloser(lambda: _finish_tracking(plan))
    _exits.install(closer)
    if follow:
        session.follow_children(options)
    if plan.orig_argv:
        sys.orig_argv = plan.orig_argv
    outcome, main_module = runner.execute(code, module, tracemalloc_limit=tracemalloc_limit)
    if follow and not closer.in_opener():
        # A followed forked child that returned: complete its own capture, quietly.
        from . import _children

        _children.finish()
    else:
        closer.close()
        if not outcome.interrupted:
            outcome.exit_code = closer.exit_status(outcome.exit_code)
    del main_module
    runner.finish(outcome)


def _finish_tracking(plan: RunPlan) -> bool:
    """Stops tracking and writes the reports; returns whether the run fails
    (--fail-on-leak found leaking sites)."""
    output = plan.options.output
    try:
        runner.collect_and_stop(plan.retention)
    except OSError as e:
        print(f"leaktrace: capture {output} is incomplete: {e.strerror}", file=sys.stderr)
        return False
    except MemoryError:
        # leaktrace's own memory ran out while writing the final snapshot; the
        # program's exit status must not change for that.
        print(f"leaktrace: capture {output} is incomplete: out of memory", file=sys.stderr)
        return False
    if plan.quiet and not plan.json_output and not plan.fail_on_leak:
        return False
    from .reading.capture import Capture, CaptureError
    from .reports import render

    try:
        capture = Capture(output)
    except CaptureError as e:
        print(f"leaktrace: cannot read back {output}: {e}", file=sys.stderr)
        return False
    if not plan.quiet:
        _report(capture, plan)
    if plan.json_output:
        try:
            with open(plan.json_output, "w", encoding="utf-8") as f:
                f.write(render(capture, "json", include_all=plan.include_all))
        except OSError as e:
            print(f"leaktrace: cannot write {plan.json_output}: {e.strerror}", file=sys.stderr)
    return plan.fail_on_leak and _leaking(capture, plan.include_all)


def _report(capture: Capture, plan: RunPlan) -> None:
    from .reports import render

    output = plan.options.output
    sys.stderr.write(render(capture, plan.fmt, top=plan.top, include_all=plan.include_all))
    sys.stderr.write(f"leaktrace: capture written to {output}\n")
    if plan.options.follow_children:
        from .reading.family import child_captures

        children = len(child_captures(output))
        if children:
            sys.stderr.write(
                f"leaktrace: {children} child processes wrote captures: "
                f"'leaktrace report {output} --children' (or --merge) shows them\n"
            )


def _leaking(capture: Capture, include_all: bool) -> bool:
    """--fail-on-leak's verdict, said on stderr."""
    from .reading.growth import INSUFFICIENT, LEAKING, analyze

    growth = analyze(capture, include_all=include_all)
    if growth and all(g.kind == INSUFFICIENT for g in growth.values()):
        sys.stderr.write(
            f"leaktrace: --fail-on-leak: no growth verdict: {len(capture.snapshots)} "
            "snapshots, no site seen at enough of them; the run passes\n"
        )
        return False
    leaking = sum(1 for g in growth.values() if g.kind == LEAKING)
    if not leaking:
        return False
    sys.stderr.write(
        f"leaktrace: --fail-on-leak: {leaking} leaking site{'s' if leaking > 1 else ''}: "
        f"exit status {_exits.EXIT_LEAKS}, unless the program's own status is not 0\n"
    )
    return True
