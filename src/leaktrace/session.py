"""One tracking session: its options, and the only call of ``_core.start``.

Every entry point (``leaktrace.start()``, ``track()``/``check()``, the pytest plugin,
``leaktrace run``'s child interpreter, children followed by ``--follow-children`` and
``leaktrace attach``) describes its session with one :class:`Options` and starts it
with :func:`begin`, so they share one set of defaults.

``leaktrace run`` hands its options to the interpreter that runs the program as one
JSON object (:meth:`Options.to_json` / :meth:`Options.from_json`, validated on read).

This module is imported into tracked processes: it imports only what Python has
loaded at start-up (``json`` is imported by :meth:`Options.from_json` alone).
"""

from __future__ import annotations

import os
import sys
import time

from . import __version__, _core

TYPE_CHECKING = False  # not typing's, which a tracked process need not import
if TYPE_CHECKING:
    from typing import Any

DEFAULT_DEPTH = 64  # Python frames kept per stack
# The sampling rate of ``leaktrace run --sample``: mean bytes allocated between two
# recorded allocations (docs/sampling.md).
DEFAULT_SAMPLE_BYTES = 512 * 1024
MAX_INTERVAL = 86400.0
MIN_INTERVAL = 0.001

Parent = tuple[int, int, str]  # (link kind, parent pid, parent capture)


class OptionsError(ValueError):
    """Options that cannot start a session."""


_FIELDS = (  # in the order of the arguments
    "output",
    "depth",
    "native_allocs",  # the malloc family and mmap of C code
    "native_frames",  # and the C frames of those allocations
    "interval",  # seconds between interval snapshots; 0: the default schedule
    "snapshots",  # without an interval: snapshots by work and time (lt_schedule.h)
    "sample_bytes",  # 0: record every allocation
    "sample_seed",
    "follow_children",
    "tracker_memory_limit",  # for tests: the tracker's own memory runs out past it
)


class Options:
    """What a session records. ``output`` is the capture file.

    A frozen record written out rather than a dataclass: ``dataclasses`` (and the
    ``inspect`` and ``ast`` it imports) is not among what Python loads at start-up.
    """

    __slots__ = _FIELDS
    output: str
    depth: int
    native_allocs: bool
    native_frames: bool
    interval: float
    snapshots: bool
    sample_bytes: int
    sample_seed: int | None
    follow_children: bool
    tracker_memory_limit: int

    def __init__(
        self,
        output: str,
        depth: int = DEFAULT_DEPTH,
        native_allocs: bool = True,
        native_frames: bool = False,
        interval: float = 0.0,
        snapshots: bool = False,
        sample_bytes: int = 0,
        sample_seed: int | None = None,
        follow_children: bool = False,
        tracker_memory_limit: int = 0,
    ) -> None:
        values = (
            *(output, depth, native_allocs, native_frames, interval, snapshots),
            *(sample_bytes, sample_seed, follow_children, tracker_memory_limit),
        )
        for name, value in zip(_FIELDS, values, strict=True):
            object.__setattr__(self, name, value)

    def __setattr__(self, name: str, value: object) -> None:
        raise AttributeError(f"Options are frozen: cannot set {name}")

    def __delattr__(self, name: str) -> None:
        raise AttributeError(f"Options are frozen: cannot delete {name}")

    def as_dict(self) -> dict[str, object]:
        return {name: getattr(self, name) for name in _FIELDS}

    def __eq__(self, other: object) -> bool:
        if not isinstance(other, Options):
            return NotImplemented
        return self.as_dict() == other.as_dict()

    def __hash__(self) -> int:
        return hash(tuple(self.as_dict().values()))

    def __repr__(self) -> str:
        fields = ", ".join(f"{name}={value!r}" for name, value in self.as_dict().items())
        return f"Options({fields})"

    def validate(self) -> Options:
        """Returns self, or raises OptionsError naming the first bad option."""
        if not isinstance(self.output, str) or not self.output:
            raise OptionsError("output must be a non-empty path")
        for name in ("depth", "sample_bytes", "tracker_memory_limit"):
            value = getattr(self, name)
            if not isinstance(value, int) or isinstance(value, bool):
                raise OptionsError(f"{name} must be an int")
        for name in ("native_allocs", "native_frames", "follow_children", "snapshots"):
            if not isinstance(getattr(self, name), bool):
                raise OptionsError(f"{name} must be a bool")
        if not 1 <= self.depth <= _core.MAX_DEPTH_LIMIT:
            raise OptionsError(f"depth must be between 1 and {_core.MAX_DEPTH_LIMIT}")
        if not isinstance(self.interval, (int, float)) or isinstance(self.interval, bool):
            raise OptionsError("interval must be a number")
        if self.interval and not MIN_INTERVAL <= self.interval <= MAX_INTERVAL:
            raise OptionsError(
                f"interval must be between {MIN_INTERVAL} and {MAX_INTERVAL:.0f} seconds"
            )
        if self.native_frames and not self.native_allocs:
            raise OptionsError("native frames need native allocation tracking")
        if self.sample_bytes < 0:
            raise OptionsError("sample_bytes must not be negative")
        seed = self.sample_seed
        if seed is not None and (
            not isinstance(seed, int) or isinstance(seed, bool) or not 0 <= seed < 2**64
        ):
            raise OptionsError("sample_seed must be between 0 and 2**64 - 1")
        if self.tracker_memory_limit < 0:
            raise OptionsError("tracker_memory_limit must not be negative")
        return self

    def with_output(self, output: str) -> Options:
        copy = object.__new__(Options)
        for name in _FIELDS:
            object.__setattr__(copy, name, output if name == "output" else getattr(self, name))
        return copy

    def to_json(self) -> str:
        import json

        return json.dumps(self.as_dict(), separators=(",", ":"))

    @classmethod
    def from_dict(cls, data: object) -> Options:
        if not isinstance(data, dict):
            raise OptionsError("session options must be an object")
        known = set(_FIELDS)
        unknown = sorted(set(data) - known)
        if unknown:
            raise OptionsError(f"unknown session options: {', '.join(map(str, unknown))}")
        try:
            options = cls(**data)
        except TypeError as e:  # a required option is missing
            raise OptionsError(str(e)) from None
        return options.validate()

    @classmethod
    def from_json(cls, text: str) -> Options:
        import json

        try:
            data = json.loads(text)
        except ValueError as e:
            raise OptionsError(f"session options are not JSON: {e}") from None
        return cls.from_dict(data)


def session_meta(command: str) -> dict[str, str]:
    """The facts stored in a capture's META records."""
    return {
        "command": command,
        "python_version": ".".join(map(str, sys.version_info[:3])),
        "pid": str(os.getpid()),
        "leaktrace_version": __version__,
        "cwd": os.getcwd(),
        "platform": " ".join(os.uname()),
        "start_time_ns": str(time.time_ns()),  # wall clock, for pprof's time_nanos
    }


def begin(
    options: Options,
    command: str,
    *,
    parent: Parent | None = None,
    attached: bool = False,
    follow: bool = True,
) -> None:
    """Start tracking as options say; ``command`` goes into the capture's META.

    Starts the interval timer and, with ``follow_children``, following children
    (unless ``follow`` is False: the caller enables it later, as ``run`` does once
    its exit handlers are in place). On error nothing is left running.
    """
    options.validate()
    meta = session_meta(command)
    meta["native_allocs"] = str(int(options.native_allocs))
    meta["native_frames"] = str(int(options.native_frames))
    kwargs: dict[str, Any] = {}
    if parent is not None:
        kwargs["parent"] = parent
    if attached:
        kwargs["attached"] = True
    _core.start(
        options.output,
        options.depth,
        meta,
        options.native_allocs,
        options.native_frames,
        sample_bytes=options.sample_bytes,
        sample_seed=options.sample_seed,
        follow_fork=options.follow_children,
        **kwargs,
    )
    try:
        if options.tracker_memory_limit:
            _core._set_tracker_memory_limit(options.tracker_memory_limit)
        if options.interval:
            _core.start_timer(options.interval)
        elif options.snapshots:
            _core.start_timer()
    except BaseException:
        _core.stop()
        raise
    if follow and options.follow_children:
        follow_children(options)


def follow_children(options: Options, root: str | None = None) -> None:
    """Make children of this process track too (docs/children.md)."""
    from . import _children

    _children.enable(options, root=root)


def end(retention_sites: int = 0) -> dict[str, int]:
    """Stop following children, then stop tracking and complete the capture."""
    children = sys.modules.get(f"{__package__}._children")
    if children is not None:
        children.disable()
    return _core.stop(retention_sites=retention_sites)
