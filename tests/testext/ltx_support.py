"""Helpers for the exact-accounting tests (importable once conftest.py has run).

Allocation lines are found by marker comments (``# @name``) in the test's own
source, never by calling a function on the allocating line: calling a Python
function may allocate (a frame object on 3.10) on the caller's line.
"""

from __future__ import annotations

import re
import sys
from pathlib import Path
from types import FrameType
from typing import NamedTuple

from leaktrace import Capture, Frame, Site

# The statistics every capture and stop() carry (docs/capture-format.md).
STAT_KEYS = frozenset(
    {
        "peak_bytes",
        "total_allocated_bytes",
        "total_allocations",
        "total_frees",
        "tracker_memory_bytes",
        "dropped_allocations",
        "no_stack_allocations",
        "duration_ns",
        "max_depth",
    }
)

_MARKER = re.compile(r"#\s*@([\w.-]+)\s*$")


def marker_lines(path: str) -> dict[str, int]:
    """Maps every ``# @name`` marker of a source file to its line number."""
    lines: dict[str, int] = {}
    for number, text in enumerate(Path(path).read_text(encoding="utf-8").splitlines(), 1):
        match = _MARKER.search(text)
        if match:
            name = match.group(1)
            if name in lines:
                raise ValueError(f"marker @{name} appears twice in {path}")
            lines[name] = number
    return lines


class Totals(NamedTuple):
    """Sums over sites: live bytes and blocks, then everything ever allocated."""

    bytes: int
    count: int
    alloc_bytes: int
    alloc_count: int
    sites: int  # how many stack nodes contributed


def totals(sites: list[Site]) -> Totals:
    return Totals(
        sum(s.bytes for s in sites),
        sum(s.count for s in sites),
        sum(s.alloc_bytes for s in sites),
        sum(s.alloc_count for s in sites),
        len(sites),
    )


def sites_at(capture: Capture, file: str, line: int, snapshot=None) -> list[Site]:
    """Sites whose innermost frame is file:line."""
    return [
        s
        for s in capture.sites(snapshot)
        if s.stack and s.stack[0].file == file and s.stack[0].line == line
    ]


def at(capture: Capture, file: str, line: int, snapshot=None) -> Totals:
    return totals(sites_at(capture, file, line, snapshot))


def root(capture: Capture, snapshot=None) -> Totals:
    """The site of the empty stack (allocations with no Python frame)."""
    return totals([s for s in capture.sites(snapshot) if not s.stack])


def code_name(frame: FrameType) -> str:
    """The name leaktrace records for a frame's function (qualified from 3.11)."""
    code = frame.f_code
    return code.co_qualname if sys.version_info >= (3, 11) else code.co_name


def python_stack(frame: FrameType) -> list[Frame]:
    """The Python frames from frame outwards, as leaktrace would record them."""
    stack = []
    f: FrameType | None = frame
    while f is not None:
        stack.append(Frame(code_name(f), f.f_code.co_filename, f.f_lineno))
        f = f.f_back
    return stack
