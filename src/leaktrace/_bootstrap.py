"""The process that runs a program under ``leaktrace run``.

The command line parser execs a fresh interpreter into this module, so that the
tracked program shares its heap with nothing of leaktrace's but the C engine and
this file: the command's own imports (argparse and the reporters) would otherwise
sit in the program's heap and slow its garbage collector. Reporting modules are
imported only after tracking has stopped.

Invoked as ``python -c <stub> OPTION=VALUE ... -- (script | -m module) [args ...]``.
"""

from __future__ import annotations

import sys

from . import _core, _exits, runner, session_meta

EXIT_BAD_INPUT = 2


def _parse(argv: list[str]) -> tuple[dict[str, str], list[str]]:
    split = argv.index("--")
    options = dict(item.split("=", 1) for item in argv[:split])
    return options, argv[split + 1 :]


def _error(message: str) -> None:
    print(f"leaktrace: error: {message}", file=sys.stderr)
    sys.exit(EXIT_BAD_INPUT)


def main(argv: list[str]) -> None:
    options, target = _parse(argv)
    module = target[1] if target[0] == "-m" else None
    try:
        if module is None:
            code = runner.prepare_script(target[0], target[1:])
        else:
            code = None
            runner.prepare_module(module, target[2:])
    except runner.RunError as e:
        _error(str(e))

    output = options["output"]
    follow = options.get("follow") == "1"
    sample_bytes = int(options.get("sample_bytes", "0"))
    seed = options.get("sample_seed", "")
    try:
        native_allocs = options.get("native_allocs") == "1"
        native_frames = options.get("native_frames") == "1"
        meta = session_meta(options["command"])
        meta["native_allocs"] = str(int(native_allocs))
        meta["native_frames"] = str(int(native_frames))
        _core.start(
            output,
            int(options["depth"]),
            meta,
            native_allocs,
            native_frames,
            sample_bytes=sample_bytes,
            sample_seed=int(seed) if seed else None,
            follow_fork=follow,
        )
        tracking = True
    except OSError as e:
        print(
            f"leaktrace: cannot write capture {output}: {e.strerror}; running untracked",
            file=sys.stderr,
        )
        tracking = False
    if tracking and float(options["interval"]):
        _core.start_timer(float(options["interval"]))

    # The closer closes the capture once, in this process only: a forked child
    # that returns stopped recording at fork, and merely uninstalls its hooks.
    # SIGTERM and os._exit, which never come back here, close it too (_exits).
    closer = _exits.CaptureCloser(lambda: _finish_tracking(output, options))
    if tracking:
        _exits.install(closer)
    if tracking and follow:
        from . import _children

        _children.enable(output, int(options["depth"]), sample_bytes)
    outcome, main_module = runner.execute(code, module)
    if tracking and follow and not closer.in_opener():
        # A followed forked child that returned: complete its own capture, quietly.
        _children.finish()
    elif tracking:
        closer.close()
    del main_module
    runner.finish(outcome)


def _finish_tracking(output: str, options: dict[str, str]) -> None:
    if options.get("follow") == "1":
        from . import _children

        _children.disable()
    try:
        runner.collect_and_stop(int(options.get("retention", runner.RETENTION_SITES)))
    except OSError as e:
        print(f"leaktrace: capture {output} is incomplete: {e.strerror}", file=sys.stderr)
        return
    except MemoryError:
        # leaktrace's own memory ran out while writing the final snapshot; the
        # program's exit status must not change for that.
        print(f"leaktrace: capture {output} is incomplete: out of memory", file=sys.stderr)
        return
    if options["quiet"] == "1":
        return
    from .capture import Capture, CaptureError
    from .report import render

    try:
        capture = Capture(output)
    except CaptureError as e:
        print(f"leaktrace: cannot read back {output}: {e}", file=sys.stderr)
        return
    text = render(
        capture, options["format"], top=int(options["top"]), include_all=options["all"] == "1"
    )
    sys.stderr.write(text)
    sys.stderr.write(f"leaktrace: capture written to {output}\n")
    if options.get("follow") == "1":
        from .family import child_captures

        children = len(child_captures(output))
        if children:
            sys.stderr.write(
                f"leaktrace: {children} child processes wrote captures: "
                f"'leaktrace report {output} --children' (or --merge) shows them\n"
            )
