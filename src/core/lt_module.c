/* lt_module.c - the leaktrace._core extension module: the boundary where C
 * results become Python objects and errors become exceptions.
 *
 * One tracking session at a time per process; its writer lives here.
 * Everything in this file runs with the GIL held.
 */
#define PY_SSIZE_T_CLEAN
#include <Python.h>

#include <errno.h>
#include <string.h>
#include <time.h>
#include <unistd.h>

#include "lt_format.h"
#include "lt_reader.h"
#include "lt_sampler.h"
#include "lt_tracker.h"
#include "lt_writer.h"

/* Protected by the GIL. */
static lt_writer session_writer;
static PyObject *session_path; /* str, or NULL when no session is open */
static PyObject *CaptureError;

static const char *const stat_names[LT_STAT_COUNT] = {
    [LT_STAT_PEAK_BYTES] = "peak_bytes",
    [LT_STAT_TOTAL_BYTES] = "total_allocated_bytes",
    [LT_STAT_TOTAL_ALLOCS] = "total_allocations",
    [LT_STAT_TOTAL_FREES] = "total_frees",
    [LT_STAT_TRACKER_PEAK_BYTES] = "tracker_memory_bytes",
    [LT_STAT_DROPPED_ALLOCS] = "dropped_allocations",
    [LT_STAT_NO_STACK_ALLOCS] = "no_stack_allocations",
    [LT_STAT_DURATION_NS] = "duration_ns",
    [LT_STAT_MAX_DEPTH] = "max_depth",
};

static PyObject *
raise_writer_error(int err)
{
    errno = err;
    return PyErr_SetFromErrnoWithFilenameObject(PyExc_OSError, session_path);
}

static PyObject *
stats_dict(const uint64_t *fields)
{
    PyObject *dict = PyDict_New();
    if (!dict) {
        return NULL;
    }
    for (int i = 0; i < LT_STAT_COUNT; i++) {
        PyObject *value = PyLong_FromUnsignedLongLong(fields[i]);
        if (!value || PyDict_SetItemString(dict, stat_names[i], value) < 0) {
            Py_XDECREF(value);
            Py_DECREF(dict);
            return NULL;
        }
        Py_DECREF(value);
    }
    return dict;
}

/* The counters of a sampled session count blocks in fixed point
 * (lt_sampler.h); Python sees whole estimated blocks. */
static uint64_t
whole_blocks(uint64_t count)
{
    if (!lt_sampler_rate_bytes) {
        return count;
    }
    return (count + LT_SAMPLE_COUNT_SCALE / 2) / LT_SAMPLE_COUNT_SCALE;
}

static void
unscale_stats(lt_tracker_stats *stats)
{
    stats->fields[LT_STAT_TOTAL_ALLOCS] = whole_blocks(stats->fields[LT_STAT_TOTAL_ALLOCS]);
    stats->fields[LT_STAT_TOTAL_FREES] = whole_blocks(stats->fields[LT_STAT_TOTAL_FREES]);
    stats->heap_count = whole_blocks(stats->heap_count);
}

/* ---- start / snapshot / stop ---- */

static int
write_meta(PyObject *meta)
{
    PyObject *key, *value;
    Py_ssize_t pos = 0;
    while (PyDict_Next(meta, &pos, &key, &value)) {
        Py_ssize_t key_len, value_len;
        const char *k = PyUnicode_AsUTF8AndSize(key, &key_len);
        const char *v = k ? PyUnicode_AsUTF8AndSize(value, &value_len) : NULL;
        if (!v) {
            return -1;
        }
        if (lt_writer_meta(&session_writer, k, (size_t)key_len, v, (size_t)value_len) < 0) {
            PyErr_NoMemory();
            return -1;
        }
    }
    return 0;
}

static PyObject *
core_start(PyObject *module, PyObject *args, PyObject *kwargs)
{
    static char *keywords[] = {"path",        "max_depth", "meta",     "sample_bytes",
                               "sample_seed", "follow_fork", "parent", "attached",
                               NULL};
    PyObject *path;
    int max_depth = 64;
    PyObject *meta = NULL;
    unsigned long long sample_bytes = 0;
    PyObject *sample_seed = Py_None;
    int follow_fork = 0, attached = 0;
    PyObject *parent = Py_None;
    (void)module;
    if (!PyArg_ParseTupleAndKeywords(args, kwargs, "U|iO!KOpOp:start", keywords, &path,
                                     &max_depth, &PyDict_Type, &meta, &sample_bytes,
                                     &sample_seed, &follow_fork, &parent, &attached)) {
        return NULL;
    }
    uint64_t seed;
    if (sample_seed == Py_None) {
        seed = (uint64_t)time(NULL) * 0x9E3779B97F4A7C15ull ^ (uint64_t)getpid();
    }
    else {
        seed = PyLong_AsUnsignedLongLongMask(sample_seed);
        if (seed == (uint64_t)-1 && PyErr_Occurred()) {
            return NULL;
        }
    }
    unsigned how = 0;
    unsigned long long parent_pid = 0;
    const char *parent_capture = NULL;
    Py_ssize_t parent_capture_len = 0;
    if (parent != Py_None &&
        (!PyArg_ParseTuple(parent, "IKs#:start parent", &how, &parent_pid, &parent_capture,
                           &parent_capture_len))) {
        return NULL;
    }
    if (parent != Py_None && how >= LT_LINK_KIND_COUNT) {
        PyErr_SetString(PyExc_ValueError, "unknown parent link kind");
        return NULL;
    }
    if (lt_tracker_is_active() || session_path) {
        PyErr_SetString(PyExc_RuntimeError, "leaktrace is already tracking");
        return NULL;
    }
    if (max_depth < 1 || max_depth > LT_MAX_DEPTH_LIMIT) {
        PyErr_Format(PyExc_ValueError, "max_depth must be between 1 and %d",
                     LT_MAX_DEPTH_LIMIT);
        return NULL;
    }
    PyObject *encoded;
    if (!PyUnicode_FSConverter(path, &encoded)) {
        return NULL;
    }
    int r = lt_writer_open(&session_writer, PyBytes_AS_STRING(encoded));
    Py_DECREF(encoded);
    if (r < 0) {
        return PyErr_SetFromErrnoWithFilenameObject(PyExc_OSError, path);
    }
    Py_INCREF(path);
    session_path = path;
    if ((meta && write_meta(meta) < 0)) {
        goto error;
    }
    if ((sample_bytes &&
         lt_writer_sampling(&session_writer, sample_bytes, LT_SAMPLE_COUNT_SCALE, seed) < 0) ||
        (parent != Py_None &&
         lt_writer_parent(&session_writer, (lt_parent_link)how, parent_pid, parent_capture,
                          (size_t)parent_capture_len) < 0) ||
        (attached && lt_writer_attached(&session_writer) < 0)) {
        PyErr_NoMemory();
        goto error;
    }
    if (lt_writer_flush(&session_writer) < 0) {
        raise_writer_error(session_writer.error);
        goto error;
    }
    lt_sampler_configure(sample_bytes, seed);
    lt_tracker_follow_fork(follow_fork);
    switch (lt_tracker_start(max_depth)) {
    case LT_START_OK:
        Py_RETURN_NONE;
    case LT_START_NO_MEMORY:
        PyErr_NoMemory();
        goto error;
    case LT_START_HOOKS_BURIED:
        PyErr_SetString(PyExc_RuntimeError,
                        "leaktrace cannot start: its previous hooks are still installed beneath "
                        "another allocator hook (a tracer such as tracemalloc started after "
                        "leaktrace); stop that tracer first");
        goto error;
    default:
        PyErr_SetString(PyExc_RuntimeError, "leaktrace could not start tracking");
        goto error;
    }
error:
    lt_writer_abandon(&session_writer);
    Py_CLEAR(session_path);
    return NULL;
}

static PyObject *
core_snapshot(PyObject *module, PyObject *args)
{
    PyObject *label = Py_None;
    (void)module;
    if (!PyArg_ParseTuple(args, "|O:snapshot", &label)) {
        return NULL;
    }
    if (!lt_tracker_is_active() || !session_path) {
        PyErr_SetString(PyExc_RuntimeError, "leaktrace is not tracking");
        return NULL;
    }
    const char *text = NULL;
    Py_ssize_t len = 0;
    if (label != Py_None) {
        if (!PyUnicode_Check(label)) {
            PyErr_SetString(PyExc_TypeError, "label must be a str or None");
            return NULL;
        }
        text = PyUnicode_AsUTF8AndSize(label, &len);
        if (!text) {
            return NULL;
        }
    }
    uint64_t seq = session_writer.snapshots;
    if (lt_tracker_snapshot(&session_writer, LT_SNAP_MARK, text, (size_t)len) < 0) {
        return PyErr_NoMemory();
    }
    if (lt_writer_flush(&session_writer) < 0) {
        return raise_writer_error(session_writer.error);
    }
    return PyLong_FromUnsignedLongLong(seq);
}

static PyObject *
core_stop(PyObject *module, PyObject *unused)
{
    (void)module;
    (void)unused;
    if (!session_path) {
        PyErr_SetString(PyExc_RuntimeError, "leaktrace is not tracking");
        return NULL;
    }
    int snapshot_failed =
        lt_tracker_snapshot(&session_writer, LT_SNAP_FINAL, NULL, 0) < 0;
    lt_tracker_stop();
    lt_tracker_stats stats;
    lt_tracker_get_stats(&stats);
    int stats_failed = lt_writer_stats(&session_writer, stats.fields, LT_STAT_COUNT) < 0;
    int close_failed = 0;
    if (snapshot_failed || stats_failed) {
        /* Without its final snapshot the capture must not claim to be whole:
         * write what was encoded, but no closing record. */
        lt_writer_flush(&session_writer);
        lt_writer_abandon(&session_writer);
    }
    else {
        close_failed = lt_writer_close(&session_writer) < 0;
    }
    lt_tracker_release();
    PyObject *path = session_path;
    session_path = NULL;
    if (snapshot_failed || stats_failed) {
        Py_DECREF(path);
        return PyErr_NoMemory();
    }
    if (close_failed) {
        errno = session_writer.error;
        PyErr_SetFromErrnoWithFilenameObject(PyExc_OSError, path);
        Py_DECREF(path);
        return NULL;
    }
    Py_DECREF(path);
    unscale_stats(&stats);
    return stats_dict(stats.fields);
}

static PyObject *
core_is_tracking(PyObject *module, PyObject *unused)
{
    (void)module;
    (void)unused;
    return PyBool_FromLong(lt_tracker_is_active());
}

static PyObject *
core_stats(PyObject *module, PyObject *unused)
{
    (void)module;
    (void)unused;
    lt_tracker_stats stats;
    lt_tracker_get_stats(&stats);
    unscale_stats(&stats);
    PyObject *dict = stats_dict(stats.fields);
    if (!dict) {
        return NULL;
    }
    PyObject *extra = Py_BuildValue(
        "{s:K,s:K,s:K,s:K,s:K,s:K}", "heap_bytes", (unsigned long long)stats.heap_bytes,
        "heap_count", (unsigned long long)stats.heap_count, "tracker_current_bytes",
        (unsigned long long)stats.tracker_bytes, "nodes", (unsigned long long)stats.nodes,
        "frames", (unsigned long long)stats.frames, "strings",
        (unsigned long long)stats.strings);
    if (!extra || PyDict_Update(dict, extra) < 0) {
        Py_XDECREF(extra);
        Py_DECREF(dict);
        return NULL;
    }
    Py_DECREF(extra);
    return dict;
}

/* ---- following forked children ---- */

/* In a child forked while tracking with follow_fork: moves the session to a
 * capture of its own at path, linked to the parent's (parent_capture, its
 * path as the caller names it, and the pid that owned the writer). The tables inherited
 * from the parent hold its live blocks, which stay live here. */
static PyObject *
core_follow_fork(PyObject *module, PyObject *args)
{
    PyObject *path, *meta, *parent_capture;
    (void)module;
    if (!PyArg_ParseTuple(args, "UO!U:follow_fork", &path, &PyDict_Type, &meta,
                          &parent_capture)) {
        return NULL;
    }
    if (!session_path || session_writer.owner == getpid()) {
        PyErr_SetString(PyExc_RuntimeError, "not a forked child of a tracked process");
        return NULL;
    }
    PyObject *encoded, *parent_encoded;
    if (!PyUnicode_FSConverter(path, &encoded)) {
        return NULL;
    }
    if (!PyUnicode_FSConverter(parent_capture, &parent_encoded)) {
        Py_DECREF(encoded);
        return NULL;
    }
    pid_t parent_pid = session_writer.owner;
    int r = lt_writer_reopen(&session_writer, PyBytes_AS_STRING(encoded));
    Py_DECREF(encoded);
    if (r < 0) {
        Py_DECREF(parent_encoded);
        lt_tracker_stop();
        lt_tracker_release();
        Py_CLEAR(session_path);
        return PyErr_SetFromErrnoWithFilenameObject(PyExc_OSError, path);
    }
    r = lt_writer_parent(&session_writer, LT_LINK_FORK, (uint64_t)parent_pid,
                         PyBytes_AS_STRING(parent_encoded),
                         (size_t)PyBytes_GET_SIZE(parent_encoded));
    Py_DECREF(parent_encoded);
    Py_INCREF(path);
    Py_SETREF(session_path, path);
    if (r < 0 || write_meta(meta) < 0 ||
        (lt_sampler_rate_bytes && lt_writer_sampling(&session_writer, lt_sampler_rate_bytes,
                                                     LT_SAMPLE_COUNT_SCALE, 0) < 0)) {
        return PyErr_Occurred() ? NULL : PyErr_NoMemory();
    }
    if (lt_writer_flush(&session_writer) < 0) {
        return raise_writer_error(session_writer.error);
    }
    Py_RETURN_NONE;
}

/* ---- reading ---- */

static PyObject *
decode(const char *ptr, size_t len)
{
    return PyUnicode_DecodeUTF8(ptr, (Py_ssize_t)len, "replace");
}

static PyObject *
build_snapshot(const lt_rsnapshot *s, PyObject *strings)
{
    PyObject *sites = PyList_New((Py_ssize_t)s->nsites);
    if (!sites) {
        return NULL;
    }
    for (size_t i = 0; i < s->nsites; i++) {
        const lt_rsite *site = &s->sites[i];
        PyObject *t = Py_BuildValue("(IKKKK)", site->node, (unsigned long long)site->live_count,
                                    (unsigned long long)site->live_bytes,
                                    (unsigned long long)site->alloc_count,
                                    (unsigned long long)site->alloc_bytes);
        if (!t) {
            Py_DECREF(sites);
            return NULL;
        }
        PyList_SET_ITEM(sites, (Py_ssize_t)i, t);
    }
    PyObject *label = Py_None;
    if (s->label != UINT32_MAX) {
        label = PyList_GET_ITEM(strings, s->label);
    }
    return Py_BuildValue("{s:K,s:I,s:K,s:O,s:K,s:K,s:N}", "seq", (unsigned long long)s->seq,
                         "kind", s->kind, "time_ns", (unsigned long long)s->time_ns, "label",
                         label, "heap_bytes", (unsigned long long)s->heap_bytes, "heap_count",
                         (unsigned long long)s->heap_count, "sites", sites);
}

static PyObject *
build_capture(const lt_capture *cap)
{
    PyObject *result = NULL, *strings = NULL, *frames = NULL, *nodes = NULL, *snapshots = NULL,
             *meta = NULL, *stats = Py_None, *sampling = NULL, *parent = NULL;
    Py_INCREF(stats);
    if (!(strings = PyList_New((Py_ssize_t)cap->nstrings)) ||
        !(frames = PyList_New((Py_ssize_t)cap->nframes)) ||
        !(nodes = PyList_New((Py_ssize_t)cap->nnodes)) ||
        !(snapshots = PyList_New((Py_ssize_t)cap->nsnapshots)) || !(meta = PyDict_New())) {
        goto error;
    }
    for (size_t i = 0; i < cap->nstrings; i++) {
        PyObject *s = decode(cap->strings[i].ptr, cap->strings[i].len);
        if (!s) {
            goto error;
        }
        PyList_SET_ITEM(strings, (Py_ssize_t)i, s);
    }
    for (size_t i = 0; i < cap->nframes; i++) {
        const lt_rframe *f = &cap->frames[i];
        PyObject *t = Py_BuildValue("(OOL)", PyList_GET_ITEM(strings, f->function),
                                    PyList_GET_ITEM(strings, f->file), (long long)f->line);
        if (!t) {
            goto error;
        }
        PyList_SET_ITEM(frames, (Py_ssize_t)i, t);
    }
    for (size_t i = 0; i < cap->nnodes; i++) {
        long frame = cap->nodes[i].frame == UINT32_MAX ? -1 : (long)cap->nodes[i].frame;
        PyObject *t = Py_BuildValue("(Il)", cap->nodes[i].parent, frame);
        if (!t) {
            goto error;
        }
        PyList_SET_ITEM(nodes, (Py_ssize_t)i, t);
    }
    for (size_t i = 0; i < cap->nsnapshots; i++) {
        PyObject *s = build_snapshot(&cap->snapshots[i], strings);
        if (!s) {
            goto error;
        }
        PyList_SET_ITEM(snapshots, (Py_ssize_t)i, s);
    }
    for (size_t i = 0; i < cap->nmeta; i++) {
        PyObject *k = decode(cap->meta[i].key.ptr, cap->meta[i].key.len);
        PyObject *v = k ? decode(cap->meta[i].value.ptr, cap->meta[i].value.len) : NULL;
        int r = v ? PyDict_SetItem(meta, k, v) : -1;
        Py_XDECREF(k);
        Py_XDECREF(v);
        if (r < 0) {
            goto error;
        }
    }
    if (cap->has_stats) {
        Py_DECREF(stats);
        if (!(stats = stats_dict(cap->stats))) {
            goto error;
        }
    }
    if (cap->sample_rate) {
        sampling = Py_BuildValue("{s:K,s:K,s:K}", "rate", (unsigned long long)cap->sample_rate,
                                 "count_scale", (unsigned long long)cap->sample_count_scale,
                                 "seed", (unsigned long long)cap->sample_seed);
    }
    else {
        sampling = Py_NewRef(Py_None);
    }
    if (cap->has_parent) {
        parent = Py_BuildValue("{s:I,s:K,s:N}", "link", cap->parent_link, "pid",
                               (unsigned long long)cap->parent_pid, "capture",
                               PyUnicode_DecodeFSDefaultAndSize(
                                   cap->parent_capture.ptr,
                                   (Py_ssize_t)cap->parent_capture.len));
    }
    else {
        parent = Py_NewRef(Py_None);
    }
    if (!sampling || !parent) {
        goto error;
    }
    result = Py_BuildValue("{s:(II),s:O,s:n,s:n,s:O,s:O,s:O,s:O,s:O,s:O}", "format_version",
                           cap->major, cap->minor, "complete", cap->complete ? Py_True : Py_False,
                           "valid_size", (Py_ssize_t)cap->valid_size, "file_size",
                           (Py_ssize_t)cap->file_size, "meta", meta, "strings", strings,
                           "frames", frames, "nodes", nodes, "snapshots", snapshots, "stats",
                           stats);
    if (result && (PyDict_SetItemString(result, "sampling", sampling) < 0 ||
                   PyDict_SetItemString(result, "parent", parent) < 0 ||
                   PyDict_SetItemString(result, "attached", cap->attached ? Py_True : Py_False) <
                       0)) {
        Py_CLEAR(result);
    }
error:
    Py_XDECREF(sampling);
    Py_XDECREF(parent);
    Py_XDECREF(strings);
    Py_XDECREF(frames);
    Py_XDECREF(nodes);
    Py_XDECREF(snapshots);
    Py_XDECREF(meta);
    Py_XDECREF(stats);
    return result;
}

static PyObject *
core_read_capture(PyObject *module, PyObject *args, PyObject *kwargs)
{
    static char *keywords[] = {"path", "allow_partial", NULL};
    PyObject *path;
    int allow_partial = 0;
    (void)module;
    if (!PyArg_ParseTupleAndKeywords(args, kwargs, "O&|p:read_capture", keywords,
                                     PyUnicode_FSConverter, &path, &allow_partial)) {
        return NULL;
    }
    lt_capture cap;
    int r;
    Py_BEGIN_ALLOW_THREADS
    r = lt_reader_open(&cap, PyBytes_AS_STRING(path));
    Py_END_ALLOW_THREADS
    Py_DECREF(path);
    PyObject *result = NULL;
    if (r < 0) {
        PyErr_SetString(CaptureError, cap.error);
    }
    else if (!cap.complete && !allow_partial) {
        PyErr_Format(CaptureError,
                     "truncated capture: it ends at byte %zu of %zu without its closing record "
                     "(the tracked process was killed?); --partial reads what it holds",
                     cap.valid_size, cap.file_size);
    }
    else if (cap.nsnapshots == 0) {
        PyErr_Format(CaptureError, "capture holds no snapshot (%zu bytes readable)",
                     cap.valid_size);
    }
    else {
        result = build_capture(&cap);
    }
    lt_reader_close(&cap);
    return result;
}

/* ---- module ---- */

static PyMethodDef core_methods[] = {
    {"start", (PyCFunction)(void (*)(void))core_start, METH_VARARGS | METH_KEYWORDS,
     "start(path, max_depth=64, meta=None, sample_bytes=0, sample_seed=None, "
     "follow_fork=False, parent=None, attached=False)\n--\n\n"
     "Start tracking into a new capture file."},
    {"snapshot", core_snapshot, METH_VARARGS,
     "snapshot(label=None)\n--\n\nRecord a snapshot of live memory; returns its number."},
    {"stop", core_stop, METH_NOARGS,
     "stop()\n--\n\nStop tracking, complete the capture and return its statistics."},
    {"is_tracking", core_is_tracking, METH_NOARGS, "is_tracking()\n--\n\n"},
    {"stats", core_stats, METH_NOARGS,
     "stats()\n--\n\nStatistics of the current (or last) session."},
    {"follow_fork", core_follow_fork, METH_VARARGS,
     "follow_fork(path, meta, parent_capture)\n--\n\nIn a forked child: continue the session in a capture of its "
     "own."},
    {"read_capture", (PyCFunction)(void (*)(void))core_read_capture,
     METH_VARARGS | METH_KEYWORDS,
     "read_capture(path, allow_partial=False)\n--\n\nRead and validate a capture file."},
    {NULL, NULL, 0, NULL},
};

static struct PyModuleDef core_module = {
    PyModuleDef_HEAD_INIT, "leaktrace._core", "The C engine of leaktrace.", -1, core_methods,
    NULL, NULL, NULL, NULL,
};

PyMODINIT_FUNC
PyInit__core(void)
{
    PyObject *module = PyModule_Create(&core_module);
    if (!module) {
        return NULL;
    }
    if (!CaptureError) {
        CaptureError = PyErr_NewExceptionWithDoc(
            "leaktrace.CaptureError", "A capture file is unreadable, corrupt or truncated.",
            PyExc_ValueError, NULL);
        if (!CaptureError) {
            Py_DECREF(module);
            return NULL;
        }
    }
    /* The module holds its own reference; the static one stays for reuse. */
    if (PyModule_AddObjectRef(module, "CaptureError", CaptureError) < 0 ||
        PyModule_AddIntConstant(module, "MAX_DEPTH_LIMIT", LT_MAX_DEPTH_LIMIT) < 0 ||
        PyModule_AddIntConstant(module, "FORMAT_MAJOR", LT_FORMAT_MAJOR) < 0 ||
        PyModule_AddIntConstant(module, "LINK_FORK", LT_LINK_FORK) < 0 ||
        PyModule_AddIntConstant(module, "LINK_EXEC", LT_LINK_EXEC) < 0) {
        Py_DECREF(module);
        return NULL;
    }
    return module;
}
