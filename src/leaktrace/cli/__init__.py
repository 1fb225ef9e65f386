"""The ``leaktrace`` command. Each subcommand is a small object: prepare_parser, then run.

One module per command: run, report, diff, and attach/snapshot/detach. Errors in what
the user gave us (a missing script, a corrupt capture, a wrong flag, an unwritable
path) print one line and exit with status 2. A program run under ``leaktrace run``
keeps its own exit status.
"""

from __future__ import annotations

import argparse
import sys

from .. import __version__
from .attach import ATTACH_COMMANDS
from .common import EXIT_BAD_INPUT, UsageError, _Parser
from .diff import DiffCommand
from .report import ReportCommand
from .run import RunCommand

TYPE_CHECKING = False
if TYPE_CHECKING:
    from .common import Command

COMMANDS: list[Command] = [RunCommand(), ReportCommand(), DiffCommand(), *ATTACH_COMMANDS]


def build_parser() -> tuple[argparse.ArgumentParser, dict[str, argparse.ArgumentParser]]:
    parser: argparse.ArgumentParser = _Parser(
        prog="leaktrace",
        description="Find memory leaks in Python programs.",
    )
    parser.add_argument("--version", action="version", version=f"leaktrace {__version__}")
    sub = parser.add_subparsers(dest="command", metavar="COMMAND")
    subparsers: dict[str, argparse.ArgumentParser] = {}
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
    except MemoryError:
        pass  # said below, once the traceback's frames (and what they hold) are gone
    except BrokenPipeError:
        sys.stderr.close()
        return 1
    except KeyboardInterrupt:
        print("leaktrace: interrupted", file=sys.stderr)
        return 130
    # Reading is bounded by the distinct stacks, not by the capture's length, but a
    # capture of more stacks than the memory available holds cannot be reported.
    print(
        "leaktrace: error: out of memory (the capture has more stacks than this "
        "process can hold; report it on a machine with more memory)",
        file=sys.stderr,
    )
    return EXIT_BAD_INPUT


if __name__ == "__main__":
    sys.exit(main())
