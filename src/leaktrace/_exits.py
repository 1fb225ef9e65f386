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

The trade-offs, documented in docs/robustness.md: a Python signal handler runs
between bytecodes of the main thread, so a main thread stuck in a long C call
dies only when the call returns; ``signal.getsignal(SIGTERM)`` shows leaktrace's
handler rather than ``SIG_DFL``; ``os._exit`` is a Python function rather than
the builtin (``posix._exit`` stays unwrapped). A process killed by SIGKILL, or
by SIGTERM after the program set SIG_DFL itself, keeps its capture up to the
last flush (``leaktrace report --partial``).
"""

from __future__ import annotations

import os
import signal
from collections.abc import Callable
from operator import index
from typing import NoReturn

from . import _core


class CaptureCloser:
    """Closes the capture once, in the process that opened it."""

    def __init__(self, close_capture: Callable[[], None]) -> None:
        self._close_capture = close_capture
        self._pid = os.getpid()
        self._closing = self._closed = False
        self._deferred_signal: int | None = None

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
                self._close_capture()
            else:
                _core.stop()
        finally:
            self._closing, self._closed = False, True
        if self._deferred_signal is not None:
            _die_of(self._deferred_signal)

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
        _die_of(signum)


def _die_of(signum: int) -> NoReturn:
    signal.signal(signum, signal.SIG_DFL)
    os.kill(os.getpid(), signum)
    os._exit(128 + signum)  # not reached: the signal is fatal now


def install(closer: CaptureCloser) -> None:
    """Wraps os._exit and, while SIGTERM has its default disposition, catches it."""
    real_exit = os._exit

    def _exit(status: int, /) -> NoReturn:
        status = index(status)  # a bad status raises here, as with the real one
        closer.close_before_abrupt_exit()
        real_exit(status)

    _exit.__doc__ = real_exit.__doc__
    _exit.__wrapped__ = real_exit  # type: ignore[attr-defined]
    os._exit = _exit  # type: ignore[assignment]

    if signal.getsignal(signal.SIGTERM) == signal.SIG_DFL:
        signal.signal(signal.SIGTERM, lambda signum, frame: closer.on_fatal_signal(signum))
