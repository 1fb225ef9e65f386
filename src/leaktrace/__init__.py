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
    from .api import LeakError, check, no_growth, parse_size, track
    from .capture import Capture, Frame, Site
    from .compare import diff
    from .retention import Path

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
    interval: float | None = None,
    native_allocs: bool = True,
    native_frames: bool = False,
    sample_bytes: int = 0,
    sample_seed: int | None = None,
    follow_children: bool = False,
) -> None:
    """Start tracking every Python allocation into a new capture file.

    With ``interval`` (seconds), a native thread also snapshots live memory that often.
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
    if sample_bytes < 0:
        raise ValueError("sample_bytes must not be negative")
    argv = " ".join(sys.argv) if sys.argv else ""
    meta = session_meta(f"leaktrace.start() in {argv}".strip())
    meta["native_allocs"] = str(int(native_allocs))
    meta["native_frames"] = str(int(native_frames))
    _core.start(
        os.fspath(path),
        max_depth,
        meta,
        native_allocs,
        native_frames,
        sample_bytes=sample_bytes,
        sample_seed=sample_seed,
        follow_fork=follow_children,
    )
    if interval:
        try:
            _core.start_timer(interval)
        except BaseException:
            _core.stop()
            raise
    if follow_children:
        from . import _children

        _children.enable(os.fspath(path), max_depth, sample_bytes)


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
    children = sys.modules.get(f"{__name__}._children")
    if children is not None:
        children.disable()  # type: ignore[attr-defined]
    return _core.stop(retention_sites=retention_sites)


def why(obj: object, *, max_paths: int = 5) -> list[Path]:
    """The reference paths that keep obj alive, the shortest from a root first.

    Then one path through each other object that refers to obj, up to max_paths.
    Works with or without tracking. The caller's own local variables count only
    when nothing else reaches obj.
    """
    from .retention import paths_of

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
    from .capture import Capture

    return Capture(path, allow_partial=allow_partial)


def load_ipython_extension(ipython: Any) -> None:
    """``%load_ext leaktrace``: registers the ``%%leaktrace`` cell magic."""
    from .ipython import load_ipython_extension as load

    load(ipython)


_API = ("track", "check", "no_growth", "LeakError", "parse_size")


def __getattr__(name: str) -> Any:
    if name in ("Capture", "Frame", "Site"):
        from . import capture

        return getattr(capture, name)
    if name in _API:
        from . import api

        return getattr(api, name)
    if name == "diff":  # (in compare.py: a submodule named diff would shadow it)
        from .compare import diff

        return diff
    if name == "Path":
        from . import retention

        return retention.Path
    raise AttributeError(f"module 'leaktrace' has no attribute {name!r}")
