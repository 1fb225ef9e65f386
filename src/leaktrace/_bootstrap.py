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

EXIT_BAD_INPUT = 2


class RunPlan:
    """What ``leaktrace run`` asks of this process: the session, then the report.

    Serialized as one JSON object: ``{"session": Options, "report": {...}}``.
    """

    __slots__ = ("command", "fmt", "include_all", "options", "quiet", "retention", "top")

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
    ) -> None:
        self.options = options
        self.command = command
        self.fmt = fmt
        self.quiet = quiet
        self.top = top
        self.include_all = include_all
        self.retention = retention

    def to_json(self) -> str:
        import json

        report = {
            "command": self.command,
            "format": self.fmt,
            "quiet": self.quiet,
            "top": self.top,
            "include_all": self.include_all,
            "retention": self.retention,
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
        }
        if not isinstance(report, dict) or set(report) != set(types):
            raise session.OptionsError(f"run report options must be {', '.join(types)}")
        for key, kind in types.items():
            if type(report[key]) is not kind:
                raise session.OptionsError(f"run report option {key} must be {kind.__name__}")
        return cls(
            options,
            report["command"],
            fmt=report["format"],
            quiet=report["quiet"],
            top=report["top"],
            include_all=report["include_all"],
            retention=report["retention"],
        )


def _error(message: str) -> None:
    print(f"leaktrace: error: {message}", file=sys.stderr)
    sys.exit(EXIT_BAD_INPUT)


def main(argv: list[str]) -> None:
    """argv: the run plan as JSON, then ``--``, then the program."""
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
        tracking = True
    except OSError as e:
        print(
            f"leaktrace: cannot write capture {output}: {e.strerror}; running untracked",
            file=sys.stderr,
        )
        tracking = False

    # The closer closes the capture once, in this process only: a forked child
    # that returns stopped recording at fork, and merely uninstalls its hooks.
    # SIGTERM and os._exit, which never come back here, close it too (_exits).
    closer = _exits.CaptureCloser(lambda: _finish_tracking(plan))
    if tracking:
        _exits.install(closer)
    if tracking and follow:
        session.follow_children(options)
    outcome, main_module = runner.execute(code, module)
    if tracking and follow and not closer.in_opener():
        # A followed forked child that returned: complete its own capture, quietly.
        from . import _children

        _children.finish()
    elif tracking:
        closer.close()
    del main_module
    runner.finish(outcome)


def _finish_tracking(plan: RunPlan) -> None:
    output = plan.options.output
    try:
        runner.collect_and_stop(plan.retention)
    except OSError as e:
        print(f"leaktrace: capture {output} is incomplete: {e.strerror}", file=sys.stderr)
        return
    except MemoryError:
        # leaktrace's own memory ran out while writing the final snapshot; the
        # program's exit status must not change for that.
        print(f"leaktrace: capture {output} is incomplete: out of memory", file=sys.stderr)
        return
    if plan.quiet:
        return
    from .reading.capture import Capture, CaptureError
    from .reports import render

    try:
        capture = Capture(output)
    except CaptureError as e:
        print(f"leaktrace: cannot read back {output}: {e}", file=sys.stderr)
        return
    text = render(capture, plan.fmt, top=plan.top, include_all=plan.include_all)
    sys.stderr.write(text)
    sys.stderr.write(f"leaktrace: capture written to {output}\n")
    if plan.options.follow_children:
        from .reading.family import child_captures

        children = len(child_captures(output))
        if children:
            sys.stderr.write(
                f"leaktrace: {children} child processes wrote captures: "
                f"'leaktrace report {output} --children' (or --merge) shows them\n"
            )
