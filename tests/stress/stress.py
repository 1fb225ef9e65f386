"""Load test: many threads allocate and free through every allocator domain and C's
malloc, with and without the GIL, for a given time, under tracking (``--native``
included); then the capture is checked exactly.

    python tests/stress/stress.py --threads 32 --seconds 600
    make -C tests/stress stress DURATION=600     (builds the test extension first)

Every thread, until told to stop:
- allocates and frees one block in each of OBJ, MEM and RAW (GIL held), at lines of
  its own kind (``# @obj``, ``# @mem``, ``# @raw``), through ltx_testext, whose
  functions allocate exactly the size asked and nothing else;
- allocates and frees RAW blocks with the GIL released (recorded at the root site,
  the empty stack), one batch and one tight C loop per round;
- calls malloc and free from C through ltx_native, once with the GIL held
  (``# @cmalloc``) and once with it released (``# @cnogil``): native allocations are
  charged to the calling Python line either way;
- builds and drops ordinary Python objects (lists, strings, dicts), to load the
  tracker with the interpreter's own allocations and garbage collections.
Each thread keeps one OBJ block (``# @kept``), one no-GIL RAW block and one no-GIL
malloc block (``# @ckept``) to the end.

The threads are started before tracking begins and kept alive until it ends, so the
interpreter's own thread start-up (partly without a Python frame) is not recorded.
Checked exactly, from the capture: allocations, bytes and live blocks of every
counted line; live blocks and bytes at the root; the sites summing to the heap.
A watchdog (faulthandler) dumps every thread's stack and exits with status 3 if the
run takes longer than it should: a deadlock fails loudly instead of hanging.

Prints one JSON object: the figures and a list of mismatches (empty when exact).
Exit status 0 when exact, 1 on a mismatch, 3 from the watchdog.
"""

from __future__ import annotations

import argparse
import faulthandler
import importlib.util
import json
import os
import sys
import threading
import time
from pathlib import Path
from types import ModuleType

HERE = Path(__file__).resolve().parent
TESTS = HERE.parent
sys.path.insert(0, str(TESTS / "testext"))

from ltx_support import at, marker_lines, root  # noqa: E402

import leaktrace  # noqa: E402
from leaktrace import _core  # noqa: E402

LINE = marker_lines(__file__)
THIS_FILE = (lambda: None).__code__.co_filename
SLOTS_PER_THREAD = 6  # ltx_testext handles a thread holds at most at once
CHURN = 50  # no-GIL malloc+free pairs per round, in C
WATCHDOG_STATUS = 3


def sizes(i: int) -> dict[str, int]:
    """Each thread's sizes, distinct per thread and per kind."""
    return {
        "obj": 16 + 8 * i,
        "mem": 100 + 37 * i,
        "raw": 1_000 + 101 * i,
        "nogil": 2_048 + 7 * i,
        "churn": 64 + i,
        "kept": 5_000 + 3 * i,
        "kept_nogil": 9_000 + 11 * i,
        "cmalloc": 3_000 + 13 * i,
        "cnogil": 4_096 + 17 * i,
        "ckept": 12_000 + 19 * i,
    }


class Worker(threading.Thread):
    def __init__(
        self,
        ext: ModuleType,
        native: ModuleType,
        index: int,
        go: threading.Event,
        stop: threading.Event,
    ):
        super().__init__(name=f"stress-{index}", daemon=True)
        self.ext, self.native, self.index, self.go, self.stop = ext, native, index, go, stop
        self.size = sizes(index)
        self.rounds = 0
        self.kept: list[int] = []
        self.kept_nogil: tuple[int, ...] = ()
        self.kept_native = -1
        self.finished = threading.Event()
        self.leave = threading.Event()
        self.error: BaseException | None = None

    def run(self) -> None:
        self.go.wait()
        try:
            self.work()
        except BaseException as e:
            self.error = e
        finally:
            self.finished.set()
            self.leave.wait()  # exit only after tracking stopped

    def work(self) -> None:
        # Every size is bound before the loop: arithmetic on an allocating line
        # would allocate ints there (beyond the cached small ones).
        ext, native = self.ext, self.native
        obj, mem, raw = self.size["obj"], self.size["mem"], self.size["raw"]
        cmalloc, cnogil = self.size["cmalloc"], self.size["cnogil"]
        nogil, churn, churn_count = self.size["nogil"], self.size["churn"], CHURN
        kept_size, kept_nogil_size = self.size["kept"], self.size["kept_nogil"]
        handle = ext.obj_malloc(kept_size)  # @kept
        self.kept.append(handle)
        self.kept_nogil = ext.raw_malloc_nogil(kept_nogil_size, 1)
        ckept_size = self.size["ckept"]
        self.kept_native = native.malloc_nogil(ckept_size)  # @ckept
        stop = self.stop
        rounds = 0
        while not stop.is_set():
            a = ext.obj_malloc(obj)  # @obj
            b = ext.mem_malloc(mem)  # @mem
            c = ext.raw_malloc(raw)  # @raw
            ext.obj_free(a)
            ext.mem_free(b)
            ext.raw_free(c)
            ext.raw_free_nogil(ext.raw_malloc_nogil(nogil, 1))
            ext.raw_churn_nogil(churn, churn_count)
            d = native.malloc(cmalloc)  # @cmalloc
            native.free(d)
            native.free_nogil(native.malloc_nogil(cnogil))  # @cnogil
            garbage = {str(k): [k] * 3 for k in range(rounds % 40)}
            del garbage
            rounds += 1
        self.rounds = rounds


def load_extension(name: str, path: str | None) -> ModuleType:
    """A test extension of tests/testext (ltx_testext, ltx_native), built unless given."""
    if path is None:
        sys.path.insert(0, str(TESTS))
        from conftest import TESTEXT_DIR, build_extension

        out = Path(os.environ.get("TMPDIR", "/tmp")) / f"ltx-stress-{os.getpid()}"
        out.mkdir(exist_ok=True)
        path = str(build_extension(TESTEXT_DIR / f"{name}.c", out))
    spec = importlib.util.spec_from_file_location(name, path)
    assert spec is not None and spec.loader is not None
    module = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(module)
    return module


def expected_line(workers: list[Worker], kind: str) -> tuple[int, int, int, int]:
    """(live bytes, live blocks, allocated bytes, allocations) of a churn line."""
    count = sum(w.rounds for w in workers)
    return (0, 0, sum(w.rounds * w.size[kind] for w in workers), count)


def check(capture: leaktrace.Capture, workers: list[Worker], stats: dict[str, int]) -> list[str]:
    wrong = []

    def expect(what: str, got: object, want: object) -> None:
        if got != want:
            wrong.append(f"{what}: captured {got}, the threads did {want}")

    for kind in ("obj", "mem", "raw", "cmalloc", "cnogil"):
        expect(
            f"line @{kind}",
            tuple(at(capture, THIS_FILE, LINE[kind])[:4]),
            expected_line(workers, kind),
        )
    kept = sum(w.size["kept"] for w in workers)
    n = len(workers)
    expect("line @kept", tuple(at(capture, THIS_FILE, LINE["kept"])[:4]), (kept, n, kept, n))
    ckept = sum(w.size["ckept"] for w in workers)
    expect("line @ckept", tuple(at(capture, THIS_FILE, LINE["ckept"])[:4]), (ckept, n, ckept, n))
    # Without the GIL, every RAW block is recorded at the root (the empty stack).
    # The threads were started before tracking, so nothing else is recorded there.
    kept_nogil = sum(w.size["kept_nogil"] for w in workers)
    nogil_allocs = sum(w.rounds * (1 + CHURN) for w in workers) + n
    nogil_bytes = kept_nogil + sum(
        w.rounds * (w.size["nogil"] + CHURN * w.size["churn"]) for w in workers
    )
    expect("root", tuple(root(capture)[:4]), (kept_nogil, n, nogil_bytes, nogil_allocs))
    expect("no_stack_allocations", stats["no_stack_allocations"], nogil_allocs)
    expect("dropped allocations", stats["dropped_allocations"], 0)
    sites = capture.sites()
    expect("sum of live bytes over sites", sum(s.bytes for s in sites), capture.final.heap_bytes)
    expect("sum of live blocks over sites", sum(s.count for s in sites), capture.final.heap_count)
    expect(
        "allocated bytes over sites",
        sum(s.alloc_bytes for s in sites),
        stats["total_allocated_bytes"],
    )
    expect("allocations over sites", sum(s.alloc_count for s in sites), stats["total_allocations"])
    return wrong


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--threads", type=int, default=32)
    parser.add_argument("--seconds", type=float, default=10.0)
    parser.add_argument("--output", default="stress.ltc", help="capture file")
    parser.add_argument("--testext", help="built ltx_testext module (default: build it)")
    parser.add_argument("--native-ext", help="built ltx_native module (default: build it)")
    parser.add_argument("--switch-interval", type=float, default=1e-5, metavar="S")
    args = parser.parse_args(argv)

    ext = load_extension("ltx_testext", args.testext)
    native = load_extension("ltx_native", args.native_ext)
    if args.threads * SLOTS_PER_THREAD > ext.SLOTS:
        parser.error(f"at most {ext.SLOTS // SLOTS_PER_THREAD} threads (ltx_testext's slots)")
    # Generous: the threads stop after `seconds`; stopping, writing and checking
    # take a few seconds more, up to a minute on a loaded machine under ASan.
    watchdog = args.seconds * 3 + 120
    faulthandler.dump_traceback_later(watchdog, exit=False)
    timer = threading.Timer(watchdog + 1, lambda: os._exit(WATCHDOG_STATUS))
    timer.start()

    sys.setswitchinterval(args.switch_interval)
    go, stop = threading.Event(), threading.Event()
    workers = [Worker(ext, native, i, go, stop) for i in range(args.threads)]
    for w in workers:
        w.start()
    started = time.monotonic()
    _core.start(args.output, native=True)
    go.set()
    time.sleep(args.seconds)
    stop.set()
    for w in workers:
        w.finished.wait()
    elapsed = time.monotonic() - started
    live_stats = _core.stats()
    stats = _core.stop()
    for w in workers:
        w.leave.set()
        w.join()
    errors = [f"{w.name}: {w.error!r}" for w in workers if w.error]
    for w in workers:
        for h in w.kept:
            ext.obj_free(h)
        ext.raw_free_nogil(w.kept_nogil)
        native.free_nogil(w.kept_native)

    capture = leaktrace.load(args.output)
    wrong = errors + check(capture, workers, stats)
    summary = {
        "python": ".".join(map(str, sys.version_info[:3])),
        "threads": args.threads,
        "seconds": round(elapsed, 2),
        "rounds": sum(w.rounds for w in workers),
        "min_rounds_per_thread": min(w.rounds for w in workers),
        "total_allocations": stats["total_allocations"],
        "total_frees": stats["total_frees"],
        "no_stack_allocations": stats["no_stack_allocations"],
        "allocations_per_second": round(stats["total_allocations"] / elapsed),
        "tracker_memory_bytes": stats["tracker_memory_bytes"],
        "tracker_current_bytes": live_stats["tracker_current_bytes"],
        "nodes": live_stats["nodes"],
        "capture_bytes": os.path.getsize(args.output),
        "mismatches": wrong,
    }
    faulthandler.cancel_dump_traceback_later()
    timer.cancel()
    print(json.dumps(summary, indent=2))
    return 1 if wrong else 0


if __name__ == "__main__":
    sys.exit(main())
