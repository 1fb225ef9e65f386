"""``leaktrace diff``: live memory per site between two snapshots."""

from __future__ import annotations

import argparse
import sys

from .common import UsageError, add_format_option, add_reading_options, load, write_output


def _formats() -> tuple[str, ...]:
    from ..reading import compare

    return tuple(compare.RENDERERS)


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
        add_format_option(parser, _formats, "output format")
        add_reading_options(parser)

    def run(self, args: argparse.Namespace, extra: list[str]) -> int:
        if extra:
            raise UsageError(f"unrecognized arguments: {' '.join(extra)}")
        if args.top < 1:
            raise UsageError("--top must be at least 1")
        from ..reading import compare
        from ..reading.model import partial_note

        before = load(args.before)
        after = load(args.after) if args.after else None
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
        text = compare.RENDERERS[args.format](d, top=args.top)
        write_output(text, args.output)
        return 0
