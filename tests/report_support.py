"""Shared by the report tests: a crafted capture with exact figures, and the tools.

The capture (``sample_capture``) holds three stacks, two snapshots and a truncated
stack, with every figure chosen by hand, so the reports' output can be checked exactly:

    node 3  <module> a.py:10 > main a.py:5 > handle a.py:20
    node 4  <module> a.py:10 > main a.py:5 > work b.py:7
    node 6  [truncated] > deep c.py:3

    snapshot #0 (mark "warm", 1 s, heap 6000): node 3 3 blocks 4000 B, node 4 2 blocks 2000 B
    snapshot #1 (final, 2 s, heap 3600):       node 3 1 block 1500 B (5 allocations, 6000 B)
                                               node 4 3 blocks 2000 B (4 allocations, 2600 B)
                                               node 6 1 block 100 B (1 allocation, 100 B)
"""

from __future__ import annotations

import copy
import os
import shutil
from pathlib import Path
from typing import Any

import pytest
from capture_craft import (
    REC_END,
    REC_FRAME,
    REC_NODE,
    REC_SNAPSHOT,
    REC_STATS,
    REC_STRING,
    header,
    record,
    varints,
)

ROOT = Path(__file__).resolve().parent.parent

STRINGS = ["<module>", "/app/a.py", "main", "handle", "work", "/app/b.py", "deep", "/app/c.py",
           "<truncated>", "", "warm"]  # fmt: skip
# function, file (string ids), line; frame 0 is the truncation marker
FRAMES = [(8, 9, 0), (0, 1, 10), (2, 1, 5), (3, 1, 20), (4, 5, 7), (6, 7, 3)]
NODES = [(0, 1), (1, 2), (2, 3), (2, 4), (0, 0), (5, 5)]  # parent, frame; ids from 1


def _zigzag(v: int) -> int:
    return (v << 1) ^ (v >> 63)


def _snapshot(seq: int, kind: int, time_ns: int, label: int, heap: int, count: int,
              sites: list[tuple[int, int, int, int, int]]) -> bytes:  # fmt: skip
    out = varints(seq, kind, time_ns, label, heap, count, len(sites))
    previous = 0
    for node, *values in sites:
        out += varints(node - previous, *values)
        previous = node
    return record(REC_SNAPSHOT, out)


def sample_parts() -> tuple[bytes, bytes, bytes]:
    """The capture in three pieces: up to and including snapshot #0, snapshot #1, the rest."""
    head = header() + b"".join(record(REC_STRING, s.encode()) for s in STRINGS)
    head += b"".join(record(REC_FRAME, varints(f, fi, _zigzag(ln))) for f, fi, ln in FRAMES)
    head += b"".join(record(REC_NODE, varints(p, f)) for p, f in NODES)
    head += _snapshot(
        0, 1, 1_000_000_000, 11, 6000, 5, [(3, 3, 4000, 3, 4000), (4, 2, 2000, 2, 2000)]
    )
    second = _snapshot(
        1, 2, 2_000_000_000, 0, 3600, 5,
        [(3, 1, 1500, 5, 6000), (4, 3, 2000, 4, 2600), (6, 1, 100, 1, 100)],
    )  # fmt: skip
    tail = record(REC_STATS, varints(9, 7000, 8700, 10, 5, 4096, 0, 0, 2_500_000_000, 64))
    tail += record(REC_END, varints(len(STRINGS), len(FRAMES), len(NODES) + 1, 2))
    return head, second, tail


def sample_capture() -> bytes:
    return b"".join(sample_parts())


def pprof_binary() -> str:
    """The real pprof, built by scripts/test.sh from Debian's source package."""
    for candidate in (os.environ.get("LEAKTRACE_PPROF"), str(ROOT / ".venv/tools/pprof")):
        if candidate and os.access(candidate, os.X_OK):
            return candidate
    found = shutil.which("pprof")
    if found:
        return found
    pytest.fail("pprof not found: scripts/test.sh builds it into .venv/tools/pprof")


def site_stack(doc: dict[str, Any], site: dict[str, Any]) -> list[dict[str, Any]]:
    """A site's stack in a JSON document (schema version 2): the frames its numbers name
    in the document's frame table, innermost first. Every number must name one."""
    frames = doc["frames"]
    for n in site["stack"]:
        assert isinstance(n, int) and 0 <= n < len(frames), (n, len(frames))
    return [frames[n] for n in site["stack"]]


def with_stacks(doc: dict[str, Any]) -> dict[str, Any]:
    """A copy of a JSON report or diff document with every stack (the sites', the
    cycles' sites') written out as its frames, for tests that look at frames."""
    out = copy.deepcopy(doc)
    sites = [*out.get("leaks", []), *out.get("sites", [])]
    sites += [s for cycle in out.get("cycles", []) for s in cycle["sites"]]
    for site in sites:
        site["stack"] = site_stack(doc, site)
    return out
