"""Exact accounting with threads: with the GIL, and in RAW without it.

The threads are started before tracking and kept alive until it stops, so
that the interpreter's own thread start-up and tear-down (which run partly
without any Python frame) stay out of the capture: the empty-stack (root)
site then holds exactly what ltx_testext allocated without the GIL.
A tiny switch interval makes the threads take turns as often as possible.
"""

from __future__ import annotations

import sys
import threading
from collections.abc import Callable
from contextlib import contextmanager

import pytest
from ltx_support import at, marker_lines, root

import leaktrace
from leaktrace import _core

THIS_FILE = (lambda: None).__code__.co_filename
LINE = marker_lines(THIS_FILE)

NTHREADS = 8
ROUNDS = 300
KEEP_EVERY = 25  # a block is kept every KEEP_EVERY rounds
KEPT = ROUNDS // KEEP_EVERY
TIMEOUT = 120


def keep_size(i: int) -> int:
    return 1_000 + 97 * i


def churn_size(i: int) -> int:
    return 64 + 13 * i


# One keeping line per thread, so that each thread's kept blocks have a line of
# their own. The domain varies with the thread.
KEEPERS: tuple[Callable, ...] = (
    lambda ext, n: ext.raw_malloc(n),  # @keep-0
    lambda ext, n: ext.mem_malloc(n),  # @keep-1
    lambda ext, n: ext.obj_malloc(n),  # @keep-2
    lambda ext, n: ext.raw_calloc(1, n),  # @keep-3
    lambda ext, n: ext.mem_calloc(n, 1),  # @keep-4
    lambda ext, n: ext.obj_calloc(1, n),  # @keep-5
    lambda ext, n: ext.raw_malloc(n),  # @keep-6
    lambda ext, n: ext.obj_malloc(n),  # @keep-7
)
FREES = {
    0: "raw_free",
    1: "mem_free",
    2: "obj_free",
    3: "raw_free",
    4: "mem_free",
    5: "obj_free",
    6: "raw_free",
    7: "obj_free",
}


class Crew:
    """Threads started before tracking that run their work when `go` is set,
    report through `done`, and exit only when `leave` is set."""

    def __init__(self) -> None:
        self.go = threading.Event()
        self.leave = threading.Event()
        self.threads: list[threading.Thread] = []
        self.finished = threading.Semaphore(0)
        self.errors: list[BaseException] = []
        self.results: dict[str, object] = {}

    def add(self, name: str, work: Callable[[], object]) -> None:
        def run() -> None:
            self.go.wait()
            try:
                self.results[name] = work()
            except BaseException as e:
                self.errors.append(e)
            finally:
                self.finished.release()
                self.leave.wait()

        self.threads.append(threading.Thread(target=run, name=name, daemon=True))

    def start(self) -> None:
        for t in self.threads:
            t.start()

    def run_all(self) -> None:
        """Lets the work run and waits until every thread has reported."""
        self.go.set()
        for _ in self.threads:
            assert self.finished.acquire(timeout=TIMEOUT), "a thread did not finish in time"

    def dismiss(self) -> None:
        self.go.set()
        self.leave.set()
        for t in self.threads:
            t.join(TIMEOUT)
            assert not t.is_alive()
        if self.errors:
            raise self.errors[0]


@contextmanager
def crew():
    c = Crew()
    switch = sys.getswitchinterval()
    sys.setswitchinterval(1e-6)
    try:
        yield c
    finally:
        sys.setswitchinterval(switch)
        c.dismiss()


def gil_worker(ext, i: int) -> list[int]:
    """ROUNDS allocations at the churn lines, each freed at once, and one kept
    every KEEP_EVERY rounds at the thread's own line. Returns the kept handles.

    The sizes are computed before the loop: on an allocating line, a Python call
    (a frame on 3.10) or arithmetic beyond the cached small ints would allocate."""
    keeper = KEEPERS[i]
    keep = keep_size(i)
    churn = churn_size(i)
    grown = 2 * churn
    kept = []
    for r in range(ROUNDS):
        h = ext.mem_malloc(churn)  # @churn
        ext.mem_free(h)
        if r % KEEP_EVERY == 0:
            h = keeper(ext, keep)
            kept.append(h)
        h = ext.obj_malloc(churn)  # @churn-realloc
        h = ext.obj_realloc(h, grown)  # @churn-realloc-to
        ext.obj_free(h)
    return kept


def test_gil_threads_exact_totals_per_line(ext, tmp_path):
    path = str(tmp_path / "threads.ltc")
    with crew() as c:
        for i in range(NTHREADS):
            c.add(f"gil-{i}", lambda i=i: gil_worker(ext, i))
        c.start()
        _core.start(path)
        c.run_all()
        stats = _core.stop()
    assert not c.errors
    for i in range(NTHREADS):
        free = getattr(ext, FREES[i])
        for h in c.results[f"gil-{i}"]:
            free(h)
    capture = leaktrace.load(path)

    for i in range(NTHREADS):
        t = at(capture, THIS_FILE, LINE[f"keep-{i}"])
        n = KEPT * keep_size(i)
        assert t[:4] == (n, KEPT, n, KEPT), f"thread {i}"
    churned = sum(churn_size(i) for i in range(NTHREADS)) * ROUNDS
    allocs = NTHREADS * ROUNDS
    assert at(capture, THIS_FILE, LINE["churn"])[:4] == (0, 0, churned, allocs)
    assert at(capture, THIS_FILE, LINE["churn-realloc"])[:4] == (0, 0, churned, allocs)
    assert at(capture, THIS_FILE, LINE["churn-realloc-to"])[:4] == (0, 0, 2 * churned, allocs)
    # Every thread held the GIL for all its allocations.
    assert stats["no_stack_allocations"] == 0
    assert stats["dropped_allocations"] == 0
    assert root(capture).alloc_count == 0
    sites = capture.sites()
    assert sum(s.bytes for s in sites) == capture.final.heap_bytes
    assert capture.final.heap_count == stats["total_allocations"] - stats["total_frees"]


NOGIL_SIZES = (211, 4_099, 65_537)  # one thread each
NOGIL_ROUNDS = 40
NOGIL_BATCH = 7
NOGIL_SURVIVE = 1  # of each batch, left live until the end
CHURN_THREADS = 2
CHURN_ITERATIONS = 50_000
CHURN_SIZES = (100, 1_000)
GIL_THREADS = 3
FILLER_SIZE = 48


class Overlap:
    """Makes the GIL threads run for as long as the threads without it do: the
    no-GIL work starts once a GIL thread runs, and the GIL threads go on
    allocating (at a line no test counts) until the no-GIL work is over."""

    def __init__(self, nogil_threads: int) -> None:
        self.gil_running = threading.Event()
        self.nogil_over = threading.Event()
        self._left = nogil_threads
        self._lock = threading.Lock()

    def nogil(self, work: Callable[[], object]) -> Callable[[], object]:
        def run() -> object:
            assert self.gil_running.wait(TIMEOUT)
            try:
                return work()
            finally:
                with self._lock:
                    self._left -= 1
                    if self._left == 0:
                        self.nogil_over.set()

        return run

    def gil(self, ext, i: int) -> Callable[[], list[int]]:
        def run() -> list[int]:
            self.gil_running.set()
            kept = gil_worker(ext, i)
            size = FILLER_SIZE
            while not self.nogil_over.is_set():
                h = ext.raw_malloc(size)  # @filler
                ext.raw_free(h)
            return kept

        return run


def nogil_worker(ext, size: int) -> list[int]:
    """Mallocs batches without the GIL, frees most of each without it too."""
    survivors: list[int] = []
    for _ in range(NOGIL_ROUNDS):
        handles = ext.raw_malloc_nogil(size, NOGIL_BATCH)
        ext.raw_free_nogil(handles[NOGIL_SURVIVE:])
        survivors.extend(handles[:NOGIL_SURVIVE])
    return survivors


# Repeated: how much the threads overlap is up to the scheduler.
@pytest.mark.parametrize("attempt", range(3))
def test_allocations_without_the_gil(ext, tmp_path, attempt):
    path = str(tmp_path / f"nogil-{attempt}.ltc")
    overlap = Overlap(CHURN_THREADS + len(NOGIL_SIZES))
    with crew() as c:
        for k in range(CHURN_THREADS):
            size = CHURN_SIZES[k]
            churn = overlap.nogil(lambda n=size: ext.raw_churn_nogil(n, CHURN_ITERATIONS))
            c.add(f"churn-{k}", churn)
        for size in NOGIL_SIZES:
            c.add(f"nogil-{size}", overlap.nogil(lambda n=size: nogil_worker(ext, n)))
        for i in range(GIL_THREADS):
            c.add(f"gil-{i}", overlap.gil(ext, i))
        c.start()
        _core.start(path)
        c.run_all()
        assert not c.errors
        _core.snapshot("survivors")
        survivors = [h for size in NOGIL_SIZES for h in c.results[f"nogil-{size}"]]
        ext.raw_free_nogil(survivors)
        stats = _core.stop()
    for i in range(GIL_THREADS):
        free = getattr(ext, FREES[i])
        for h in c.results[f"gil-{i}"]:
            free(h)
    capture = leaktrace.load(path)
    mark, final = capture.snapshots
    assert mark.label == "survivors"

    nogil_mallocs = len(NOGIL_SIZES) * NOGIL_ROUNDS * NOGIL_BATCH
    churn_mallocs = CHURN_THREADS * CHURN_ITERATIONS
    assert stats["no_stack_allocations"] >= nogil_mallocs + churn_mallocs
    assert stats["dropped_allocations"] == 0

    # The survivors are live at the root site, exactly; the rest was freed.
    survived = NOGIL_ROUNDS * NOGIL_SURVIVE
    t = root(capture, mark)
    assert t.bytes == survived * sum(NOGIL_SIZES)
    assert t.count == survived * len(NOGIL_SIZES)
    assert t.alloc_count >= nogil_mallocs + churn_mallocs
    nogil_bytes = NOGIL_ROUNDS * NOGIL_BATCH * sum(NOGIL_SIZES)
    assert t.alloc_bytes >= nogil_bytes + CHURN_ITERATIONS * sum(CHURN_SIZES)
    t = root(capture, final)
    assert (t.bytes, t.count) == (0, 0)
    # No allocation without the GIL was charged to a Python line: the filler
    # lines of the GIL threads hold only filler blocks.
    filler = at(capture, THIS_FILE, LINE["filler"])
    assert filler.alloc_bytes == FILLER_SIZE * filler.alloc_count
    assert filler[:2] == (0, 0)

    # The threads holding the GIL meanwhile are charged exactly as alone.
    for i in range(GIL_THREADS):
        t = at(capture, THIS_FILE, LINE[f"keep-{i}"], mark)
        n = KEPT * keep_size(i)
        assert t[:4] == (n, KEPT, n, KEPT), f"thread {i}"
    churned = sum(churn_size(i) for i in range(GIL_THREADS)) * ROUNDS
    allocs = GIL_THREADS * ROUNDS
    assert at(capture, THIS_FILE, LINE["churn"], mark)[:4] == (0, 0, churned, allocs)

    sites = capture.sites()
    assert sum(s.bytes for s in sites) == final.heap_bytes
    assert sum(s.alloc_bytes for s in sites) == stats["total_allocated_bytes"]
    assert final.heap_count == stats["total_allocations"] - stats["total_frees"]


def test_nogil_allocations_from_the_main_thread(ext, tmp_path):
    """With no other thread, a released GIL is held by nobody: still no stack."""
    path = str(tmp_path / "main-nogil.ltc")
    size, rounds = 3_001, 3
    _core.start(path)
    kept = []
    for _ in range(rounds):
        handles = ext.raw_malloc_nogil(size, 4)
        kept.append(handles[0])
        ext.raw_free_nogil(handles[1:])
    ext.raw_churn_nogil(size, 1_000)
    stats = _core.stop()
    ext.raw_free_nogil(kept)
    capture = leaktrace.load(path)
    t = root(capture)
    assert t[:2] == (rounds * size, rounds)
    assert t.alloc_count >= 4 * rounds + 1_000
    assert stats["no_stack_allocations"] >= 4 * rounds + 1_000
