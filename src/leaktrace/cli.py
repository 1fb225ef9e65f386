"""The ``leaktrace`` command. Each subcommand is a small object: prepare_parser, then run.

Errors in what the user gave us (a missing script, a corrupt capture, a wrong flag, an
unwritable path) print one line and exit with status 2. A program run under
``leaktrace run`` keeps its own exit status.
"""

from __future__ import annotations

import argparse
import os
import shlex
import subprocess
import sys
from typing import NoReturn, Protocol

from . import __version__, _core
from .session import DEFAULT_DEPTH, DEFAULT_SAMPLE_BYTES
from .capture import Capture, CaptureError, partial_note
from .report import FORMATS, render
from .reporters import BINARY_FORMATS, EXPORT_FORMATS, export

EXIT_BAD_INPUT = 2


class UsageError(Exception):
    """Bad input from the user: reported as one line, exit status 2."""


class _Parser(argparse.ArgumentParser):
    def error(self, message: str) -> NoReturn:
        raise UsageError(f"{message} (see '{self.prog} --help')")


class Command(Protocol):
    name: str
    help: str

    def prepare_parser(self, parser: argparse.ArgumentParser) -> None: ...

    def run(self, args: argparse.Namespace, extra: list[str]) -> int: ...


def _add_reading_options(parser: argparse.ArgumentParser) -> None:
    """The options of the commands that read captures (report, diff)."""
    parser.add_argument("-o", "--output", metavar="FILE", help="write here, not to stdout")
    parser.add_argument(
        "--partial",
        action="store_true",
        help="accepted for compatibility: a capture whose process died is always read "
        "up to its last snapshot, and the output (or a note on stderr) says so",
    )
    _add_report_options(parser)


def _add_report_options(parser: argparse.ArgumentParser) -> None:
    parser.add_argument(
        "--top", type=int, default=10, metavar="N", help="sites to show in text (default 10)"
    )
    parser.add_argument(
        "--all",
        action="store_true",
        dest="include_all",
        help="also list import-time allocations and those without a Python frame",
    )


def _write_output(text: str | bytes, path: str | None) -> None:
    if path is None or path == "-":
        if isinstance(text, bytes):
            sys.stdout.flush()
            sys.stdout.buffer.write(text)
        else:
            sys.stdout.write(text)
        return
    try:
        if isinstance(text, bytes):
            with open(path, "wb") as f:
                f.write(text)
        else:
            with open(path, "w", encoding="utf-8") as f:
                f.write(text)
    except OSError as e:
        raise UsageError(f"cannot write {path}: {e.strerror}") from None


class RunCommand:
    name = "run"
    help = "run a Python program and report what it leaks"
    # Options of ours that take a value; everything from the script (or -m MOD) on
    # belongs to the program.
    _VALUED = frozenset(
        {
            "-o",
            "--output",
            "--depth",
            "--top",
            "--format",
            "--interval",
            "--retention",
            "--sample-bytes",
            "--sample-seed",
        }
    )

    def prepare_parser(self, parser: argparse.ArgumentParser) -> None:
        parser.usage = "leaktrace run [options] (script.py | -m module) [args ...]"
        parser.add_argument(
            "-o", "--output", metavar="FILE", help="capture file (default leaktrace-NAME.PID.ltc)"
        )
        parser.add_argument(
            "--depth",
            type=int,
            default=DEFAULT_DEPTH,
            metavar="N",
            help=f"Python frames kept per stack, 1 to {_core.MAX_DEPTH_LIMIT} "
            f"(default {DEFAULT_DEPTH})",
        )
        parser.add_argument(
            "--format", choices=FORMATS, default="text", help="report format on stderr"
        )
        parser.add_argument("-q", "--quiet", action="store_true", help="write no report")
        parser.add_argument(
            "--interval",
            type=float,
            default=0.0,
            metavar="SECONDS",
            help="also snapshot live memory every SECONDS, for growth over time",
        )
        parser.add_argument(
            "--native-allocs",
            action=argparse.BooleanOptionalAction,
            default=True,
            help="also track malloc/mmap calls of C code, at the calling Python line (default: on)",
        )
        parser.add_argument(
            "--native",
            action="store_true",
            help="also record the C frames of native allocations (slower; names and "
            "file:line come from the objects' symbols and debug info when reporting)",
        )
        parser.add_argument(
            "--retention",
            type=int,
            default=10,
            metavar="N",
            help="find why the objects of the N largest sites are alive (default 10; 0: skip)",
        )
        _add_report_options(parser)
        parser.add_argument(
            "--sample-bytes",
            type=int,
            default=0,
            metavar="N",
            help="record about one allocation per N bytes allocated, weighted so that sizes "
            "are unbiased estimates (production mode; see docs/sampling.md)",
        )
        parser.add_argument(
            "--sample",
            action="store_const",
            const=DEFAULT_SAMPLE_BYTES,
            dest="sample_bytes",
            help=f"sample at the default rate (--sample-bytes {DEFAULT_SAMPLE_BYTES})",
        )
        parser.add_argument(
            "--sample-seed", type=int, metavar="S", help="seed of the sampling, for repeatable runs"
        )
        parser.add_argument(
            "--follow-children",
            action="store_true",
            help="forked children and Python programs started by this one write captures "
            "of their own, FILE.PID.ltc (see docs/children.md)",
        )
        parser.add_argument("-m", dest="module", metavar="MODULE", help="run a module")
        parser.add_argument("script", nargs="?", help="the script to run")

    @classmethod
    def split(cls, argv: list[str]) -> tuple[list[str], list[str]]:
        """Splits the run arguments into ours (up to and including the target) and the program's."""
        i = 0
        while i < len(argv):
            token = argv[i]
            if token == "-m":
                return argv[: i + 2], argv[i + 2 :]
            if token in cls._VALUED:
                i += 2
                continue
            if token.startswith("-") and token != "-":
                i += 1
                continue
            return argv[: i + 1], argv[i + 1 :]
        return argv, []

    def run(self, args: argparse.Namespace, extra: list[str]) -> int:
        if (args.script is None) == (args.module is None):
            raise UsageError("give a script or -m MODULE (see 'leaktrace run --help')")
        if not 1 <= args.depth <= _core.MAX_DEPTH_LIMIT:
            raise UsageError(f"--depth must be between 1 and {_core.MAX_DEPTH_LIMIT}")
        if args.top < 1:
            raise UsageError("--top must be at least 1")
        if args.interval and not 0.001 <= args.interval <= 86400:
            raise UsageError("--interval must be between 0.001 and 86400 seconds")
        if args.native and not args.native_allocs:
            raise UsageError("--native needs native allocation tracking (drop --no-native-allocs)")
        if not 0 <= args.retention <= 1000:
            raise UsageError("--retention must be between 0 and 1000")
        if args.sample_bytes < 0:
            raise UsageError("--sample-bytes must not be negative")
        if args.sample_seed is not None and not 0 <= args.sample_seed < 2**64:
            raise UsageError("--sample-seed must be between 0 and 2**64 - 1")
        if args.script is not None and not os.path.isfile(args.script):
            what = "is a directory" if os.path.isdir(args.script) else "does not exist"
            raise UsageError(f"script {args.script} {what}")
        if not sys.executable:
            raise UsageError("cannot find the Python interpreter to run the program with")
        target = ["-m", args.module] if args.module else [args.script]
        stem = os.path.splitext(os.path.basename(target[-1].rstrip(os.sep)))[0] or "program"
        from ._bootstrap import RunPlan
        from .session import Options

        options = Options(
            output=args.output or f"leaktrace-{stem}.{os.getpid()}.ltc",
            depth=args.depth,
            native_allocs=args.native_allocs,
            native_frames=args.native,
            interval=args.interval,
            sample_bytes=args.sample_bytes,
            sample_seed=args.sample_seed,
            follow_children=args.follow_children,
        )
        plan = RunPlan(
            options,
            shlex.join(["python", *target, *extra]),
            fmt=args.format,
            quiet=args.quiet,
            top=args.top,
            include_all=args.include_all,
            retention=args.retention,
        )
        # A fresh interpreter (the same pid, flags and environment) runs the
        # program: see _bootstrap for why.
        package_parent = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))
        stub = (
            f"import sys; sys.path.insert(0, {package_parent!r}); "
            "from leaktrace._bootstrap import main; del sys.path[0]; main(sys.argv[1:])"
        )
        argv = [
            sys.executable,
            *subprocess._args_from_interpreter_flags(),  # type: ignore[attr-defined]
            "-c",
            stub,
            plan.to_json(),
            "--",
            *target,
            *extra,
        ]
        sys.stdout.flush()
        sys.stderr.flush()
        os.execv(sys.executable, argv)
        raise AssertionError("unreachable")


class ReportCommand:
    name = "report"
    help = "render a capture as text, JSON, HTML, pprof, folded stacks or speedscope"

    def prepare_parser(self, parser: argparse.ArgumentParser) -> None:
        parser.add_argument("capture", help="a capture file written by leaktrace run")
        parser.add_argument("--format", choices=FORMATS + EXPORT_FORMATS, default="text")
        _add_reading_options(parser)
        family = parser.add_mutually_exclusive_group()
        family.add_argument(
            "--children",
            action="store_true",
            help="also report each child's capture (CAPTURE.PID.ltc, see --follow-children)",
        )
        family.add_argument(
            "--merge",
            action="store_true",
            help="one report of the capture and its children's, sites added up",
        )

    def run(self, args: argparse.Namespace, extra: list[str]) -> int:
        if extra:
            raise UsageError(f"unrecognized arguments: {' '.join(extra)}")
        if args.children or args.merge:
            return self._run_family(args)
        if args.top < 1:
            raise UsageError("--top must be at least 1")
        if args.format in EXPORT_FORMATS:
            return self._export(args)
        capture = _load(args.capture)
        text = render(capture, args.format, top=args.top, include_all=args.include_all)
        _write_output(text, args.output)
        return 0

    def _export(self, args: argparse.Namespace) -> int:
        to_stdout = args.output is None or args.output == "-"
        if args.format in BINARY_FORMATS and to_stdout and sys.stdout.isatty():
            raise UsageError(f"{args.format} output is binary: give -o FILE or redirect stdout")
        try:
            profile, data = export(args.capture, args.format, include_all=args.include_all)
        except CaptureError as e:
            raise _capture_error(args.capture, e) from None
        _write_output(data, args.output)
        note = profile.partial_note()
        if note:
            print(f"leaktrace: note: {args.capture}: {note}", file=sys.stderr)
        return 0

    def _run_family(self, args: argparse.Namespace) -> int:
        from .family import MergedCapture, load_family

        if args.top < 1:
            raise UsageError("--top must be at least 1")
        try:
            # Partial captures are read up to their last snapshot, as by plain report;
            # each report says so (--partial is accepted and changes nothing).
            root = Capture(args.capture, allow_partial=True)
        except CaptureError as e:
            message = str(e)
            raise UsageError(
                message if args.capture in message else f"{args.capture}: {message}"
            ) from None
        members = load_family(root, allow_partial=True)
        readable = [m.capture for m in members if m.capture is not None]
        if args.merge:
            text = render(
                MergedCapture(readable), args.format, top=args.top, include_all=args.include_all
            )
            skipped = [m for m in members if m.capture is None]
            if args.format == "text":
                text = (
                    f"leaktrace: {len(readable)} processes merged; growth is not classified "
                    "across processes (--children shows each one's)\n" + text
                )
                text += "".join(f"  not merged: {m.path}: {m.error}\n" for m in skipped)
            elif args.format == "json":
                import json

                doc = json.loads(text)
                doc["merged"] = [{"capture": m.path, "pid": m.pid} for m in members if m.capture]
                doc["not_merged"] = [{"capture": m.path, "error": m.error} for m in skipped]
                text = json.dumps(doc, indent=2) + "\n"
            _write_output(text, args.output)
            return 0
        if args.format == "json":
            import json

            docs = [
                {
                    "capture": m.path,
                    "pid": m.pid,
                    "error": m.error or None,
                    "report": json.loads(render(m.capture, "json", include_all=args.include_all))
                    if m.capture
                    else None,
                }
                for m in members
            ]
            from .report import JSON_SCHEMA_VERSION

            family_doc = {"schema_version": JSON_SCHEMA_VERSION, "processes": docs}
            _write_output(json.dumps(family_doc, indent=2) + "\n", args.output)
            return 0
        parts = []
        for m in members:
            parts.append(f"== {m.describe()}\n")
            if m.capture is None:
                parts.append(f"leaktrace: cannot read it: {m.error}\n")
            else:
                parts.append(render(m.capture, "text", top=args.top, include_all=args.include_all))
            parts.append("\n")
        _write_output("".join(parts), args.output)
        return 0


def _capture_error(path: str, error: CaptureError) -> UsageError:
    message = str(error)
    # Errors about opening name the file already; errors about content do not.
    return UsageError(message if path in message else f"{path}: {message}")


def _load(path: str) -> Capture:
    """A capture, partial ones included (read up to their last whole snapshot)."""
    try:
        return Capture(path, allow_partial=True)
    except CaptureError as e:
        raise _capture_error(path, e) from None


class DiffCommand:
    name = "diff"
    help = "compare live memory per site between two snapshots (of one capture or two)"

    def prepare_parser(self, parser: argparse.ArgumentParser) -> None:
        parser.usage = "leaktrace diff BEFORE.ltc [AFTER.ltc] [--from N] [--to M] [options]"
        parser.add_argument("before", help="a capture")
        parser.add_argument(
            "after", nargs="?", help="a second capture (default: compare within BEFORE)"
        )
        parser.add_argument(
            "--from",
            dest="start",
            type=int,
            metavar="N",
            help="snapshot of BEFORE; negative counts from the end "
            "(default: first with one capture, final with two)",
        )
        parser.add_argument(
            "--to",
            dest="end",
            type=int,
            metavar="M",
            help="snapshot of AFTER (or of BEFORE alone); default: its final one",
        )
        parser.add_argument("--format", choices=FORMATS, default="text")
        _add_reading_options(parser)

    def run(self, args: argparse.Namespace, extra: list[str]) -> int:
        from . import compare

        if extra:
            raise UsageError(f"unrecognized arguments: {' '.join(extra)}")
        if args.top < 1:
            raise UsageError("--top must be at least 1")
        before = _load(args.before)
        after = _load(args.after) if args.after else None
        for path, capture in ((args.before, before), (args.after, after)):
            if capture is not None and not capture.complete:
                note = partial_note(
                    capture.final.seq, capture.final.time_ns, capture.valid_size, capture.file_size
                )
                print(f"leaktrace: note: {path}: {note}", file=sys.stderr)
        try:
            d = compare.diff(
                before, after, start=args.start, end=args.end, include_all=args.include_all
            )
        except IndexError as e:
            raise UsageError(str(e)) from None
        text = (
            compare.render_json(d)
            if args.format == "json"
            else compare.render_text(d, top=args.top)
        )
        _write_output(text, args.output)
        return 0


class _AttachCommands:
    """attach / snapshot / detach (leaktrace.attach), loaded when used."""

    def __init__(self, name: str, help: str) -> None:
        self.name = name
        self.help = help

    def _command(self) -> Command:
        from . import attach

        classes = {
            "attach": attach.AttachCommand,
            "snapshot": attach.SnapshotCommand,
            "detach": attach.DetachCommand,
        }
        return classes[self.name]()

    def prepare_parser(self, parser: argparse.ArgumentParser) -> None:
        self._command().prepare_parser(parser)

    def run(self, args: argparse.Namespace, extra: list[str]) -> int:
        from .attach import AttachError

        if extra:
            raise UsageError(f"unrecognized arguments: {' '.join(extra)}")
        try:
            return self._command().run(args, extra)
        except AttachError as e:
            raise UsageError(str(e)) from None


COMMANDS: list[Command] = [
    RunCommand(),
    ReportCommand(),
    DiffCommand(),
    _AttachCommands("attach", "start tracking in a running CPython process"),
    _AttachCommands("snapshot", "report on a process tracked by leaktrace attach"),
    _AttachCommands("detach", "stop tracking an attached process, and report"),
]


def build_parser() -> tuple[argparse.ArgumentParser, dict[str, argparse.ArgumentParser]]:
    parser = _Parser(
        prog="leaktrace",
        description="Find memory leaks in Python programs.",
    )
    parser.add_argument("--version", action="version", version=f"leaktrace {__version__}")
    sub = parser.add_subparsers(dest="command", metavar="COMMAND")
    subparsers = {}
    for command in COMMANDS:
        p = sub.add_parser(command.name, help=command.help, description=command.help)
        command.prepare_parser(p)
        subparsers[command.name] = p
    return parser, subparsers


def main(argv: list[str] | None = None) -> int:
    argv = sys.argv[1:] if argv is None else argv
    parser, _ = build_parser()
    extra: list[str] = []
    if argv and argv[0] == "run":
        ours, extra = RunCommand.split(argv[1:])
        argv = ["run", *ours]
    try:
        args = parser.parse_args(argv)
        if args.command is None:
            parser.print_help(sys.stderr)
            return EXIT_BAD_INPUT
        command = next(c for c in COMMANDS if c.name == args.command)
        return command.run(args, extra)
    except UsageError as e:
        print(f"leaktrace: error: {e}", file=sys.stderr)
        return EXIT_BAD_INPUT
    except BrokenPipeError:
        sys.stderr.close()
        return 1
    except KeyboardInterrupt:
        print("leaktrace: interrupted", file=sys.stderr)
        return 130


if __name__ == "__main__":
    sys.exit(main())
