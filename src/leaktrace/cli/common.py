"""What the commands share: bad input as one line, options and output of reading commands."""

from __future__ import annotations

import argparse
import io
import os
import sys
from collections.abc import Callable, Iterable, Iterator

from .._core import CaptureError

# The parser of every command is built at each start (leaktrace run's too, before the
# program), so this module and the commands' own import only what that needs: not
# typing's TYPE_CHECKING, nor the readers and report formats (imported where used).
TYPE_CHECKING = False
if TYPE_CHECKING:
    from typing import BinaryIO, NoReturn, Protocol

    from ..reading.capture import Capture

    class Command(Protocol):
        name: str
        help: str

        def prepare_parser(self, parser: argparse.ArgumentParser) -> None: ...

        def run(self, args: argparse.Namespace, extra: list[str]) -> int: ...


EXIT_BAD_INPUT = 2


class UsageError(Exception):
    """Bad input from the user: reported as one line, exit status 2."""


class _Parser(argparse.ArgumentParser):
    def error(self, message: str) -> NoReturn:
        raise UsageError(f"{message} (see '{self.prog} --help')")


class LazyChoices:
    """An option's choices, listed on first use: listing the report formats imports
    their modules (and the readers), which a parser built to run a program or to
    print its help does not need. argparse only tests membership and iterates."""

    def __init__(self, names: Callable[[], Iterable[str]]) -> None:
        self._names = names
        self._listed: tuple[str, ...] | None = None

    def _all(self) -> tuple[str, ...]:
        if self._listed is None:
            self._listed = tuple(self._names())
        return self._listed

    def __contains__(self, name: object) -> bool:
        return name in self._all()

    def __iter__(self) -> Iterator[str]:
        return iter(self._all())


def capture_formats() -> list[str]:
    """The formats rendered from a capture (the choices of run's and attach's --format)."""
    from .. import reports

    return reports.names("capture")


def all_formats() -> list[str]:
    """Every report format (the choices of report's --format)."""
    from .. import reports

    return reports.names()


def package_parent() -> str:
    """The directory holding the leaktrace package (what a fresh interpreter puts on
    sys.path to import this copy of it)."""
    return os.path.dirname(os.path.dirname(os.path.dirname(os.path.realpath(__file__))))


def add_format_option(
    parser: argparse.ArgumentParser, names: Callable[[], Iterable[str]], what: str
) -> None:
    """--format, its choices listed only when they are needed (a value to check, the
    help to print): with a metavar, argparse does not list them to build the parser."""
    parser.add_argument(
        "--format",
        choices=LazyChoices(names),
        default="text",
        metavar="FORMAT",
        help=f"{what}: %(choices)s (default %(default)s)",
    )


def add_reading_options(parser: argparse.ArgumentParser) -> None:
    """The options of the commands that read captures (report, diff)."""
    parser.add_argument("-o", "--output", metavar="FILE", help="write here, not to stdout")
    parser.add_argument(
        "--partial",
        action="store_true",
        help="accepted for compatibility: a capture whose process died is always read "
        "up to its last snapshot, and the output (or a note on stderr) says so",
    )
    add_report_options(parser)


def add_report_options(parser: argparse.ArgumentParser) -> None:
    parser.add_argument(
        "--top", type=int, default=10, metavar="N", help="sites to show in text (default 10)"
    )
    parser.add_argument(
        "--all",
        action="store_true",
        dest="include_all",
        help="also list import-time allocations and those without a Python frame",
    )


def write_output(text: str | bytes, path: str | None) -> None:
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


def stream_output(write: Callable[[BinaryIO], None], path: str | None) -> None:
    """Like write_output, for a report that writes itself in pieces (UTF-8 text)."""
    if path is None or path == "-":
        buffer = getattr(sys.stdout, "buffer", None)
        if buffer is None:  # a text stream with no bytes below it (a caller's StringIO)
            text = io.BytesIO()
            write(text)
            sys.stdout.write(text.getvalue().decode())
            return
        sys.stdout.flush()
        write(buffer)
        buffer.flush()
        return
    try:
        with open(path, "wb") as f:
            write(f)
    except OSError as e:
        raise UsageError(f"cannot write {path}: {e.strerror}") from None


def capture_error(path: str, error: CaptureError) -> UsageError:
    message = str(error)
    # Errors about opening name the file already; errors about content do not.
    return UsageError(message if path in message else f"{path}: {message}")


def load(path: str) -> Capture:
    """A capture, partial ones included (read up to their last whole snapshot)."""
    from ..reading.capture import Capture

    try:
        return Capture(path, allow_partial=True)
    except CaptureError as e:
        raise capture_error(path, e) from None


def size(text: str) -> int:
    """An argparse type: bytes from 4096, '512 KiB' (2^10) or '1 MB' (10^6)."""
    from ..api import parse_size

    try:
        return parse_size(text)
    except ValueError as e:
        raise argparse.ArgumentTypeError(str(e)) from None


def check_new_file(path: str, what: str, *, force: bool) -> None:
    """Refuses, before the program starts, an output that cannot be written or (for a
    capture, unless forced) would overwrite a file."""
    if os.path.isdir(path):
        raise UsageError(f"{what} {path} is a directory")
    if os.path.lexists(path) and not force:
        raise UsageError(f"{what} {path} exists: give -f/--force to overwrite it")
    directory = os.path.dirname(os.path.abspath(path))
    if not os.path.isdir(directory):
        why = "does not exist" if not os.path.lexists(directory) else "is not a directory"
        raise UsageError(f"cannot write {what} {path}: {directory} {why}")
    if not os.access(directory, os.W_OK | os.X_OK):
        raise UsageError(f"cannot write {what} {path}: {directory} is not writable")
