/* lt_module.c - the leaktrace._core extension module: its method table, its
 * constants and exception, and the calls that exist only for the tests.
 *
 * The module is the boundary where C results become Python objects and
 * errors become exceptions; each call lives with its concept (lt_pysession,
 * lt_pytimer, lt_pycapture, lt_pyanalysis, lt_pyretain, lt_pytoplevel,
 * lt_pysignal).
 * Everything here runs with the GIL held.
 */
#define PY_SSIZE_T_CLEAN
#include <Python.h>

#include "base/lt_rawalloc.h"
#include "capture/lt_format.h"
#include "module/lt_pyarray.h"
#include "module/lt_pycapture.h"
#include "module/lt_pygrowth.h"
#include "module/lt_pyobj.h"
#include "module/lt_pyfolded.h"
#include "module/lt_pyframes.h"
#include "module/lt_pyjson.h"
#include "module/lt_pyprofile.h"
#include "module/lt_pyreading.h"
#include "module/lt_pyretain.h"
#include "module/lt_pysession.h"
#include "module/lt_pytimer.h"
#include "module/lt_pysignal.h"
#include "module/lt_pytoplevel.h"
#include "record/lt_native.h"
#include "record/lt_tracker.h"

/* ---- native interception, for the tests ---- */

static PyObject *
core_native_hook_address(PyObject *module, PyObject *arg)
{
    (void)module;
    const char *name = PyUnicode_AsUTF8(arg);
    if (!name) {
        return NULL;
    }
    return PyLong_FromUnsignedLongLong((unsigned long long)lt_native_hook_address(name));
}

/* [(slot address, value before), ...] of every GOT slot patched now. */
static PyObject *
core_native_patches(PyObject *module, PyObject *unused)
{
    (void)module;
    (void)unused;
    size_t n = lt_native_patches(NULL, NULL, 0);
    uintptr_t *slots = PyMem_Calloc(n ? n : 1, 2 * sizeof(uintptr_t));
    if (!slots) {
        return PyErr_NoMemory();
    }
    uintptr_t *originals = slots + (n ? n : 1);
    /* A dlopen in another thread may add patches meanwhile: they are left out. */
    size_t copied = lt_native_patches(slots, originals, n);
    if (copied > n) {
        copied = n;
    }
    PyObject *list = PyList_New((Py_ssize_t)copied);
    for (size_t i = 0; list && i < copied; i++) {
        PyObject *t = Py_BuildValue("(KK)", (unsigned long long)slots[i],
                                    (unsigned long long)originals[i]);
        if (!t) {
            Py_CLEAR(list);
            break;
        }
        PyList_SET_ITEM(list, (Py_ssize_t)i, t);
    }
    PyMem_Free(slots);
    return list;
}

/* ---- for tests ---- */

static PyObject *
core_set_tracker_memory_limit(PyObject *module, PyObject *arg)
{
    (void)module;
    size_t bytes = PyLong_AsSize_t(arg);
    if (bytes == (size_t)-1 && PyErr_Occurred()) {
        return NULL;
    }
    lt_raw_set_limit(bytes);
    Py_RETURN_NONE;
}

/* ---- module ---- */

static PyMethodDef core_methods[] = {
    {"start", (PyCFunction)(void (*)(void))lt_py_start, METH_VARARGS | METH_KEYWORDS,
     "start(path, max_depth=64, meta=None, native=False, native_frames=False, sample_bytes=0, "
     "sample_seed=None, follow_fork=False, parent=None, attached=False)\n--\n\n"
     "Start tracking into a new capture file; native=True also tracks the malloc family and "
     "mmap of C code."},
    {"snapshot", lt_py_snapshot, METH_VARARGS,
     "snapshot(label=None)\n--\n\nRecord a snapshot of live memory; returns its number."},
    {"stop", (PyCFunction)(void (*)(void))lt_py_stop, METH_VARARGS | METH_KEYWORDS,
     "stop(retention_sites=0)\n--\n\nStop tracking, complete the capture and return its "
     "statistics.\nWith retention_sites > 0, first record why the objects of that many "
     "sites are alive."},
    {"find_paths", (PyCFunction)(void (*)(void))lt_py_find_paths, METH_VARARGS | METH_KEYWORDS,
     "find_paths(objects, max_paths=5, dominators=True, caller_frames=1)\n--\n\n"
     "Reference paths from roots to each object of a tuple, with timings."},
    {"is_tracking", lt_py_is_tracking, METH_NOARGS, "is_tracking()\n--\n\n"},
    {"stats", lt_py_stats, METH_NOARGS,
     "stats()\n--\n\nStatistics of the current (or last) session."},
    {"start_timer", lt_py_start_timer, METH_VARARGS,
     "start_timer(seconds=0.0)\n--\n\nTake snapshots from a native thread: every `seconds`, "
     "or with 0\nthe default schedule by work and time (src/core/record/lt_schedule.h)."},
    {"_timer_before_fork", lt_py_timer_before_fork, METH_NOARGS,
     "_timer_before_fork()\n--\n\nos.register_at_fork callback: pause the snapshot timer."},
    {"_timer_after_fork_parent", lt_py_timer_after_fork_parent, METH_NOARGS,
     "_timer_after_fork_parent()\n--\n\nos.register_at_fork callback: resume the timer."},
    {"stop_timer", lt_py_stop_timer, METH_NOARGS,
     "stop_timer()\n--\n\nStop interval snapshots (tracking goes on)."},
    {"timer_ticks", lt_py_timer_ticks, METH_NOARGS,
     "timer_ticks()\n--\n\nInterval snapshots taken by the current (or last) timer."},
    {"native_hook_address", core_native_hook_address, METH_O,
     "native_hook_address(symbol)\n--\n\nAddress of leaktrace's hook for a C symbol, or 0."},
    {"native_patches", core_native_patches, METH_NOARGS,
     "native_patches()\n--\n\n[(slot, original), ...]: the GOT slots patched now."},
    {"follow_fork", lt_py_follow_fork, METH_VARARGS,
     "follow_fork(path, meta, parent_capture)\n--\n\n"
     "In a forked child: continue the session in a capture of its own."},
    {"read_capture", (PyCFunction)(void (*)(void))lt_py_read_capture, METH_VARARGS | METH_KEYWORDS,
     "read_capture(path, allow_partial=False)\n--\n\nRead and validate a capture file."},
    {"read", (PyCFunction)(void (*)(void))lt_py_read, METH_VARARGS | METH_KEYWORDS,
     "read(path, *, allow_partial=False, own_prefix=b'', own_files=(), include_all=False,\n"
     "     picks=(), points=None, max_points=0, raw_snapshot=-2, progress_fd=-1,\n"
     "     progress_delay=0.5)\n--\n\n"
     "Stream through a capture and keep what every report needs: its sites (trimmed stacks)\n"
     "at the last, the peak and the picked snapshots, growth series, the timeline, meta,\n"
     "stats and retention records (src/core/module/lt_pyreading.h)."},
    {"take", lt_py_take, METH_VARARGS,
     "take(values, indexes)\n--\n\n"
     "The items of a buffer at uint32 indexes, as bytes (src/core/module/lt_pyreading.h)."},
    {"positions", lt_py_positions, METH_VARARGS,
     "positions(indexes, size)\n--\n\n"
     "The position in indexes of each value below size, as uint32 bytes\n"
     "(src/core/module/lt_pyreading.h)."},
    {"growth", lt_py_growth, METH_VARARGS,
     "growth(live, alloc, xs, seconds)\n--\n\n"
     "The growth verdict of each row of a series: class, reason, rates, confidence and\n"
     "points seen (src/core/module/lt_pygrowth.h, docs/growth.md)."},
    {"json_rows", lt_py_json_rows, METH_VARARGS,
     "json_rows(nrows, fields, depth, file=None, compact=False)\n--\n\n"
     "A JSON array of nrows objects written from columns, as json.dumps(indent=2) writes it\n"
     "nested depth levels deep (src/core/module/lt_pyjson.h)."},
    {"frame_table", lt_py_frame_table, METH_VARARGS,
     "frame_table(nodes, parent, frame, same)\n--\n\n"
     "The frames of the rows' stacks numbered as they are first met, each distinct one once\n"
     "(src/core/module/lt_pyframes.h)."},
    {"json_ints", lt_py_json_ints, METH_O,
     "json_ints(values)\n--\n\nAn array of ints as compact JSON text."},
    {"rank_nodes", lt_py_rank_nodes, METH_VARARGS,
     "rank_nodes(live_bytes, peak_bytes, alloc_bytes, alloc_count, peak_count)\n--\n\n"
     "The profile nodes that allocated, by leaked, peak, then allocated bytes."},
    {"pprof_samples", lt_py_pprof_samples, METH_VARARGS,
     "pprof_samples(order, parent, frame, alloc_count, alloc_bytes, live_count, live_bytes,\n"
     "              frame_location, root_location, labels=None)\n--\n\n"
     "The encoded pprof samples of a profile tree and its location keys by id."},
    {"folded", lt_py_folded, METH_VARARGS,
     "folded(parent, frame, live_bytes, labels, root_label)\n--\n\n"
     "The folded-stack lines of a profile tree, largest first."},
    {"speedscope_stacks", lt_py_speedscope_stacks, METH_VARARGS,
     "speedscope_stacks(order, parent, frame, nframes, weights)\n--\n\n"
     "The JSON of speedscope's samples and weights of a profile tree, and its frames."},
    {"prune_tree", lt_py_prune_tree, METH_VARARGS,
     "prune_tree(parent, live_bytes, peak_bytes)\n--\n\n"
     "The nodes of a profile tree whose subtree leaked or was alive at the peak."},
    {"call_as_main", lt_py_call_as_main, METH_VARARGS,
     "call_as_main(callable, args)\n--\n\nCall callable(*args) with no Python frame below it, "
     "as the interpreter calls the main program."},
    {"guard_sigterm", lt_py_guard_sigterm, METH_NOARGS,
     "guard_sigterm()\n--\n\nRepeat a SIGTERM to the main thread every 50 ms until "
     "sigterm_handled(), so that\na signal that arrived just before a blocking call still "
     "interrupts it (module/lt_pysignal.h)."},
    {"sigterm_handled", lt_py_sigterm_handled, METH_NOARGS,
     "sigterm_handled()\n--\n\nThe Python SIGTERM handler has run: stop repeating the signal."},
    {"hold_sigterm_for_fork", lt_py_hold_sigterm_for_fork, METH_NOARGS,
     "hold_sigterm_for_fork()\n--\n\nBlock SIGTERM until the next fork returns in the parent, "
     "or until\nrelease_fork_hold() in the child."},
    {"release_fork_hold", lt_py_release_fork_hold, METH_NOARGS,
     "release_fork_hold()\n--\n\nUnblock SIGTERM if hold_sigterm_for_fork() blocked it."},
    {"_set_tracker_memory_limit", core_set_tracker_memory_limit, METH_O,
     "_set_tracker_memory_limit(bytes)\n--\n\nFor tests: the tracker's own allocations fail "
     "past this many bytes in all, as when memory runs out; 0 lifts the limit."},
    {NULL, NULL, 0, NULL},
};

static struct PyModuleDef core_module = {
    PyModuleDef_HEAD_INIT,
    "leaktrace._core",
    "The C engine of leaktrace.",
    -1,
    core_methods,
    NULL,
    NULL,
    NULL,
    NULL,
};

PyMODINIT_FUNC
PyInit__core(void)
{
    if (lt_py_array_ready() < 0) {
        return NULL;
    }
    PyObject *module = PyModule_Create(&core_module);
    if (!module) {
        return NULL;
    }
    if (!lt_py_capture_error) {
        lt_py_capture_error = PyErr_NewExceptionWithDoc(
            "leaktrace.CaptureError", "A capture file is unreadable, corrupt or truncated.",
            PyExc_ValueError, NULL);
        if (!lt_py_capture_error) {
            Py_DECREF(module);
            return NULL;
        }
    }
    /* The module holds its own reference; the static one stays for reuse. */
    if (PyModule_AddObjectRef(module, "CaptureError", lt_py_capture_error) < 0 ||
        PyModule_AddIntConstant(module, "MAX_DEPTH_LIMIT", LT_MAX_DEPTH_LIMIT) < 0 ||
        PyModule_AddIntConstant(module, "FORMAT_MAJOR", LT_FORMAT_MAJOR) < 0 ||
        PyModule_AddIntConstant(module, "LINK_FORK", LT_LINK_FORK) < 0 ||
        PyModule_AddIntConstant(module, "LINK_EXEC", LT_LINK_EXEC) < 0) {
        Py_DECREF(module);
        return NULL;
    }
    const char *const names[2] = {"GROWTH_CLASSES", "GROWTH_REASONS"};
    for (int i = 0; i < 2; i++) {
        PyObject *value = lt_py_growth_names(i);
        int err = value ? PyModule_AddObjectRef(module, names[i], value) : -1;
        Py_XDECREF(value);
        if (err < 0) {
            Py_DECREF(module);
            return NULL;
        }
    }
    return module;
}
