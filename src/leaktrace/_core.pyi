# Typed stubs of the C engine (src/core/module): every function and constant it exports.
# The capture dicts of read_capture() and read() are documented in docs/architecture.md.

from collections.abc import Sequence
from typing import Any, BinaryIO, overload

from typing_extensions import Buffer

class CaptureError(ValueError):
    """A capture file is unreadable, corrupt or truncated."""

MAX_DEPTH_LIMIT: int
FORMAT_MAJOR: int
LINK_FORK: int
LINK_EXEC: int

# ---- recording ----
def start(
    path: str,
    max_depth: int = 64,
    meta: dict[str, str] | None = None,
    native: bool = False,
    native_frames: bool = False,
    sample_bytes: int = 0,
    sample_seed: int | None = None,
    follow_fork: bool = False,
    parent: tuple[int, int, str] | None = None,
    attached: bool = False,
) -> None: ...
def snapshot(label: str | None = None, /) -> int: ...
def stop(retention_sites: int = 0) -> dict[str, int]: ...
def is_tracking() -> bool: ...
def stats() -> dict[str, int]: ...
def follow_fork(path: str, meta: dict[str, str], parent_capture: str, /) -> None: ...

# ---- running the program ----
def call_as_main(callable: Any, args: tuple[Any, ...], /) -> Any:
    """callable(*args) with no Python frame below it, as the interpreter calls __main__."""

def guard_sigterm() -> bool:
    """Repeat a SIGTERM to the main thread until sigterm_handled() (lt_pysignal.h)."""

def sigterm_handled() -> None:
    """The Python SIGTERM handler has run: stop repeating the signal."""

def hold_sigterm_for_fork() -> None:
    """Block SIGTERM until the fork returns in the parent (lt_pysignal.h)."""

def release_fork_hold() -> None:
    """In a forked child: unblock SIGTERM if hold_sigterm_for_fork() blocked it."""

# ---- interval snapshots ----
def start_timer(seconds: float = 0.0, /) -> None: ...
def stop_timer() -> None: ...
def timer_ticks() -> int: ...
def _timer_before_fork() -> None: ...
def _timer_after_fork_parent() -> None: ...

# ---- native allocations ----
def native_hook_address(symbol: str, /) -> int: ...
def native_patches() -> list[tuple[int, int]]: ...

# ---- heap analysis ----
def find_paths(
    objects: tuple[object, ...],
    max_paths: int = 5,
    dominators: bool = True,
    caller_frames: int = 1,
) -> dict[str, Any]: ...

# ---- reading ----
def read_capture(path: str, allow_partial: bool = False) -> dict[str, Any]: ...
def read(
    path: str,
    *,
    allow_partial: bool = False,
    own_prefix: bytes = b"",
    own_files: list[str] | tuple[str, ...] = (),
    include_all: bool = False,
    picks: list[int] | tuple[int, ...] = (),
    points: list[int] | None = None,
    max_points: int = 0,
    raw_snapshot: int = -2,
    progress_fd: int = -1,
    progress_delay: float = 0.5,
) -> dict[str, Any]: ...
def growth(
    live: bytes,
    alloc: bytes | None,
    xs: Sequence[float],
    seconds: Sequence[float] | None,
    /,
) -> tuple[bytes, bytes, bytes, bytes, bytes, bytes]: ...

GROWTH_CLASSES: tuple[str, ...]
GROWTH_REASONS: tuple[str, ...]

# ---- writing reports (src/core/module/lt_pyjson.h, lt_pyframes.h, lt_pyprofile.h) ----
def frame_table(
    nodes: Buffer, parent: Buffer, frame: Buffer, same: Buffer, /
) -> tuple[bytes, bytes]: ...
@overload
def json_rows(
    nrows: int,
    fields: Sequence[tuple[object, ...]],
    depth: int,
    file: None = None,
    compact: bool = False,
    /,
) -> str: ...
@overload
def json_rows(
    nrows: int,
    fields: Sequence[tuple[object, ...]],
    depth: int,
    file: BinaryIO,
    compact: bool = False,
    /,
) -> None: ...
def json_ints(values: Buffer, /) -> str: ...
def take(values: Buffer, indexes: Buffer, fill: Buffer = ..., /) -> bytes: ...
def positions(indexes: Buffer, size: int, /) -> bytes: ...
def rank_nodes(
    live_bytes: Buffer,
    peak_bytes: Buffer,
    alloc_bytes: Buffer,
    alloc_count: Buffer,
    peak_count: Buffer,
    /,
) -> bytes: ...
def pprof_samples(
    order: Buffer,
    parent: Buffer,
    frame: Buffer,
    alloc_count: Buffer,
    alloc_bytes: Buffer,
    live_count: Buffer,
    live_bytes: Buffer,
    frame_location: Buffer,
    root_location: int,
    labels: list[bytes | None] | None = None,
    /,
) -> tuple[bytes, bytes]: ...
def folded(
    parent: Buffer, frame: Buffer, live_bytes: Buffer, labels: Sequence[bytes], root_label: bytes, /
) -> bytes: ...
def speedscope_stacks(
    order: Buffer, parent: Buffer, frame: Buffer, nframes: int, weights: Sequence[Buffer], /
) -> tuple[list[str], bytes]: ...
def prune_tree(
    parent: Buffer, live_bytes: Buffer, peak_bytes: Buffer, /
) -> tuple[bytes, bytes]: ...

# ---- tests ----
def _set_tracker_memory_limit(bytes: int, /) -> None: ...
