"""``leaktrace attach``, ``snapshot`` and ``detach``: tracking a running CPython process.

The command injects a few lines into the target (see _inject) that import leaktrace
there and call _attach.serve(), which reads its request from a file and answers in
another. The target must be able to import leaktrace: from its own environment, or
else from this leaktrace's directory, which is added to the end of its sys.path for
the import only (that works when both run the same Python version). See docs/attach.md.

Once tracking, the process is asked with one expression that names no new object and
calls the imported _attach.serve(): whatever it allocates is in leaktrace's own frames,
which reports of an attached capture leave out (reading.frames.passes_through_own).
"""

from __future__ import annotations

import argparse
import json
import os

from .. import _core
from .._core import CaptureError
from ..session import DEFAULT_DEPTH, DEFAULT_SAMPLE_BYTES, Options
from .common import (
    UsageError,
    add_format_option,
    capture_formats,
    check_new_file,
    package_parent,
    size,
)

TYPE_CHECKING = False
if TYPE_CHECKING:
    from .common import Command

_PACKAGE_PARENT = package_parent()


class AttachError(UsageError):
    """One line for the user (exit status 2)."""


def request(pid: int, command: str, **fields: object) -> dict[str, object]:
    """Runs a command of _attach in process pid; returns its answer."""
    import shutil
    import tempfile

    from .._inject import InjectError, run_python  # ctypes: only when attaching

    workdir = tempfile.mkdtemp(prefix="leaktrace-attach-")  # mode 0700
    try:
        owner = os.stat(f"/proc/{pid}")
        if os.geteuid() == 0 and owner.st_uid != 0:
            # root attaching to another user's process: the directory becomes that
            # user's, still closed to everybody else.
            os.chown(workdir, owner.st_uid, owner.st_gid)
    except FileNotFoundError:
        pass  # the injector reports the missing process
    result = os.path.join(workdir, "result.json")
    req = {"command": command, "result": result, **fields}
    with open(os.path.join(workdir, "request.json"), "w", encoding="utf-8") as f:
        json.dump(req, f)
    code = _first_request(workdir) if command == "start" else _later_request(workdir)
    try:
        status = run_python(pid, code)
        try:
            with open(result, encoding="utf-8") as f:
                text = f.read()
        except FileNotFoundError:
            raise AttachError(
                f"process {pid} did not answer (the injected code failed with status {status})"
            ) from None
    except InjectError as e:
        raise AttachError(str(e)) from None
    finally:
        shutil.rmtree(workdir, ignore_errors=True)
    if text.startswith("{'import_error'"):
        raise AttachError(
            f"process {pid} cannot import leaktrace: install leaktrace in its environment "
            "(this leaktrace's own copy only works for the same Python version)"
        )
    answer: dict[str, object] = json.loads(text)
    if not answer.get("ok"):
        raise AttachError(f"process {pid}: {answer.get('error')}")
    return answer


def _first_request(workdir: str) -> str:
    """Imports leaktrace in the target (before tracking starts), then serves."""
    return (
        "def _leaktrace_attach(workdir):\n"
        "    import sys\n"
        f"    parent = {_PACKAGE_PARENT!r}\n"
        "    added = parent not in sys.path\n"
        "    if added:\n"
        "        sys.path.append(parent)\n"
        "    try:\n"
        "        from leaktrace import _attach\n"
        "    except BaseException as e:\n"
        "        with open(workdir + '/result.json', 'w') as f:\n"
        "            f.write(repr({'import_error': repr(e)}))\n"
        "        return\n"
        "    finally:\n"
        "        if added and parent in sys.path:\n"
        "            sys.path.remove(parent)\n"
        "    _attach.serve(workdir)\n"
        f"_leaktrace_attach({workdir!r})\n"
        "del _leaktrace_attach\n"
    )


def _later_request(workdir: str) -> str:
    """One expression: serve() of the _attach imported by the first request, or, in a
    process that attach never started, the answer that it is not tracking."""
    not_tracking = json.dumps(
        {"ok": False, "error": "leaktrace attach is not tracking this process"}
    )
    return (
        f"__import__('sys').modules['leaktrace._attach'].serve({workdir!r}) "
        "if 'leaktrace._attach' in __import__('sys').modules else "
        f"open({workdir!r} + '/result.json', 'w').write({not_tracking!r})"
    )


def _pid(text: str) -> int:
    try:
        pid = int(text)
    except ValueError:
        raise argparse.ArgumentTypeError(f"not a process id: {text!r}") from None
    if pid <= 0:
        raise argparse.ArgumentTypeError(f"not a process id: {text!r}")
    return pid


def _report_options(parser: argparse.ArgumentParser) -> None:
    add_format_option(parser, capture_formats, "report format")
    parser.add_argument("--top", type=int, default=10, metavar="N", help="sites to show")
    parser.add_argument(
        "--all", action="store_true", dest="include_all", help="also import-time allocations"
    )


def _render(capture_path: str, args: argparse.Namespace, *, running: bool) -> str:
    """The report of an attached capture; running: the process goes on (snapshot)."""
    from ..reading.capture import Capture
    from ..reports import render

    try:
        capture = Capture(capture_path, allow_partial=running)
    except CaptureError as e:
        raise AttachError(str(e)) from None
    capture.running = running
    return render(capture, args.format, top=args.top, include_all=args.include_all)


class AttachCommand:
    name = "attach"
    help = "start tracking in a running CPython process"

    def prepare_parser(self, parser: argparse.ArgumentParser) -> None:
        parser.add_argument("pid", type=_pid, help="the process to track")
        parser.add_argument(
            "-o", "--output", metavar="FILE", help="capture file (default leaktrace-attach.PID.ltc)"
        )
        parser.add_argument(
            "-f", "--force", action="store_true", help="overwrite the capture file if it exists"
        )
        parser.add_argument("--depth", type=int, default=DEFAULT_DEPTH, metavar="N")
        sampling = parser.add_mutually_exclusive_group()
        sampling.add_argument("--sample-bytes", type=size, default=0, metavar="SIZE")
        sampling.add_argument(
            "--sample", action="store_const", const=DEFAULT_SAMPLE_BYTES, dest="sample_bytes"
        )

    def run(self, args: argparse.Namespace, extra: list[str]) -> int:
        if not 1 <= args.depth <= _core.MAX_DEPTH_LIMIT:
            raise AttachError(f"--depth must be between 1 and {_core.MAX_DEPTH_LIMIT}")
        if args.sample_bytes < 0:
            raise AttachError("--sample-bytes must not be negative")
        output = os.path.abspath(args.output or f"leaktrace-attach.{args.pid}.ltc")
        check_new_file(output, "capture", force=args.force)
        options = Options(output=output, depth=args.depth, sample_bytes=args.sample_bytes)
        answer = request(args.pid, "start", options=json.loads(options.to_json()))
        print(
            f"leaktrace: tracking process {args.pid} into {answer['capture']}; "
            f"'leaktrace snapshot {args.pid}' reports, 'leaktrace detach {args.pid}' stops"
        )
        return 0


class SnapshotCommand:
    name = "snapshot"
    help = "report on a process tracked by leaktrace attach"

    def prepare_parser(self, parser: argparse.ArgumentParser) -> None:
        parser.add_argument("pid", type=_pid)
        _report_options(parser)

    def run(self, args: argparse.Namespace, extra: list[str]) -> int:
        answer = request(args.pid, "snapshot")
        print(_render(str(answer["capture"]), args, running=True), end="")
        return 0


class DetachCommand:
    name = "detach"
    help = "stop tracking an attached process, and report"

    def prepare_parser(self, parser: argparse.ArgumentParser) -> None:
        parser.add_argument("pid", type=_pid)
        parser.add_argument("-q", "--quiet", action="store_true", help="write no report")
        _report_options(parser)

    def run(self, args: argparse.Namespace, extra: list[str]) -> int:
        answer = request(args.pid, "stop")
        if not args.quiet:
            print(_render(str(answer["capture"]), args, running=False), end="")
        print(f"leaktrace: process {args.pid} detached; capture {answer['capture']}")
        return 0


ATTACH_COMMANDS: list[Command] = [AttachCommand(), SnapshotCommand(), DetachCommand()]
