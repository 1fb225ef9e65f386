"""Exact accounting: the bytes and blocks of known allocations at known lines.

The allocations are made by the test-only extension ``ltx_testext`` (built by
conftest.py), whose calls allocate exactly the requested block through one
PyMem domain and nothing else. Every allocating line carries a ``# @name``
marker; ltx_support.marker_lines() turns the markers into line numbers, and the
capture must charge each such line exactly what was allocated on it.

Allocating lines never hold anything but the call into ltx_testext and a
store to a local: a Python-level call or a container growing on the same line
would also be charged to it.
"""

from __future__ import annotations

import errno
import gc
import sys

import pytest
from ltx_support import STAT_KEYS, at, marker_lines, python_stack, sites_at

import leaktrace
from leaktrace import Frame, Site, _core

THIS_FILE = (lambda: None).__code__.co_filename
LINE = marker_lines(THIS_FILE)

DOMAINS = ("raw", "mem", "obj")
# Distinct odd sizes, so that bytes charged to the wrong line cannot add up right.
MALLOC_SIZE = {"raw": 1_237, "mem": 2_459, "obj": 3_671}
# Larger than pymalloc's small-object limit, so that OBJ goes to its RAW fallback.
LARGE_SIZE = 100_003
REPEATS = 5


@pytest.fixture
def capture_path(tmp_path):
    return str(tmp_path / "exact.ltc")


def malloc_fn(ext, domain):
    return getattr(ext, f"{domain}_malloc")


# ---- malloc ----


def test_malloc_exact_bytes_and_count_per_domain(ext, capture_path):
    _core.start(capture_path)
    h_raw = ext.raw_malloc(MALLOC_SIZE["raw"])  # @malloc-raw
    h_mem = ext.mem_malloc(MALLOC_SIZE["mem"])  # @malloc-mem
    h_obj = ext.obj_malloc(MALLOC_SIZE["obj"])  # @malloc-obj
    h_large = ext.obj_malloc(LARGE_SIZE)  # @malloc-obj-large
    loop = []
    for _ in range(REPEATS):
        h = ext.mem_malloc(MALLOC_SIZE["mem"])  # @malloc-mem-loop
        loop.append(h)
    _core.stop()
    ext.raw_free(h_raw)
    ext.mem_free(h_mem)
    ext.obj_free(h_obj)
    ext.obj_free(h_large)
    for h in loop:
        ext.mem_free(h)
    capture = leaktrace.load(capture_path)

    for domain in DOMAINS:
        t = at(capture, THIS_FILE, LINE[f"malloc-{domain}"])
        n = MALLOC_SIZE[domain]
        assert t[:4] == (n, 1, n, 1), domain
    t = at(capture, THIS_FILE, LINE["malloc-obj-large"])
    # pymalloc hands a large block to RAW: it must be recorded once, not twice.
    assert t[:4] == (LARGE_SIZE, 1, LARGE_SIZE, 1)
    t = at(capture, THIS_FILE, LINE["malloc-mem-loop"])
    n = REPEATS * MALLOC_SIZE["mem"]
    assert t[:4] == (n, REPEATS, n, REPEATS)
    # Every iteration ran the same instruction under the same stack: one node.
    assert t.sites == 1


def test_malloc_site_has_the_full_calling_stack(ext, capture_path):
    _core.start(capture_path)
    expected = python_stack(sys._getframe())
    h = ext.raw_malloc(MALLOC_SIZE["raw"])  # @stack-raw
    _core.stop()
    ext.raw_free(h)
    capture = leaktrace.load(capture_path)

    sites = sites_at(capture, THIS_FILE, LINE["stack-raw"])
    assert len(sites) == 1
    innermost = Frame("test_malloc_site_has_the_full_calling_stack", THIS_FILE, LINE["stack-raw"])
    # The outer frames are pytest's: whatever they are, they are on both stacks.
    depth = min(len(expected), 64)
    assert sites[0].stack == (innermost, *expected[1:depth])
    assert sites[0].truncated == (len(expected) > 64)


def test_freed_blocks_leave_no_live_bytes(ext, capture_path):
    _core.start(capture_path)
    h_raw = ext.raw_malloc(MALLOC_SIZE["raw"])  # @freed-raw
    h_mem = ext.mem_malloc(MALLOC_SIZE["mem"])  # @freed-mem
    h_obj = ext.obj_malloc(MALLOC_SIZE["obj"])  # @freed-obj
    kept = ext.obj_malloc(MALLOC_SIZE["obj"])  # @freed-kept
    ext.raw_free(h_raw)  # @free-raw
    ext.mem_free(h_mem)  # @free-mem
    ext.obj_free(h_obj)  # @free-obj
    _core.stop()
    ext.obj_free(kept)
    capture = leaktrace.load(capture_path)

    for domain in DOMAINS:
        t = at(capture, THIS_FILE, LINE[f"freed-{domain}"])
        n = MALLOC_SIZE[domain]
        assert t[:4] == (0, 0, n, 1), domain
        # A free allocates nothing: its line is no site.
        assert sites_at(capture, THIS_FILE, LINE[f"free-{domain}"]) == []
    t = at(capture, THIS_FILE, LINE["freed-kept"])
    n = MALLOC_SIZE["obj"]
    assert t[:4] == (n, 1, n, 1)


# ---- calloc ----

CALLOC_ARGS = {"raw": (17, 31), "mem": (7, 113), "obj": (3, 41)}


def test_calloc_counts_nelem_times_elsize(ext, capture_path):
    _core.start(capture_path)
    h_raw = ext.raw_calloc(*CALLOC_ARGS["raw"])  # @calloc-raw
    h_mem = ext.mem_calloc(*CALLOC_ARGS["mem"])  # @calloc-mem
    h_obj = ext.obj_calloc(*CALLOC_ARGS["obj"])  # @calloc-obj
    h_freed = ext.raw_calloc(*CALLOC_ARGS["raw"])  # @calloc-freed
    ext.raw_free(h_freed)
    _core.stop()
    ext.raw_free(h_raw)
    ext.mem_free(h_mem)
    ext.obj_free(h_obj)
    capture = leaktrace.load(capture_path)

    for domain in DOMAINS:
        nelem, elsize = CALLOC_ARGS[domain]
        t = at(capture, THIS_FILE, LINE[f"calloc-{domain}"])
        n = nelem * elsize
        assert t[:4] == (n, 1, n, 1), domain
    t = at(capture, THIS_FILE, LINE["calloc-freed"])
    n = CALLOC_ARGS["raw"][0] * CALLOC_ARGS["raw"][1]
    assert t[:4] == (0, 0, n, 1)


# ---- realloc ----

REALLOC_SIZES = {"raw": (101, 50_011, 211), "mem": (303, 40_009, 97), "obj": (77, 30_011, 5)}


@pytest.mark.parametrize("domain", DOMAINS)
def test_realloc_moves_the_block_to_the_reallocating_line(ext, capture_path, domain):
    first, grown, shrunk = REALLOC_SIZES[domain]
    malloc = getattr(ext, f"{domain}_malloc")
    realloc = getattr(ext, f"{domain}_realloc")
    free = getattr(ext, f"{domain}_free")
    _core.start(capture_path)
    h = malloc(first)  # @realloc-first
    h = realloc(h, grown)  # @realloc-grow
    h = realloc(h, shrunk)  # @realloc-shrink
    _core.stop()
    free(h)
    capture = leaktrace.load(capture_path)

    t = at(capture, THIS_FILE, LINE["realloc-first"])
    assert t[:4] == (0, 0, first, 1)
    t = at(capture, THIS_FILE, LINE["realloc-grow"])
    assert t[:4] == (0, 0, grown, 1)
    t = at(capture, THIS_FILE, LINE["realloc-shrink"])
    assert t[:4] == (shrunk, 1, shrunk, 1)
    # Two reallocs: two frees of the old block, three allocations in all.
    stats = capture.stats
    assert stats["total_allocations"] >= 3
    assert stats["total_frees"] >= 2


def test_realloc_of_a_block_from_before_tracking(ext, capture_path):
    """A block allocated before start is not tracked; its realloc is an allocation."""
    h = ext.mem_malloc(MALLOC_SIZE["mem"])
    _core.start(capture_path)
    h = ext.mem_realloc(h, LARGE_SIZE)  # @realloc-untracked
    _core.stop()
    ext.mem_free(h)
    t = at(leaktrace.load(capture_path), THIS_FILE, LINE["realloc-untracked"])
    assert t[:4] == (LARGE_SIZE, 1, LARGE_SIZE, 1)


def test_free_of_a_block_from_before_tracking_is_ignored(ext, capture_path):
    before = ext.raw_malloc(LARGE_SIZE)
    _core.start(capture_path)
    h = ext.raw_malloc(MALLOC_SIZE["raw"])  # @untracked-neighbour
    ext.raw_free(before)
    stats = _core.stop()
    ext.raw_free(h)
    capture = leaktrace.load(capture_path)
    t = at(capture, THIS_FILE, LINE["untracked-neighbour"])
    n = MALLOC_SIZE["raw"]
    assert t[:4] == (n, 1, n, 1)
    # Nothing went negative: the live heap is the sum of the live sites.
    assert capture.final.heap_bytes == sum(s.bytes for s in capture.sites())
    assert capture.final.heap_count == stats["total_allocations"] - stats["total_frees"]


# ---- statistics ----


def test_stats_relations_for_a_controlled_sequence(ext, capture_path):
    a, b, c, d = 1_000_003, 2_000_003, 3_000_017, 500_009
    _core.start(capture_path, max_depth=100)
    ha = ext.raw_malloc(a)  # @seq-a
    hb = ext.mem_malloc(b)  # @seq-b
    hc = ext.obj_malloc(c)  # @seq-c
    _core.snapshot("all three live")
    ext.raw_free(ha)
    ext.mem_free(hb)
    ext.obj_free(hc)
    hd = ext.raw_malloc(d)  # @seq-d
    stats = _core.stop()
    ext.raw_free(hd)
    capture = leaktrace.load(capture_path)

    # The file holds the statistics stop() returned.
    assert capture.stats == stats
    assert set(stats) == STAT_KEYS
    assert stats["max_depth"] == 100
    assert stats["dropped_allocations"] == 0
    # One thread, always holding the GIL: every allocation has a stack.
    assert stats["no_stack_allocations"] == 0
    assert stats["duration_ns"] > 0
    assert stats["tracker_memory_bytes"] > 0

    mark, final = capture.snapshots
    assert (mark.kind, mark.label) == ("mark", "all three live")
    assert (final.kind, final.label) == ("final", None)
    assert mark.heap_bytes >= a + b + c
    assert mark.heap_count >= 3
    assert stats["peak_bytes"] >= mark.heap_bytes
    assert stats["peak_bytes"] >= final.heap_bytes
    assert stats["total_allocated_bytes"] >= a + b + c + d
    assert stats["total_allocated_bytes"] >= stats["peak_bytes"]
    assert stats["total_allocations"] >= 4
    assert stats["total_frees"] >= 3

    # The statistics and the sites describe the same allocations.
    sites = capture.sites()
    assert sum(s.alloc_bytes for s in sites) == stats["total_allocated_bytes"]
    assert sum(s.alloc_count for s in sites) == stats["total_allocations"]
    assert sum(s.bytes for s in sites) == final.heap_bytes
    assert sum(s.count for s in sites) == final.heap_count
    assert final.heap_count == stats["total_allocations"] - stats["total_frees"]
    mark_sites = capture.sites(mark)
    assert sum(s.bytes for s in mark_sites) == mark.heap_bytes
    assert sum(s.count for s in mark_sites) == mark.heap_count

    for name, size in (("seq-a", a), ("seq-b", b), ("seq-c", c)):
        t = at(capture, THIS_FILE, LINE[name], mark)
        assert t[:4] == (size, 1, size, 1), name
        t = at(capture, THIS_FILE, LINE[name])
        assert t[:4] == (0, 0, size, 1), name
    t = at(capture, THIS_FILE, LINE["seq-d"])
    assert t[:4] == (d, 1, d, 1)
    assert sites_at(capture, THIS_FILE, LINE["seq-d"], mark) == []


def test_stats_while_tracking_follow_the_live_heap(ext, capture_path):
    """_core.stats() during a session: the live heap moves by the block."""
    size = 4_000_037
    gc.collect()
    gc.disable()  # a collection between two reads would free unrelated memory
    try:
        _core.start(capture_path)
        first = _core.stats()
        h = ext.raw_malloc(size)
        second = _core.stats()
        ext.raw_free(h)
        third = _core.stats()
        stats = _core.stop()
    finally:
        gc.enable()
    # Each stats() allocates its own dict after reading the counters, so
    # between two reads the heap grows by the previous dict and the block.
    grown = second["heap_bytes"] - first["heap_bytes"]
    assert size < grown < size + 10_000
    assert second["heap_count"] > first["heap_count"]
    assert third["heap_bytes"] - second["heap_bytes"] < 10_000
    assert third["heap_bytes"] < second["heap_bytes"] - size + 10_000
    assert second["total_allocated_bytes"] - first["total_allocated_bytes"] >= size
    assert stats["peak_bytes"] >= second["heap_bytes"]
    assert first["max_depth"] == 64


# ---- stack depth ----

RECURSION_DEPTH = 100
DEEP_SIZE = 7_919


def recurse(ext, levels: int, out: dict):
    if levels > 1:
        return recurse(ext, levels - 1, out)  # @recurse-call
    out["stack"] = python_stack(sys._getframe())
    return ext.raw_malloc(DEEP_SIZE)  # @recurse-alloc


def file_stacks(path: str, file: str, line: int) -> list[list[tuple[str, str, int]]]:
    """The stacks of the final snapshot's sites innermost at file:line, read
    straight from the file's node chains (truncation marker included)."""
    raw = _core.read_capture(path)
    frames, nodes = raw["frames"], raw["nodes"]
    stacks = []
    for node, *_ in raw["snapshots"][-1]["sites"]:
        stack = []
        while node:
            node, frame = nodes[node]
            stack.append(frames[frame])
        if stack and stack[0][1:] == (file, line):
            stacks.append(stack)
    return stacks


MARKER = ("<truncated>", "", -1)  # frame 0 of every capture


def deep_allocation(ext, capture_path, max_depth: int) -> tuple[Site, list[Frame]]:
    """Allocates at the bottom of RECURSION_DEPTH frames; returns the site of
    that allocation and the Python stack at that point."""
    out: dict = {}
    _core.start(capture_path, max_depth=max_depth)
    h = recurse(ext, RECURSION_DEPTH, out)  # @recurse-start
    _core.stop()
    ext.raw_free(h)
    sites = sites_at(leaktrace.load(capture_path), THIS_FILE, LINE["recurse-alloc"])
    assert len(sites) == 1
    assert (sites[0].bytes, sites[0].count) == (DEEP_SIZE, 1)
    python = out["stack"]
    python[0] = Frame(python[0].function, python[0].file, LINE["recurse-alloc"])
    # The file holds the same stack, with the marker as outermost frame when
    # the stack was truncated.
    (in_file,) = file_stacks(capture_path, THIS_FILE, LINE["recurse-alloc"])
    marker = [MARKER] if sites[0].truncated else []
    assert in_file == [(f.function, f.file, f.line) for f in sites[0].stack] + marker
    return sites[0], python


def test_deep_stack_is_recorded_in_full(ext, capture_path):
    site, python = deep_allocation(ext, capture_path, 256)
    assert len(python) > RECURSION_DEPTH + 1
    assert len(python) <= 256, "pytest's own stack is too deep for this test"
    assert not site.truncated
    stack = site.stack
    assert stack == tuple(python)
    assert stack[0] == Frame("recurse", THIS_FILE, LINE["recurse-alloc"])
    assert stack[1:RECURSION_DEPTH] == (Frame("recurse", THIS_FILE, LINE["recurse-call"]),) * (
        RECURSION_DEPTH - 1
    )
    assert stack[RECURSION_DEPTH] == Frame("deep_allocation", THIS_FILE, LINE["recurse-start"])
    assert all(f.function != "<truncated>" for f in stack)


@pytest.mark.parametrize("max_depth", [1, 2, 16, 100])
def test_deep_stack_is_truncated_at_max_depth(ext, capture_path, max_depth):
    site, python = deep_allocation(ext, capture_path, max_depth)
    assert len(python) > max_depth
    # The innermost max_depth frames; the file adds the marker below them.
    assert site.truncated
    assert site.stack == tuple(python[:max_depth])
    (in_file,) = file_stacks(capture_path, THIS_FILE, LINE["recurse-alloc"])
    assert len(in_file) == max_depth + 1
    assert in_file[-1] == MARKER


def test_stack_exactly_max_depth_deep_is_not_truncated(ext, capture_path):
    _, python = deep_allocation(ext, capture_path, 256)
    exact = len(python)
    site, python = deep_allocation(ext, capture_path + ".exact", exact)
    assert len(python) == exact
    assert (site.stack, site.truncated) == (tuple(python), False)
    site, python = deep_allocation(ext, capture_path + ".less", exact - 1)
    assert (site.stack, site.truncated) == (tuple(python[: exact - 1]), True)


# ---- snapshots ----


def test_snapshot_labels_kinds_and_live_sets(ext, capture_path):
    _core.start(capture_path)
    h1 = ext.mem_malloc(MALLOC_SIZE["mem"])  # @snap-first
    seq0 = _core.snapshot("phase one")
    h2 = ext.obj_malloc(MALLOC_SIZE["obj"])  # @snap-second
    ext.mem_free(h1)
    seq1 = _core.snapshot()
    seq2 = _core.snapshot("fase dos \u00e9\u4e2d\U0001f600")
    _core.stop()
    ext.obj_free(h2)
    capture = leaktrace.load(capture_path)

    assert (seq0, seq1, seq2) == (0, 1, 2)
    assert [(s.seq, s.kind, s.label) for s in capture.snapshots] == [
        (0, "mark", "phase one"),
        (1, "mark", None),
        (2, "mark", "fase dos \u00e9\u4e2d\U0001f600"),
        (3, "final", None),
    ]
    first, second = LINE["snap-first"], LINE["snap-second"]
    mem, obj = MALLOC_SIZE["mem"], MALLOC_SIZE["obj"]
    s0, s1, _, final = capture.snapshots
    assert at(capture, THIS_FILE, first, s0)[:2] == (mem, 1)
    assert sites_at(capture, THIS_FILE, second, s0) == []
    for snap in (s1, final):
        assert at(capture, THIS_FILE, first, snap)[:4] == (0, 0, mem, 1)
        assert at(capture, THIS_FILE, second, snap)[:4] == (obj, 1, obj, 1)
    times = [s.time_ns for s in capture.snapshots]
    assert times == sorted(times)


def test_snapshot_label_must_be_a_string(capture_path):
    _core.start(capture_path)
    try:
        with pytest.raises(TypeError):
            _core.snapshot(42)
    finally:
        _core.stop()


def test_snapshot_without_tracking_raises():
    with pytest.raises(RuntimeError):
        _core.snapshot("nothing")


# ---- errors ----


def test_start_twice_raises_and_keeps_the_first_session(ext, tmp_path):
    first, second = str(tmp_path / "first.ltc"), str(tmp_path / "second.ltc")
    _core.start(first)
    with pytest.raises(RuntimeError):
        _core.start(second)
    assert _core.is_tracking()
    h = ext.raw_malloc(MALLOC_SIZE["raw"])  # @after-second-start
    _core.stop()
    ext.raw_free(h)
    assert not (tmp_path / "second.ltc").exists()
    t = at(leaktrace.load(first), THIS_FILE, LINE["after-second-start"])
    assert t[:2] == (MALLOC_SIZE["raw"], 1)


def test_stop_without_start_raises():
    assert not _core.is_tracking()
    with pytest.raises(RuntimeError):
        _core.stop()


def test_stop_twice_raises(capture_path):
    _core.start(capture_path)
    _core.stop()
    with pytest.raises(RuntimeError):
        _core.stop()


@pytest.mark.parametrize("max_depth", [0, -1, _core.MAX_DEPTH_LIMIT + 1, 2**31 - 1])
def test_bad_max_depth_raises_value_error(tmp_path, max_depth):
    path = tmp_path / "bad.ltc"
    with pytest.raises(ValueError):
        _core.start(str(path), max_depth=max_depth)
    assert not _core.is_tracking()
    assert not path.exists()


@pytest.mark.parametrize("max_depth", [1, _core.MAX_DEPTH_LIMIT])
def test_max_depth_limits_are_accepted(capture_path, max_depth):
    _core.start(capture_path, max_depth=max_depth)
    assert _core.stop()["max_depth"] == max_depth


def test_unwritable_path_raises_os_error(tmp_path):
    missing = str(tmp_path / "no-such-dir" / "x.ltc")
    with pytest.raises(OSError) as info:
        _core.start(missing)
    assert info.value.errno == errno.ENOENT
    assert info.value.filename == missing
    assert not _core.is_tracking()

    with pytest.raises(OSError) as info:
        _core.start(str(tmp_path))  # a directory
    assert info.value.errno in (errno.EISDIR, errno.EEXIST)
    assert not _core.is_tracking()

    # Neither failure left a session open.
    ok = str(tmp_path / "ok.ltc")
    _core.start(ok)
    _core.stop()
    assert leaktrace.load(ok).complete


def test_meta_is_stored_verbatim(capture_path):
    meta = {"command": "python prog.py --flag", "python_version": "3.x", "\u00fcml": "\u00e4"}
    _core.start(capture_path, meta=meta)
    _core.stop()
    assert leaktrace.load(capture_path).meta == meta
