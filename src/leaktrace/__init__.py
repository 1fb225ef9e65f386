"""leaktrace: find memory leaks in Python programs.

The engine is C (``leaktrace._core``); this package is the thin layer around it:
the ``leaktrace`` command, reports, and a small API::

    import leaktrace
    leaktrace.start("app.ltc")
    ...
    leaktrace.stop()
    for site in leaktrace.load("app.ltc").leaks()[0][:5]:
        print(site.bytes, site.stack[0])
"""

from __future__ import annotations

import os

__version__ = "0.1.0"

from . import _core
from .capture import Capture, CaptureError, Frame, Site

__all__ = [
    "Capture",
    "CaptureError",
    "Frame",
    "Site",
    "is_tracking",
    "load",
    "snapshot",
    "start",
    "stop",
]


def start(path: str | os.PathLike[str], *, max_depth: int = 64) -> None:
    """Start tracking every Python allocation into a new capture file."""
    _core.start(os.fspath(path), max_depth, {"command": "leaktrace.start()"})


def snapshot(label: str | None = None) -> int:
    """Record the live memory per site now; returns the snapshot's number."""
    return _core.snapshot(label)


def stop() -> dict[str, int]:
    """Stop tracking, complete the capture and return its statistics."""
    return _core.stop()


def is_tracking() -> bool:
    return _core.is_tracking()


def load(path: str | os.PathLike[str], *, allow_partial: bool = False) -> Capture:
    """Read and validate a capture file."""
    return Capture(path, allow_partial=allow_partial)
