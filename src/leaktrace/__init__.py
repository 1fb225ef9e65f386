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

from . import _core

__version__ = "0.1.0"

from . import session  # after __version__, which it reads
from .session import DEFAULT_DEPTH
from .session import DEFAULT_SAMPLE_BYTES as DEFAULT_SAMPLE_BYTES

CaptureError = _core.CaptureError

TYPE_CHECKING = False  # not typing's, which a tracked process need not import

if TYPE_CHECKING:
    from typing import Any

    from .api import LeakError, check, no_growth, parse_size, track
    from .reading.capture import Capture
    from .reading.compare import diff
    from .reading.model import Frame, Site
    from .reading.retention import Path

__all__ = [
    "Capture",
    "CaptureError",
    "Frame",
    "LeakError",
    "Path",
    "Site",
    "check",
    "diff",
    "is_tracking",
    "load",
    "mark",
    "no_growth",
    "parse_size",
    "snapshot",
    "start",
    "stop",
    "track",
    "why",
]


def start(
    path: str | os.PathLike[str],
    *,
    max_depth: int = DEFAULT_DEPTH,
    interval: float | None = None,
    snapshots: bool = True,
    native_allocs: bool = True,
    native_frames: bool = False,
    sample_bytes: int = 0,
    sample_seed: int | None = None,
    follow_children: bool = False,
) -> None:
    """Start tracking every Python allocation into a new capture file.

    By default a native thread snapshots live memory as the program works (every
    further slice of allocated bytes, and at least every few milliseconds at first,
    both spacings growing as the run goes on: docs/growth.md), as ``leaktrace run``
    does, so every site gets a growth verdict; with ``interval`` (seconds) it
    snapshots at that fixed period instead. With ``snapshots=False`` the snapshots
    are the ones the program takes, and the final one.
    With ``native_allocs`` (the default), allocations that C code makes with the
    malloc family and mmap are tracked too, at the Python line that called it.
    With ``native_frames``, those (and PyMem_Raw* calls) also record the C frames
    between the Python line and the allocation, named when reporting.
    sample_bytes > 0 records about one allocation per that many bytes allocated, with
    weights that make the reported figures unbiased estimates (docs/sampling.md);
    sample_seed fixes the sampling for reproducible runs. follow_children makes
    forked children, and Python programs this one starts, write captures of their own
    next to this one (docs/children.md).
    """
    options = session.Options(
        output=os.fspath(path),
        depth=max_depth,
        native_allocs=native_allocs,
        native_frames=native_frames,
        interval=interval or 0.0,
        snapshots=snapshots,
        sample_bytes=sample_bytes,
        sample_seed=sample_seed,
        follow_children=follow_children,
    )
    argv = " ".join(sys.argv) if sys.argv else ""
    session.begin(options, f"leaktrace.start() in {argv}".strip())


def snapshot(label: str | None = None) -> int:
    """Record the live memory per site now; returns the snapshot's number."""
    return _core.snapshot(label)


def mark(label: str) -> int:
    """Record a snapshot named ``label`` (a point of the program to compare with others)."""
    if not isinstance(label, str):
        raise TypeError("label must be a str")
    return _core.snapshot(label)


def stop(*, retention_sites: int = 0) -> dict[str, int]:
    """Stop tracking, complete the capture and return its statistics.

    With retention_sites > 0, the capture also records why the surviving objects of
    that many of the largest sites are alive (reference paths, leak suspects, cycles).
    """
    return session.end(retention_sites)


def why(obj: object, *, max_paths: int = 5) -> list[Path]:
    """The reference paths that keep obj alive, the shortest from a root first.

    Then one path through each other object that refers to obj, up to max_paths.
    Works with or without tracking. The caller's own local variables count only
    when nothing else reaches obj.
    """
    from .reading.retention import paths_of

    # This frame and the caller's are the ones that merely hold obj.
    return paths_of(obj, max_paths=max_paths, caller_frames=2)


def is_tracking() -> bool:
    return _core.is_tracking()


def load(path: str | os.PathLike[str], *, allow_partial: bool = False) -> Capture:
    """Read and validate a capture file.

    A partial capture (its process died before tracking stopped) raises CaptureError
    unless ``allow_partial`` is True; then it is read up to its last complete snapshot
    and its ``complete`` attribute is False. ``leaktrace report``, unlike this function,
    reads partial captures by default and says so in the report.
    """
    from .reading.capture import Capture

    return Capture(path, allow_partial=allow_partial)


def load_ipython_extension(ipython: Any) -> None:
    """``%load_ext leaktrace``: registers the ``%%leaktrace`` cell magic."""
    from .integrations.ipython import load_ipython_extension as load

    load(ipython)


_API = ("track", "check", "no_growth", "LeakError", "parse_size")


def __getattr__(name: str) -> Any:
    if name in ("Capture", "Frame", "Site"):
        from . import reading

        return getattr(reading, name)
    if name in _API:
        from . import api

        return getattr(api, name)
    if name == "diff":  # (in compare.py: a submodule named diff would shadow it)
        from .reading.compare import diff

        return diff
    if name == "Path":
        from .reading import retention

        return retention.Path
    raise AttributeError(f"module 'leaktrace' has no attribute {name!r}")
