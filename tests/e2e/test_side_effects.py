"""No side effects: a program behaves the same under ``leaktrace run -q`` as without it.

Each program of ``PROGRAMS`` runs untracked and tracked; the exit status, stdout and
stderr must be identical byte for byte. The programs look at what a tracker could
disturb: the results of allocations (contents, sizes, a MemoryError for an impossible
request), exceptions and their tracebacks, garbage collection and finalizers, threads,
warnings, atexit, stdin. Add a program to extend the set.

The tracker must never make an allocation fail: when its own memory runs out, it drops
the record and the program carries on, and the report says how many were dropped.
``_core._set_tracker_memory_limit`` makes the tracker's memory run out on purpose.

Known, documented differences (docs/robustness.md) are left out of the programs:
``sys.modules`` holds leaktrace's few modules, ``signal.getsignal(SIGTERM)`` shows
leaktrace's handler, and ``os._exit`` is a wrapper.
"""

from __future__ import annotations

import os
import subprocess
import textwrap
from pathlib import Path

import leaktrace_cli
import pytest
from tracked_run import assert_complete, run_pair

import leaktrace

PROGRAMS = {
    "allocation_results": """
        import hashlib, pickle, sys

        data = {f"key{i}": [i, str(i) * (i % 7), bytes(range(i % 256))] for i in range(20000)}
        blob = pickle.dumps(data, protocol=4)
        print(len(blob), hashlib.sha256(blob).hexdigest())
        print(sorted(data)[:3], sys.getsizeof(data["key5"]), sys.getsizeof(b"x" * 1000))
        big = bytearray(50_000_000)
        big[-1] = 7
        print(len(big), big[-1], sum(big[:100]))
        grown = []
        for i in range(100000):
            grown.append(i * i)
        print(len(grown), grown[-1], sys.getsizeof(grown) > 800000)
        try:
            impossible = bytearray(1 << 62)
        except MemoryError as e:
            print("MemoryError", repr(e))
        s = "".join(chr(0x41 + i % 26) for i in range(100000))
        print(len(s), s[:30], hash(s) == hash("".join(s)))
        """,
    "exceptions": """
        import sys

        class AppError(Exception):
            pass

        def parse(text):
            try:
                return int(text)
            except ValueError as e:
                raise AppError(f"bad number {text!r}") from e

        try:
            parse("x")
        except AppError as e:
            print("caught", e, "cause:", repr(e.__cause__))
        def deep(n):
            return deep(n + 1)
        try:
            deep(0)
        except RecursionError as e:
            print("RecursionError", str(e)[:40])
        print("unhandled next", flush=True)
        parse("y")
        """,
    "finalizers_and_gc": """
        import gc, weakref

        class Node:
            def __init__(self, name):
                self.name, self.other = name, None
            def __del__(self):
                print("finalized", self.name)

        a, b = Node("a"), Node("b")
        a.other, b.other = b, a
        seen = []
        r = weakref.ref(a, lambda ref: seen.append("callback"))
        del a, b
        print("collected", gc.collect() >= 2, seen)

        class Noisy:
            def __del__(self):
                raise RuntimeError("in __del__")
        n = Noisy()
        del n
        print("after noisy")
        AT_EXIT = Node("module global")
        """,
    "threads": """
        import threading, queue

        results = queue.Queue()
        def work(i):
            total = 0
            for k in range(20000):
                total += len(str(k * i))
            results.put((i, total))
        threads = [threading.Thread(target=work, args=(i,)) for i in range(8)]
        for t in threads:
            t.start()
        for t in threads:
            t.join()
        print(sorted(results.get() for _ in range(8)))
        def late():
            print("non-daemon thread done")
        threading.Timer(0.05, late).start()
        """,
    "warnings_atexit_stdin": """
        import atexit, sys, warnings

        atexit.register(lambda: print("atexit ran", flush=True))
        warnings.warn("careful", DeprecationWarning, stacklevel=1)
        warnings.warn("user warning")
        lines = sys.stdin.read().splitlines()
        print(len(lines), lines[:2])
        sys.stderr.write("to stderr\\n")
        sys.exit(3)
        """,
}
STDIN = "".join(f"line {i}\n" for i in range(1000)).encode()


def write(directory: Path, name: str, source: str) -> Path:
    script = directory / f"{name}.py"
    script.write_text(textwrap.dedent(source).lstrip())
    return script


@pytest.mark.parametrize("name", sorted(PROGRAMS))
def test_same_behaviour(tmp_path: Path, name: str) -> None:
    script = write(tmp_path, name, PROGRAMS[name])
    # Under the sanitizer run, ASan's malloc must fail like libc's, not abort.
    asan = os.environ.get("ASAN_OPTIONS", "")
    env = {**os.environ, "ASAN_OPTIONS": f"{asan}:allocator_may_return_null=1".lstrip(":")}
    pair = run_pair(script, tmp_path / "c.ltc", stdin=STDIN, env=env)
    pair.assert_same_behaviour()
    assert pair.plain.stdout, "the program printed nothing"
    assert_complete(pair.capture)


# ---- the tracker's own memory runs out ----

STARVED = """
import sys
from leaktrace import _core

# Many distinct stacks first (a path of left and right calls for each number),
# each keeping a block: the final snapshot needs more room than the capture
# writer's buffer has, and must grow it.
def left(path):
    return step(path)


def right(path):
    return step(path)


def step(path):
    if not path:
        return [0] * 3
    return (left if path[0] == "0" else right)(path[1:])


kept = [step(format(n, "011b")) for n in range(2000)]
# Past its present size, every allocation of the tracker fails (untracked: no effect).
_core._set_tracker_memory_limit(_core.stats()["tracker_current_bytes"] + 4096)
cache = {}
for i in range(200000):
    cache[i] = f"value {i}" * (i % 5)
print(len(cache), sum(len(v) for v in cache.values()), cache[199999][:12])
if sys.argv[1] == "lift":
    _core._set_tracker_memory_limit(0)
sys.exit(4)
"""


def test_tracker_out_of_memory_fails_no_allocation(tmp_path: Path) -> None:
    script = write(tmp_path, "starved", STARVED)
    pair = run_pair(script, tmp_path / "c.ltc", args=("lift",))
    assert pair.plain.returncode == 4, pair.plain.describe()
    pair.assert_same_behaviour()
    capture = leaktrace.load(pair.capture)
    dropped = capture.stats["dropped_allocations"]
    assert dropped > 100_000, capture.stats  # most of the 400 000 allocations
    assert capture.stats["total_allocations"] > 0

    text = subprocess.run(
        [*leaktrace_cli.command(), "report", str(pair.capture)],
        capture_output=True,
        text=True,
        timeout=60,
    )
    assert text.returncode == 0, text.stderr
    assert f"WARNING: {dropped:,} allocations were not recorded" in text.stdout, text.stdout


def test_tracker_out_of_memory_to_the_end(tmp_path: Path) -> None:
    # Not even the final snapshot fits: one message, the program's status and output.
    # (No snapshots by work: one taken earlier would leave the final one a small delta.)
    script = write(tmp_path, "starved", STARVED)
    pair = run_pair(script, tmp_path / "c.ltc", args=("keep",), run_options=("--no-snapshots",))
    assert pair.plain.returncode == 4, pair.plain.describe()
    assert pair.tracked.returncode == 4, pair.tracked.describe()
    assert pair.tracked.stdout == pair.plain.stdout
    extra = pair.tracked.stderr.replace(pair.plain.stderr, b"", 1).decode().splitlines()
    assert extra == [f"leaktrace: capture {pair.capture} is incomplete: out of memory"], extra
