"""``leaktrace report``: one capture (or a process and its children) in any format."""

from __future__ import annotations

import argparse
import sys

from .._core import CaptureError
from .common import (
    UsageError,
    add_format_option,
    add_reading_options,
    all_formats,
    capture_error,
    load,
    stream_output,
    write_output,
)


class ReportCommand:
    name = "report"
    help = "render a capture as text, JSON, HTML, pprof, folded stacks or speedscope"

    def prepare_parser(self, parser: argparse.ArgumentParser) -> None:
        parser.add_argument("capture", help="a capture file written by leaktrace run")
        add_format_option(parser, all_formats, "output format")
        add_reading_options(parser)
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
        from .. import reports

        if reports.get(args.format).source == "profile":
            return self._export(args)
        capture = load(args.capture)
        options = {"top": args.top, "include_all": args.include_all}
        write = reports.streamer(capture, args.format, **options)
        if write is not None:
            stream_output(write, args.output)
        else:
            write_output(reports.render(capture, args.format, **options), args.output)
        return 0

    def _export(self, args: argparse.Namespace) -> int:
        from .. import reports

        to_stdout = args.output is None or args.output == "-"
        if reports.get(args.format).binary and to_stdout and sys.stdout.isatty():
            raise UsageError(f"{args.format} output is binary: give -o FILE or redirect stdout")
        try:
            profile, data = reports.export(args.capture, args.format, include_all=args.include_all)
        except CaptureError as e:
            raise capture_error(args.capture, e) from None
        write_output(data, args.output)
        note = profile.partial_note()
        if note:
            print(f"leaktrace: note: {args.capture}: {note}", file=sys.stderr)
        return 0

    def _run_family(self, args: argparse.Namespace) -> int:
        from ..reading.capture import Capture
        from ..reading.family import MergedCapture, load_family
        from ..reports import render

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
            write_output(text, args.output)
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
            from ..reports.common import JSON_SCHEMA_VERSION

            family_doc = {"schema_version": JSON_SCHEMA_VERSION, "processes": docs}
            write_output(json.dumps(family_doc, indent=2) + "\n", args.output)
            return 0
        parts = []
        for m in members:
            parts.append(f"== {m.describe()}\n")
            if m.capture is None:
                parts.append(f"leaktrace: cannot read it: {m.error}\n")
            else:
                parts.append(render(m.capture, "text", top=args.top, include_all=args.include_all))
            parts.append("\n")
        write_output("".join(parts), args.output)
        return 0
