"""leaktrace: find memory leaks in Python programs.

The engine is C (``leaktrace._core``); this package is the thin layer around it:
the ``leaktrace`` command, reports, and a small API::

    import leaktrace
    leaktrace.start("app.ltc")
    ...
    leaktrace.stop()
    sites, excluded = leaktrace.load("app.ltc").leaks()

Importing the package loads only the C engine: ``leaktrace run`` imports it into the
tracked program's process, whose heap should hold as little of leaktrace as possible.
The reading and reporting modules load on first use.
"""

from __future__ import annotations

import os
import sys
from typing import TYPE_CHECKING, Any

from . import _core

__version__ = "0.1.0"

# The sampling rate of ``leaktrace run --sample``: mean bytes allocated between two
# recorded allocations (docs/sampling.md).
DEFAULT_SAMPLE_BYTES = 512 * 1024

CaptureError = _core.CaptureError

if TYPE_CHECKING:
    from .capture import Capture, Frame, Site

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


def session_meta(command: str) -> dict[str, str]:
    """The facts stored in a capture's META records."""
    return {
        "command": command,
        "python_version": ".".join(map(str, sys.version_info[:3])),
        "pid": str(os.getpid()),
        "leaktrace_version": __version__,
        "cwd": os.getcwd(),
        "platform": " ".join(os.uname()),
    }


def start(
    path: str | os.PathLike[str],
    *,
    max_depth: int = 64,
    sample_bytes: int = 0,
    sample_seed: int | None = None,
    follow_children: bool = False,
) -> None:
    """Start tracking every Python allocation into a new capture file.

    sample_bytes > 0 records about one allocation per that many bytes allocated, with
    weights that make the reported figures unbiased estimates (docs/sampling.md);
    sample_seed fixes the sampling for reproducible runs. follow_children makes
    forked children, and Python programs this one starts, write captures of their own
    next to this one (docs/children.md).
    """
    if sample_bytes < 0:
        raise ValueError("sample_bytes must not be negative")
    argv = " ".join(sys.argv) if sys.argv else ""
    meta = session_meta(f"leaktrace.start() in {argv}".strip())
    _core.start(
        os.fspath(path),
        max_depth,
        meta,
        sample_bytes=sample_bytes,
        sample_seed=sample_seed,
        follow_fork=follow_children,
    )
    if follow_children:
        from . import _children

        _children.enable(os.fspath(path), max_depth, sample_bytes)


def snapshot(label: str | None = None) -> int:
    """Record the live memory per site now; returns the snapshot's number."""
    return _core.snapshot(label)


def stop() -> dict[str, int]:
    """Stop tracking, complete the capture and return its statistics."""
    children = sys.modules.get(f"{__name__}._children")
    if children is not None:
        children.disable()  # type: ignore[attr-defined]
    return _core.stop()


def is_tracking() -> bool:
    return _core.is_tracking()


def load(path: str | os.PathLike[str], *, allow_partial: bool = False) -> Capture:
    """Read and validate a capture file."""
    from .capture import Capture

    return Capture(path, allow_partial=allow_partial)


def __getattr__(name: str) -> Any:
    if name in ("Capture", "Frame", "Site"):
        from . import capture

        return getattr(capture, name)
    raise AttributeError(f"module 'leaktrace' has no attribute {name!r}")
