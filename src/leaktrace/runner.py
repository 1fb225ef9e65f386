"""Running a program under tracking exactly as ``python script.py`` or ``python -m mod`` would.

The program runs in this process, in a fresh ``__main__`` module that stays alive until
the final snapshot (as the real one does until shutdown), so module-level state counts as
live at exit. Its exit code, output and tracebacks are the ones Python would give.

This module is imported into the tracked program's process before the program starts,
so it imports only what Python itself has loaded at start-up; the rest is imported
where it is needed.
"""

from __future__ import annotations

import builtins
import contextlib
import gc
import io
import os
import sys
import types

from . import _core, session


class RunError(Exception):
    """The program cannot be started (missing script, unknown module)."""


class Outcome:
    __slots__ = ("exit_code", "interrupted")

    def __init__(self, exit_code: int, interrupted: bool = False) -> None:
        self.exit_code = exit_code
        self.interrupted = interrupted


def _load_script(path: str) -> types.CodeType:
    try:
        with io.open_code(path) as f:
            source = f.read()
    except IsADirectoryError:
        raise RunError(f"{path} is a directory, not a script") from None
    except OSError as e:
        raise RunError(f"cannot open {path}: {e.strerror}") from None
    try:
        return compile(source, path, "exec", dont_inherit=True)
    except (SyntaxError, ValueError) as e:
        raise RunError(f"{path} does not compile: {e}") from None


def _fresh_main(file: str | None) -> types.ModuleType:
    main = types.ModuleType("__main__")
    main.__dict__["__builtins__"] = builtins
    if file is not None:
        import importlib.machinery  # already imported by prepare_script

        main.__file__ = file
        main.__cached__ = None  # type: ignore[attr-defined]
        main.__loader__ = importlib.machinery.SourceFileLoader("__main__", file)
    sys.modules["__main__"] = main
    return main


def _strip_own_frames(tb: types.TracebackType | None) -> types.TracebackType | None:
    own_dir = os.path.dirname(os.path.abspath(__file__)) + os.sep
    runpy = sys.modules.get("runpy")
    runpy_file = runpy.__file__ if runpy else None
    runpy_files = (os.path.abspath(runpy_file) if runpy_file else "", "<frozen runpy>")
    while tb is not None:
        filename = tb.tb_frame.f_code.co_filename
        if not (filename.startswith(own_dir) or filename in runpy_files):
            break
        tb = tb.tb_next
    return tb


def _exit_code_of(exc: SystemExit) -> int:
    """What Python's own handling of SystemExit would exit with (printing its message)."""
    code = exc.code
    if code is None:
        return 0
    if isinstance(code, int):
        return code
    sys.stderr.write(f"{code}\n")
    return 1


def _join_threads() -> None:
    """Wait for non-daemon threads, as the interpreter does when the main module ends."""
    threading = sys.modules.get("threading")
    if threading is None:
        return  # the program started no Python thread
    for thread in threading.enumerate():
        if thread is not threading.main_thread() and not thread.daemon and thread.is_alive():
            thread.join()


# prepare_script and prepare_module run before tracking starts: they also import
# what execute() will need, which would otherwise be recorded into the capture.


def prepare_script(path: str, args: list[str]) -> types.CodeType:
    import importlib.machinery  # noqa: F401  (for _fresh_main's loader)

    # Python 3.9+ gives the main script an absolute __file__ and co_filename.
    code = _load_script(os.path.abspath(path))
    sys.argv[:] = [path, *args]
    sys.path[0:1] = [os.path.dirname(os.path.realpath(path))]
    return code


def prepare_module(name: str, args: list[str]) -> None:
    sys.argv[:] = ["-m", *args]  # runpy replaces argv[0] with the module's file
    sys.path[0:1] = [os.getcwd()]
    import importlib.util
    import runpy  # noqa: F401  (execute() runs the module with it)

    try:
        spec = importlib.util.find_spec(name)
    except (ImportError, ValueError) as e:
        raise RunError(f"cannot find module {name!r}: {e}") from None
    if spec is None:
        raise RunError(f"no module named {name!r}")


def execute(
    script_code: types.CodeType | None, module: str | None, *, tracemalloc_limit: int = 0
) -> tuple[Outcome, object]:
    """Run the prepared program; returns its outcome and its __main__ module.

    The caller keeps the module alive until after the final snapshot. With
    tracemalloc_limit, the program's own tracemalloc (-X tracemalloc, paused by the
    bootstrap) starts again right before the program, after leaktrace's last
    allocation, so that its snapshots hold none of leaktrace's memory.
    """
    main = _fresh_main(script_code.co_filename if script_code else None)
    if tracemalloc_limit:
        import _tracemalloc

        _tracemalloc.start(tracemalloc_limit)
    try:
        # Called with no frame of ours below the program's (see lt_toplevel.h): it
        # sees the stack, tracebacks and warnings of python script.py or -m module.
        if script_code is not None:
            _core.call_as_main(exec, (script_code, main.__dict__))
        else:
            import runpy

            _core.call_as_main(runpy._run_module_as_main, (module, True))  # type: ignore[attr-defined]
        _join_threads()
    except SystemExit as e:
        return Outcome(_exit_code_of(e)), main
    except KeyboardInterrupt as e:
        _print_exception(e)
        return Outcome(130, interrupted=True), main
    except BaseException as e:
        _print_exception(e)
        return Outcome(1), main
    return Outcome(0), main


def _print_exception(exc: BaseException) -> None:
    exc.__traceback__ = _strip_own_frames(exc.__traceback__)
    try:
        sys.excepthook(type(exc), exc, exc.__traceback__)
    except Exception:
        import traceback

        traceback.print_exception(type(exc), exc, exc.__traceback__)


def finish(outcome: Outcome) -> None:
    """Leave the process as Python would have after the program ended."""
    for stream in (sys.stdout, sys.stderr):
        with contextlib.suppress(OSError, ValueError, AttributeError):  # closed or replaced
            stream.flush()
    if outcome.interrupted:
        import signal

        signal.signal(signal.SIGINT, signal.SIG_DFL)
        os.kill(os.getpid(), signal.SIGINT)
    sys.exit(outcome.exit_code)


RETENTION_SITES = 10  # sites whose surviving objects get reference paths (--retention)


def collect_and_stop(retention_sites: int = RETENTION_SITES) -> dict[str, int]:
    """A full collection, then the final snapshot and the retention analysis.

    A program that left the collector disabled gets no collection: its cyclic
    garbage is what it would keep, and the analysis reports it as cycles.
    """
    if gc.isenabled():
        gc.collect()
    return session.end(retention_sites)
