"""Native allocations: the malloc family and mmap of C code, at the calling Python line.

``ltx_native`` (tests/testext/ltx_native.c) makes exactly one C library call per
function, so the Python line calling it must be charged exactly the requested
bytes. Allocating lines carry ``# @name`` markers (see ltx_support). Programs run
end to end under ``leaktrace run`` live in tests/programs_native and mark their
line with a trailing ``# NAME-SITE`` comment.
"""

from __future__ import annotations

import ctypes
import json
import os
import re
import shlex
import subprocess
import sys
import sysconfig
import threading
from pathlib import Path
from typing import Any

import leaktrace_cli
import pytest
from conftest import load_testext
from ltx_support import at, marker_lines, root
from report_support import with_stacks

import leaktrace
from leaktrace import _core
from leaktrace.reports import render

THIS_FILE = (lambda: None).__code__.co_filename
LINE = marker_lines(THIS_FILE)
PROGRAMS = Path(__file__).resolve().parents[1] / "programs_native"
TIMEOUT = 300


@pytest.fixture
def capture_path(tmp_path):
    return str(tmp_path / "native.ltc")


def start_native(path: str) -> None:
    _core.start(path, native=True)


def live(capture, name):
    """(live bytes, live blocks) charged to the marked line."""
    return at(capture, THIS_FILE, LINE[name])[:2]


# ---- the malloc family, exactly ----


def test_malloc_family_exact_bytes_per_line(native_ext, capture_path):
    start_native(capture_path)
    h_malloc = native_ext.malloc(1_237)  # @malloc
    h_calloc = native_ext.calloc(7, 311)  # @calloc
    h_posix = native_ext.posix_memalign(64, 2_459)  # @posix_memalign
    h_aligned = native_ext.aligned_alloc(256, 4_096)  # @aligned_alloc
    h_memalign = native_ext.memalign(128, 3_671)  # @memalign
    h_valloc = native_ext.valloc(5_003)  # @valloc
    h_pvalloc = native_ext.pvalloc(5_003)  # @pvalloc
    h_grown = native_ext.malloc(100)  # @realloc-from
    native_ext.realloc(h_grown, 7_777)  # @realloc-to
    h_array = native_ext.malloc(10)  # @reallocarray-from
    native_ext.reallocarray(h_array, 13, 17)  # @reallocarray-to
    h_freed = native_ext.malloc(999)  # @freed
    native_ext.free(h_freed)
    _core.stop()
    capture = leaktrace.load(capture_path)

    page = os.sysconf("SC_PAGESIZE")
    assert live(capture, "malloc") == (1_237, 1)
    assert live(capture, "calloc") == (7 * 311, 1)
    assert live(capture, "posix_memalign") == (2_459, 1)
    assert live(capture, "aligned_alloc") == (4_096, 1)
    assert live(capture, "memalign") == (3_671, 1)
    assert live(capture, "valloc") == (5_003, 1)
    assert live(capture, "pvalloc") == (-(-5_003 // page) * page, 1)
    # A realloc moves the block to the line of the realloc.
    assert at(capture, THIS_FILE, LINE["realloc-from"])[:4] == (0, 0, 100, 1)
    assert live(capture, "realloc-to") == (7_777, 1)
    assert at(capture, THIS_FILE, LINE["reallocarray-from"])[:4] == (0, 0, 10, 1)
    assert live(capture, "reallocarray-to") == (13 * 17, 1)
    assert at(capture, THIS_FILE, LINE["freed"])[:4] == (0, 0, 999, 1)
    for h in (h_malloc, h_calloc, h_posix, h_aligned, h_memalign, h_valloc, h_pvalloc):
        native_ext.free(h)
    native_ext.free(h_grown)
    native_ext.free(h_array)


def test_stack_is_the_full_python_stack(native_ext, capture_path):
    def inner():
        return native_ext.malloc(4_321)  # @inner

    def outer():
        return inner()  # @outer

    start_native(capture_path)
    handle = outer()  # @caller
    _core.stop()
    native_ext.free(handle)
    capture = leaktrace.load(capture_path)
    (site,) = [s for s in capture.sites() if s.bytes == 4_321]
    assert [(f.function.rsplit(".", 1)[-1], f.line) for f in site.stack[:3]] == [
        ("inner", LINE["inner"]),
        ("outer", LINE["outer"]),
        ("test_stack_is_the_full_python_stack", LINE["caller"]),
    ]


# ---- mmap ----


def test_mmap_leak_and_partial_unmap(native_ext, capture_path):
    page = os.sysconf("SC_PAGESIZE")
    # Sizes computed beforehand: an int made on the marked line would be charged to it.
    ten, six, four, three = 10 * page, 6 * page, 4 * page, 3 * page
    start_native(capture_path)
    kept = native_ext.mmap(ten)  # @mmap-kept
    halved = native_ext.mmap(six)  # @mmap-halved
    native_ext.munmap(halved, three)
    gone = native_ext.mmap(four)  # @mmap-gone
    native_ext.munmap(gone, four)
    _core.stop()
    capture = leaktrace.load(capture_path)
    assert live(capture, "mmap-kept") == (10 * page, 1)
    # Unmapping the first pages leaves the rest recorded at the same line.
    assert live(capture, "mmap-halved") == (3 * page, 1)
    assert at(capture, THIS_FILE, LINE["mmap-gone"])[:4] == (0, 0, 4 * page, 1)
    native_ext.munmap(kept, 10 * page)
    native_ext.munmap(halved, 3 * page)


# ---- ctypes ----


def test_ctypes_malloc_found_at_calling_line(capture_path):
    """ctypes finds malloc with dlsym, which hands out leaktrace's hook while tracking."""
    libc = ctypes.CDLL(None)
    size = 123_457

    def leak(malloc) -> int:
        return malloc(size)  # @ctypes

    def run(native: bool) -> tuple[int, int]:
        _core.start(capture_path, native=native)
        malloc = libc["malloc"]  # a fresh lookup: attribute access caches the function
        malloc.restype = ctypes.c_void_p
        malloc.argtypes = [ctypes.c_size_t]
        address = leak(malloc)
        _core.stop()
        libc.free(ctypes.c_void_p(address))
        return live(leaktrace.load(capture_path), "ctypes")

    without = run(False)
    with_native = run(True)
    # The same Python objects either way, plus the C block when tracking native calls.
    assert with_native == (without[0] + size, without[1] + 1)


# ---- threads ----


def test_threads_without_the_gil(native_ext, capture_path):
    sizes = [50_001 + i for i in range(4)]
    handles: list[int] = []
    lock = threading.Lock()

    def worker(size: int) -> None:
        h = native_ext.malloc_nogil(size)  # @nogil
        with lock:
            handles.append(h)

    start_native(capture_path)
    threads = [threading.Thread(target=worker, args=(s,)) for s in sizes]
    for t in threads:
        t.start()
    for t in threads:
        t.join()
    c_thread = native_ext.malloc_in_c_thread(3_000_017)  # @c-thread
    _core.stop()
    capture = leaktrace.load(capture_path)
    # Released the GIL, yet charged to its own Python line.
    assert live(capture, "nogil") == (sum(sizes), len(sizes))
    # A thread Python does not know has no Python stack: the empty stack.
    assert live(capture, "c-thread") == (0, 0)
    assert root(capture).bytes >= 3_000_017
    native_ext.free(c_thread)
    for h in handles:
        native_ext.free_nogil(h)


def test_free_without_the_gil_is_seen(native_ext, capture_path):
    start_native(capture_path)
    h = native_ext.malloc(7_001)  # @freed-nogil
    native_ext.free_nogil(h)
    _core.stop()
    assert at(leaktrace.load(capture_path), THIS_FILE, LINE["freed-nogil"])[:4] == (
        0,
        0,
        7_001,
        1,
    )


# ---- double counting ----


def test_pymem_blocks_are_counted_once(testext, capture_path):
    """PyMem_RawMalloc calls malloc: the block is counted once, in its domain."""
    start_native(capture_path)
    h = testext.raw_malloc(100_003)  # @raw
    o = testext.obj_malloc(200_003)  # @obj-large
    _core.stop()
    capture = leaktrace.load(capture_path)
    assert live(capture, "raw") == (100_003, 1)
    assert live(capture, "obj-large") == (200_003, 1)
    testext.raw_free(h)
    testext.obj_free(o)


# ---- installation ----


def slot_value(slot: int) -> int:
    return ctypes.c_size_t.from_address(slot).value


def test_slots_restored_on_stop(native_ext, capture_path):
    names = ("malloc", "calloc", "realloc", "reallocarray", "free", "posix_memalign",
             "aligned_alloc", "memalign", "valloc", "pvalloc", "mmap", "mmap64", "munmap",
             "dlopen", "dlmopen", "dlclose", "dlsym")  # fmt: skip
    hooks = {_core.native_hook_address(name) for name in names}
    assert 0 not in hooks
    before = native_ext.malloc_target()
    assert before not in hooks
    start_native(capture_path)
    patches = _core.native_patches()
    assert patches, "no GOT slot was patched"
    assert {slot_value(slot) for slot, _ in patches} <= hooks
    assert native_ext.malloc_target() == _core.native_hook_address("malloc")
    _core.stop()
    assert _core.native_patches() == []
    assert [slot_value(slot) for slot, _ in patches] == [original for _, original in patches]
    assert native_ext.malloc_target() == before


def test_restart_after_stop(native_ext, capture_path):
    for _ in range(2):
        start_native(capture_path)
        h = native_ext.malloc(2_222)  # @restart
        _core.stop()
        assert live(leaktrace.load(capture_path), "restart") == (2_222, 1)
        native_ext.free(h)


# ---- end to end, under leaktrace run ----


def site_line(program: Path, marker: str) -> int:
    pattern = re.compile(rf"#\s*{marker}\s*$")
    for number, text in enumerate(program.read_text().splitlines(), 1):
        if pattern.search(text):
            return number
    raise AssertionError(f"{marker} not found in {program}")


def run_json(tmp_path: Path, program: Path, *args: str, native: bool = True) -> dict[str, Any]:
    out = tmp_path / f"{program.stem}.{int(native)}.json"
    command = [
        sys.executable,
        "-m",
        "leaktrace",
        "run",
        "-q",
        "-o",
        str(tmp_path / f"{program.stem}.{int(native)}.ltc"),
        "--native-allocs" if native else "--no-native-allocs",
        str(program),
        *args,
    ]
    env = {**os.environ, "PYTHONHASHSEED": "0"}
    proc = subprocess.run(command, capture_output=True, text=True, timeout=TIMEOUT, env=env)
    assert proc.returncode == 0, proc.stderr
    report = subprocess.run(
        [
            sys.executable,
            "-m",
            "leaktrace",
            "report",
            "--format",
            "json",
            "-o",
            str(out),
            str(tmp_path / f"{program.stem}.{int(native)}.ltc"),
        ],
        capture_output=True,
        text=True,
        timeout=TIMEOUT,
    )
    assert report.returncode == 0, report.stderr
    return with_stacks(json.loads(out.read_text()))


def bytes_at(report: dict[str, Any], program: Path, line: int) -> tuple[int, int]:
    """(bytes, blocks) of the leak sites whose innermost frame is program:line."""
    sites = [
        s
        for s in report["leaks"]
        if s["stack"] and s["stack"][0]["file"] == str(program) and s["stack"][0]["line"] == line
    ]
    return sum(s["bytes"] for s in sites), sum(s["count"] for s in sites)


def test_extension_imported_after_tracking_began(native_ext_path, tmp_path):
    program = PROGRAMS / "late_import.py"
    report = run_json(tmp_path, program, str(native_ext_path), "54321")
    assert bytes_at(report, program, site_line(program, "LATE-SITE")) == (54_321, 1)


def test_numpy_arrays_in_module_dict(tmp_path):
    pytest.importorskip("numpy", reason="numpy comes with the test extra")
    program = PROGRAMS / "numpy_cache.py"
    count, elements = 6, 250_000
    line = site_line(program, "NUMPY-SITE")
    native = bytes_at(run_json(tmp_path, program, str(count), str(elements)), program, line)
    python_only = bytes_at(
        run_json(tmp_path, program, str(count), str(elements), native=False), program, line
    )
    buffers = count * elements * 8
    assert buffers < native[0] < buffers + count * 1024
    if python_only[0] >= buffers:
        # Newer numpy (2.5 here) takes array data from PyMem_RawCalloc, which calls calloc: the
        # buffers are counted once, in the RAW domain, with native tracking or without.
        assert native == python_only
    else:
        # Older numpy (2.2 here) calls calloc itself: only native tracking sees the buffers.
        assert native == (python_only[0] + buffers, python_only[1] + count)


def test_python_mmap_leak(tmp_path):
    program = PROGRAMS / "python_mmap.py"
    count, size = 5, 12 * 4096
    line = site_line(program, "MMAP-SITE")
    native = bytes_at(run_json(tmp_path, program, str(count), str(size)), program, line)
    python_only = bytes_at(
        run_json(tmp_path, program, str(count), str(size), native=False), program, line
    )
    assert native[0] - python_only[0] == count * size
    assert native[1] - python_only[1] == count


def test_pure_python_counts_do_not_change(tmp_path):
    """pymalloc arenas and the interpreter's own calls are not counted again."""
    program = PROGRAMS / "pure_python.py"
    native = run_json(tmp_path, program)
    python_only = run_json(tmp_path, program, native=False)
    for marker in ("PY-SITE", "PY-SITE-2"):
        line = site_line(program, marker)
        assert bytes_at(native, program, line) == bytes_at(python_only, program, line)
        assert bytes_at(native, program, line)[0] > 0


# ---- native frames (--native) ----


def c_line(text: str) -> int:
    """The line of ltx_native.c holding text."""
    source = Path(__file__).resolve().parents[1] / "testext" / "ltx_native.c"
    (number,) = [i for i, line in enumerate(source.read_text().splitlines(), 1) if text in line]
    return number


def test_native_frames_merged_with_python_frames(native_ext, capture_path):
    _core.start(capture_path, native=True, native_frames=True)
    h = native_ext.malloc(4_567)  # @native-frames
    h_mmap = native_ext.mmap(8_192)  # @native-frames-mmap
    _core.stop()
    capture = leaktrace.load(capture_path)
    (site,) = [s for s in capture.sites() if s.bytes == 4_567]
    c_frame, py_frame = site.stack[:2]
    assert (c_frame.kind, c_frame.function, os.path.basename(c_frame.file), c_frame.line) == (
        "native",
        "ltxn_malloc",
        "ltx_native.c",
        c_line("return heap_handle(malloc((size_t)n), (size_t)n);"),
    )
    assert (py_frame.kind, py_frame.file, py_frame.line) == (
        "python",
        THIS_FILE,
        LINE["native-frames"],
    )
    text = render(capture, "text", top=1000, include_all=True).splitlines()
    c_row = next(i for i, row in enumerate(text) if "in ltxn_malloc [native]" in row)
    assert text[c_row].endswith(f"ltx_native.c:{c_frame.line} in ltxn_malloc [native]")
    assert text[c_row + 1].strip().endswith(f":{LINE['native-frames']} in {py_frame.function}")
    (mapped,) = [s for s in capture.sites() if s.bytes == 8_192]
    assert mapped.stack[0].function == "ltxn_mmap"
    assert mapped.stack[1].line == LINE["native-frames-mmap"]
    native_ext.free(h)
    native_ext.munmap(h_mmap, 8_192)


def test_native_frames_of_a_thread_python_does_not_know(native_ext, capture_path):
    _core.start(capture_path, native=True, native_frames=True)
    h = native_ext.malloc_in_c_thread(3_000_029)
    _core.stop()
    native_ext.free(h)
    (site,) = [s for s in leaktrace.load(capture_path).sites() if s.bytes == 3_000_029]
    assert site.stack[0].function == "c_thread_main"
    assert {f.kind for f in site.stack} == {"native"}


def test_native_frames_in_json_report(native_ext_path, tmp_path):
    program = PROGRAMS / "late_import.py"
    out = tmp_path / "late.ltc"
    proc = subprocess.run(
        [*leaktrace_cli.command(), "run", "--native", "--format", "json", "-o",
         str(out), str(program), str(native_ext_path), "65432"],
        capture_output=True, text=True, timeout=TIMEOUT,
    )  # fmt: skip
    assert proc.returncode == 0, proc.stderr
    report = with_stacks(json.loads(proc.stderr[: proc.stderr.rindex("}") + 1]))
    (site,) = [s for s in report["leaks"] if s["bytes"] == 65_432]
    assert [(f["kind"], f["function"]) for f in site["stack"][:1]] == [("native", "ltxn_malloc")]
    assert (site["stack"][1]["kind"], site["stack"][1]["line"]) == (
        "python",
        site_line(program, "LATE-SITE"),
    )


def test_native_needs_native_allocs(tmp_path):
    proc = subprocess.run(
        [*leaktrace_cli.command(), "run", "--native", "--no-native-allocs",
         str(PROGRAMS / "pure_python.py")],
        capture_output=True, text=True, timeout=TIMEOUT,
    )  # fmt: skip
    assert proc.returncode == 2
    assert proc.stderr.count("\n") == 1 and "--native" in proc.stderr


# ---- dlopen on behalf of its caller ----

DEP_SOURCE = "int ltx_dep_value(void) { return 42; }\n"
RPATH_EXT_SOURCE = r"""
#define PY_SSIZE_T_CLEAN
#include <Python.h>
#include <dlfcn.h>

/* load(name): dlopen(name) by this object, then call ltx_dep_value() in it. */
static PyObject *
load(PyObject *self, PyObject *arg)
{
    (void)self;
    const char *name = PyUnicode_AsUTF8(arg);
    if (!name) {
        return NULL;
    }
    void *handle = dlopen(name, RTLD_NOW);
    if (!handle) {
        PyErr_SetString(PyExc_OSError, dlerror());
        return NULL;
    }
    int (*value)(void) = (int (*)(void))dlsym(handle, "ltx_dep_value");
    return PyLong_FromLong(value ? value() : -1);
}

static PyMethodDef methods[] = {{"load", load, METH_O, NULL}, {NULL, NULL, 0, NULL}};
static struct PyModuleDef def = {PyModuleDef_HEAD_INIT, "ltx_rpath", NULL, -1, methods};

PyMODINIT_FUNC
PyInit_ltx_rpath(void)
{
    return PyModule_Create(&def);
}
"""


def compile_shared(source: Path, target: Path, *flags: str) -> None:
    cc = shlex.split(sysconfig.get_config_var("CC") or "cc")
    command = [*cc, "-shared", "-fPIC", f"-I{sysconfig.get_paths()['include']}", *flags]
    command += [str(source), "-o", str(target)]
    proc = subprocess.run(command, capture_output=True, text=True, check=False)
    assert proc.returncode == 0, proc.stderr


def test_dlopen_searches_the_callers_runpath(tmp_path, capture_path):
    """An extension that dlopens a bare name found through its own RUNPATH still finds it."""
    deps = tmp_path / "deps"
    deps.mkdir()
    (tmp_path / "dep.c").write_text(DEP_SOURCE)
    compile_shared(tmp_path / "dep.c", deps / "libltx_dep.so")
    (tmp_path / "ltx_rpath.c").write_text(RPATH_EXT_SOURCE)
    ext_path = tmp_path / f"ltx_rpath{sysconfig.get_config_var('EXT_SUFFIX')}"
    compile_shared(tmp_path / "ltx_rpath.c", ext_path, "-Wl,-rpath,$ORIGIN/deps")
    module = load_testext(ext_path, "ltx_rpath")
    start_native(capture_path)
    try:
        slots = {slot for slot, _ in _core.native_patches()}
        assert slots, "nothing was patched"
        # Through our dlopen hook, with the extension's RUNPATH, not _core's.
        assert module.load("libltx_dep.so") == 42
    finally:
        _core.stop()
