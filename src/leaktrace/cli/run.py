"""``leaktrace run``: runs a program in a fresh interpreter that tracks it (see _bootstrap)."""

from __future__ import annotations

import argparse
import os
import shlex
import subprocess
import sys

from .. import _core
from .._exits import EXIT_LEAKS
from ..session import DEFAULT_DEPTH, DEFAULT_SAMPLE_BYTES
from .common import (
    UsageError,
    add_format_option,
    add_report_options,
    capture_formats,
    check_new_file,
    package_parent,
    size,
)


def _interpreter_options() -> list[str]:
    """The options given to the interpreter that runs leaktrace (python -X dev -m
    leaktrace run ...), for the program's sys.orig_argv."""
    options = sys.orig_argv[1 : len(sys.orig_argv) - len(sys.argv)]
    if options and options[-1] == "-m":  # "-m leaktrace" became sys.argv[0]
        options.pop()
    return options


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
            "--json-output",
        }
    )

    def prepare_parser(self, parser: argparse.ArgumentParser) -> None:
        parser.usage = "leaktrace run [options] (script.py | -m module) [args ...]"
        parser.add_argument(
            "-o", "--output", metavar="FILE", help="capture file (default leaktrace-NAME.PID.ltc)"
        )
        parser.add_argument(
            "-f",
            "--force",
            action="store_true",
            help="overwrite the capture file if it exists (without it, an existing file is "
            "an error, before the program starts)",
        )
        parser.add_argument(
            "--json-output",
            metavar="FILE",
            help="also write the JSON report to FILE (with -q, the only report): the "
            "program's own stderr stays apart",
        )
        parser.add_argument(
            "--fail-on-leak",
            action="store_true",
            help=f"exit status {EXIT_LEAKS} when a site is classed as leaking and the "
            "program exited with 0 (a non-zero status of its own is kept; docs/growth.md)",
        )
        parser.add_argument(
            "--depth",
            type=int,
            default=DEFAULT_DEPTH,
            metavar="N",
            help=f"Python frames kept per stack, 1 to {_core.MAX_DEPTH_LIMIT} "
            f"(default {DEFAULT_DEPTH})",
        )
        add_format_option(parser, capture_formats, "report format on stderr")
        parser.add_argument("-q", "--quiet", action="store_true", help="write no report")
        parser.add_argument(
            "--interval",
            type=float,
            default=0.0,
            metavar="SECONDS",
            help="snapshot live memory every SECONDS instead of by work (by default a "
            "snapshot follows every further slice of allocated bytes, with a time floor: "
            "docs/growth.md)",
        )
        parser.add_argument(
            "--snapshots",
            action=argparse.BooleanOptionalAction,
            default=True,
            help="snapshots during the run, for the growth verdict (default: on; "
            "--no-snapshots keeps only the final one)",
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
        add_report_options(parser)
        parser.add_argument(
            "--sample-bytes",
            type=size,
            default=0,
            metavar="SIZE",
            help="record about one allocation per SIZE allocated (4096, '512 KiB' = 512 x "
            "1024, '1 MB' = 10^6 bytes), weighted so that sizes are unbiased estimates "
            "(production mode; see docs/sampling.md)",
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
        output = args.output or f"leaktrace-{stem}.{os.getpid()}.ltc"
        check_new_file(output, "capture", force=args.force)
        if args.json_output:
            check_new_file(args.json_output, "JSON report", force=True)
        from .._bootstrap import RunPlan
        from ..session import Options

        options = Options(
            output=output,
            depth=args.depth,
            native_allocs=args.native_allocs,
            native_frames=args.native,
            interval=args.interval,
            snapshots=args.snapshots,
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
            json_output=args.json_output or "",
            fail_on_leak=args.fail_on_leak,
            orig_argv=[sys.orig_argv[0], *_interpreter_options(), *target, *extra],
        )
        # A fresh interpreter (the same pid, flags and environment) runs the
        # program: see _bootstrap for why.
        parent = package_parent()
        stub = (
            f"import sys; sys.path.insert(0, {parent!r}); "
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
