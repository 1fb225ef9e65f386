# Typed stubs of the C engine (src/core/module): every function and constant it exports.
# The capture dicts of read_capture() and read() are documented in docs/architecture.md.

from typing import Any

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

# ---- interval snapshots ----
def start_timer(seconds: float, /) -> None: ...
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
def trends(series: bytes, npoints: int, xs: list[float], /) -> tuple[bytes, bytes, bytes]: ...

# ---- tests ----
def _set_tracker_memory_limit(bytes: int, /) -> None: ...
