"""Closing the capture however a program run by ``leaktrace run`` ends.

A return, ``sys.exit``, an unhandled exception and ``KeyboardInterrupt`` all come
back to the bootstrap, which closes the capture. Two ways out do not, and are
covered here:

- **SIGTERM** with its default disposition kills the process on the spot. While
  the program leaves SIGTERM at its default, leaktrace catches it, closes the
  capture, restores the default and sends the signal again, so the process still
  dies of SIGTERM (exit status 143 in a shell). A program that installs its own
  handler replaces leaktrace's; its handler runs as it would untracked. A program
  started with SIGTERM ignored keeps it ignored.
- **os._exit** skips every cleanup. ``os._exit`` is wrapped: in the process that
  opened the capture, it closes the capture first, then exits with the same
  status through the real ``os._exit``. Forked children call the real one
  straight away and never touch their parent's capture.

Followed children (docs/children.md) finish their own captures on SIGTERM too
(:func:`catch_sigterm`): that is how ``multiprocessing.Pool`` ends its workers.

With ``--fail-on-leak`` the capture's closing may find leaking sites; then a
program that would exit with status 0 exits with EXIT_LEAKS instead, however it
ends (:meth:`CaptureCloser.exit_status`). A program's own non-zero status is kept.

The trade-offs, documented in docs/robustness.md: a Python signal handler runs
between bytecodes of the main thread, so a main thread stuck in a long C call
dies only when the call returns (a SIGTERM that came just before a blocking
system call is repeated every 50 ms until the handler has run, see
module/lt_pysignal.h); ``signal.getsignal(SIGTERM)`` shows leaktrace's handler
rather than ``SIG_DFL``; ``os._exit`` is a Python function rather than
the builtin (``posix._exit`` stays unwrapped). A process killed by SIGKILL, or
by SIGTERM after the program set SIG_DFL itself, keeps its capture up to the
last flush (``leaktrace report --partial``).
"""

from __future__ import annotations

import contextlib
import os
import signal
from collections.abc import Callable
from operator import index

from . import _core

TYPE_CHECKING = False  # not typing's, which a tracked process need not import
if TYPE_CHECKING:
    from typing import NoReturn

EXIT_LEAKS = 3  # --fail-on-leak found leaking sites in a program that exited with 0
# leaktrace's own SIGTERM handlers: a forked child inherits them, and replaces them.
_own_handlers: list[Callable[[int, object], None]] = []


class CaptureCloser:
    """Closes the capture once, in the process that opened it.

    close_capture returns whether the run must fail (--fail-on-leak found leaks)."""

    def __init__(self, close_capture: Callable[[], bool]) -> None:
        self._close_capture = close_capture
        self._pid = os.getpid()
        self._closing = self._closed = False
        self._deferred_signal: int | None = None
        self._failed = False

    def exit_status(self, status: int) -> int:
        """The status to exit with, once closed: the program's, unless it is 0 and
        the run failed (--fail-on-leak)."""
        return EXIT_LEAKS if status == 0 and self._failed else status

    def in_opener(self) -> bool:
        return os.getpid() == self._pid

    def close(self) -> None:
        """On the way out of the process: the opener closes the capture; a forked
        child (which stopped recording at fork) only uninstalls its hooks."""
        if self._closing or self._closed:
            return
        self._closing = True
        try:
            if self.in_opener():
                self._failed = self._close_capture()
            else:
                _core.stop()
        finally:
            self._closing, self._closed = False, True
        if self._deferred_signal is not None:
            die_of(self._deferred_signal)

    def close_before_abrupt_exit(self) -> None:
        """Before os._exit or a fatal signal: a forked child leaves at once."""
        if self.in_opener():
            self.close()

    def on_fatal_signal(self, signum: int) -> None:
        """Closes the capture, then dies of the signal. A signal that arrives while
        the capture is being closed (a finalizer run by the final collection can
        send one) waits until it is closed."""
        if self._closing and self.in_opener():
            self._deferred_signal = signum
            return
        self.close_before_abrupt_exit()
        die_of(signum)


def die_of(signum: int) -> NoReturn:
    signal.signal(signum, signal.SIG_DFL)
    os.kill(os.getpid(), signum)
    os._exit(128 + signum)  # not reached: the signal is fatal now


def install(closer: CaptureCloser) -> None:
    """Wraps os._exit and, while SIGTERM has its default disposition, catches it."""
    real_exit = os._exit

    def _exit(status: int, /) -> NoReturn:
        status = index(status)  # a bad status raises here, as with the real one
        closer.close_before_abrupt_exit()
        real_exit(closer.exit_status(status))

    _exit.__doc__ = real_exit.__doc__
    _exit.__wrapped__ = real_exit  # type: ignore[attr-defined]
    os._exit = _exit  # type: ignore[assignment]

    catch_sigterm(closer.on_fatal_signal)


def catch_sigterm(on_signal: Callable[[int], None]) -> None:
    """Calls on_signal(SIGTERM) on SIGTERM (it must end the process), while SIGTERM has
    its default disposition or a handler of leaktrace's own (a forked child inherits its
    parent's). A program's own handler, or SIG_IGN, is left alone."""
    current = signal.getsignal(signal.SIGTERM)
    if current != signal.SIG_DFL and current not in _own_handlers:
        return

    def handler(signum: int, frame: object) -> None:
        _core.sigterm_handled()
        on_signal(signum)

    try:
        signal.signal(signal.SIGTERM, handler)
    except ValueError:  # not the main thread: SIGTERM stays as it was
        return
    _own_handlers.append(handler)
    # A SIGTERM that lands just before a blocking call (a Pool worker about to wait on
    # its queue's lock) would never reach the handler: the guard repeats it.
    # Without a timer left (OSError), the handler still runs when the main thread is awake.
    with contextlib.suppress(OSError):
        _core.guard_sigterm()
