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

#include "analyze/lt_analysis.h"
#include "capture/lt_format.h"
#include "record/lt_native.h"
#include "heap/lt_path.h"
#include "analyze/lt_progress.h"
#include "base/lt_rawalloc.h"
#include "capture/lt_reader.h"
#include "heap/lt_retain.h"
#include "record/lt_rss.h"
#include "record/lt_sampler.h"
#include "record/lt_timer.h"
#include "record/lt_tracker.h"
#include "record/lt_unwind.h"
#include "capture/lt_writer.h"

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

static int
write_native_map(void *arg, uint64_t base, uint64_t start, uint64_t end, const char *path,
                 size_t path_len, const uint8_t *build_id, size_t build_id_len)
{
    (void)arg;
    return lt_writer_native_map(&session_writer, base, start, end, path, path_len, build_id,
                                build_id_len);
}

/* The loaded objects, for symbolizing native frames when reporting. */
static int
write_native_maps(void)
{
    return lt_unwind_for_each_object(write_native_map, NULL) != 0 ? -1 : 0;
}

/* Whether the session records native frames (its maps are written at stop). */
static int session_native_frames;

static PyObject *
core_start(PyObject *module, PyObject *args, PyObject *kwargs)
{
    static char *keywords[] = {"path",         "max_depth",   "meta",        "native",
                               "native_frames", "sample_bytes", "sample_seed", "follow_fork",
                               "parent",       "attached",    NULL};
    PyObject *path;
    int max_depth = 64;
    PyObject *meta = NULL;
    int native = 0, native_frames = 0;
    unsigned long long sample_bytes = 0;
    PyObject *sample_seed = Py_None;
    int follow_fork = 0, attached = 0;
    PyObject *parent = Py_None;
    (void)module;
    if (!PyArg_ParseTupleAndKeywords(args, kwargs, "U|iO!ppKOpOp:start", keywords, &path,
                                     &max_depth, &PyDict_Type, &meta, &native, &native_frames,
                                     &sample_bytes, &sample_seed, &follow_fork, &parent,
                                     &attached)) {
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
    if (lt_tracker_set_native_frames(native_frames) < 0) {
        PyErr_SetString(PyExc_RuntimeError,
                        "leaktrace cannot record native frames: the interpreter's own code "
                        "was not found among the loaded objects");
        goto error;
    }
    if (native_frames && write_native_maps() < 0) {
        PyErr_NoMemory();
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
    session_native_frames = native_frames;
    lt_sampler_configure(sample_bytes, seed);
    lt_tracker_follow_fork(follow_fork);
    switch (lt_tracker_start(max_depth)) {
    case LT_START_OK:
        if (native && lt_native_install() < 0) {
            lt_tracker_stop();
            lt_tracker_release();
            PyErr_SetString(PyExc_RuntimeError,
                            "leaktrace cannot track native allocations: the C library's "
                            "allocator functions were not found");
            goto error;
        }
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

/* Encodes a snapshot and, when the process's RSS can be read, its extra
 * record; the caller flushes. Returns 0 or -1 (memory). */
static int
record_snapshot(lt_snapshot_kind kind, const char *label, size_t label_len)
{
    if (lt_tracker_snapshot(&session_writer, kind, label, label_len) < 0) {
        return -1;
    }
    uint64_t rss;
    if (lt_rss_bytes(&rss) == 0 && lt_writer_snapshot_extra(&session_writer, rss) < 0) {
        return -1;
    }
    return 0;
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
    if (record_snapshot(LT_SNAP_MARK, text, (size_t)len) < 0) {
        return PyErr_NoMemory();
    }
    if (lt_writer_flush(&session_writer) < 0) {
        return raise_writer_error(session_writer.error);
    }
    return PyLong_FromUnsignedLongLong(seq);
}

/* ---- retention ---- */

static PyObject *decode(const char *ptr, size_t len);

static const char *const root_kind_names[LT_ROOT_KIND_COUNT] = {
    [LT_ROOT_MODULE] = "module",       [LT_ROOT_CLASS] = "class",
    [LT_ROOT_FRAME] = "frame",         [LT_ROOT_EXCEPTION] = "exception",
    [LT_ROOT_EXTERNAL] = "external",   [LT_ROOT_GARBAGE] = "garbage",
};

static const char *const edge_kind_names[LT_EDGE_KIND_COUNT] = {
    [LT_EDGE_ATTR] = "attr",         [LT_EDGE_KEY] = "key",         [LT_EDGE_INDEX] = "index",
    [LT_EDGE_SET_ITEM] = "set_item", [LT_EDGE_DICT_KEY] = "dict_key",
    [LT_EDGE_CLOSURE] = "closure",   [LT_EDGE_LOCAL] = "local",     [LT_EDGE_OTHER] = "other",
};

static const char *const summary_names[LT_RSUM_COUNT] = {
    [LT_RSUM_OBJECTS] = "objects",
    [LT_RSUM_EDGES] = "edges",
    [LT_RSUM_ANALYSIS_BYTES] = "analysis_bytes",
    [LT_RSUM_DURATION_NS] = "duration_ns",
    [LT_RSUM_ROOT_BYTES] = "root_bytes",
    [LT_RSUM_EXTERNAL_BYTES] = "external_bytes",
    [LT_RSUM_GARBAGE_BYTES] = "garbage_bytes",
};

/* A decoded path as a dict (the bytes were validated or made by us). */
static PyObject *
path_object(const lt_path *p)
{
    PyObject *edges = PyList_New(p->nedges);
    if (!edges) {
        return NULL;
    }
    for (uint32_t i = 0; i < p->nedges; i++) {
        PyObject *t = Py_BuildValue("(sN)", edge_kind_names[p->edges[i].kind],
                                    decode(p->edges[i].text, p->edges[i].len));
        if (!t) {
            Py_DECREF(edges);
            return NULL;
        }
        PyList_SET_ITEM(edges, i, t);
    }
    return Py_BuildValue("{s:s,s:N,s:N,s:N,s:K,s:K}", "root_kind", root_kind_names[p->root_kind],
                         "root", decode(p->root, p->root_len), "target",
                         decode(p->target, p->target_len), "edges", edges, "object_bytes",
                         (unsigned long long)p->object_bytes, "retained_bytes",
                         (unsigned long long)p->retained_bytes);
}

static PyObject *
paths_list(const lt_bytes *b, int npaths)
{
    PyObject *list = PyList_New(npaths);
    const uint8_t *pos = b->data, *end = b->data + b->len;
    for (int i = 0; list && i < npaths; i++) {
        lt_path path;
        PyObject *item = lt_path_decode(&pos, end, &path) == 0 ? path_object(&path) : NULL;
        if (!item) {
            if (!PyErr_Occurred()) {
                PyErr_SetString(PyExc_RuntimeError, "leaktrace: bad retention path");
            }
            Py_CLEAR(list);
            break;
        }
        PyList_SET_ITEM(list, i, item);
    }
    return list;
}

static uint64_t
elapsed_ns(const struct timespec *since)
{
    struct timespec now;
    clock_gettime(CLOCK_MONOTONIC, &now);
    return (uint64_t)(now.tv_sec - since->tv_sec) * 1000000000ull + (uint64_t)now.tv_nsec -
           (uint64_t)since->tv_nsec;
}

static PyObject *
core_find_paths(PyObject *module, PyObject *args, PyObject *kwargs)
{
    static char *keywords[] = {"objects", "max_paths", "dominators", "caller_frames", NULL};
    PyObject *objects;
    int max_paths = 5, dominators = 1, caller_frames = 1;
    (void)module;
    if (!PyArg_ParseTupleAndKeywords(args, kwargs, "O!|ipi:find_paths", keywords, &PyTuple_Type,
                                     &objects, &max_paths, &dominators, &caller_frames)) {
        return NULL;
    }
    if (max_paths < 1 || max_paths > 100) {
        PyErr_SetString(PyExc_ValueError, "max_paths must be between 1 and 100");
        return NULL;
    }
    if (lt_graph_collector_running()) {
        PyErr_SetString(PyExc_RuntimeError,
                        "leaktrace cannot analyze the heap while the garbage collector runs");
        return NULL;
    }
    Py_ssize_t nobjects = PyTuple_GET_SIZE(objects);
    lt_retain r;
    lt_bytes *found = PyMem_Calloc((size_t)nobjects + 1, sizeof(lt_bytes));
    int *counts = PyMem_Calloc((size_t)nobjects + 1, sizeof(int));
    PyObject *result = NULL, *paths = NULL;
    uint64_t build_ns = 0, dominators_ns = 0, paths_ns = 0;
    if (!found || !counts) {
        PyMem_Free(found);
        PyMem_Free(counts);
        return PyErr_NoMemory();
    }
    /* No Python object is made from here to lt_retain_destroy(); the
     * collector stays off all the same, in case a C helper allocates. */
    int was_enabled = PyGC_Disable();
    struct timespec t0;
    clock_gettime(CLOCK_MONOTONIC, &t0);
    int failed = lt_retain_build(&r, caller_frames, objects) < 0;
    build_ns = elapsed_ns(&t0);
    clock_gettime(CLOCK_MONOTONIC, &t0);
    if (!failed && dominators) {
        failed = lt_retain_dominators(&r) < 0;
        dominators_ns = elapsed_ns(&t0);
    }
    clock_gettime(CLOCK_MONOTONIC, &t0);
    for (Py_ssize_t i = 0; i < nobjects && !failed; i++) {
        counts[i] = lt_retain_why(&r, PyTuple_GET_ITEM(objects, i), max_paths, &found[i]);
        failed = counts[i] < 0;
    }
    paths_ns = elapsed_ns(&t0);
    uint64_t nodes = r.graph.count, edges = r.graph.nedges, memory = r.graph.peak_memory;
    lt_retain_destroy(&r);
    if (was_enabled) {
        PyGC_Enable();
    }
    if (failed) {
        PyErr_NoMemory();
        goto done;
    }
    if (!(paths = PyList_New(nobjects))) {
        goto done;
    }
    for (Py_ssize_t i = 0; i < nobjects; i++) {
        PyObject *list = paths_list(&found[i], counts[i]);
        if (!list) {
            goto done;
        }
        PyList_SET_ITEM(paths, i, list);
    }
    result = Py_BuildValue("{s:O,s:K,s:K,s:K,s:K,s:K,s:K}", "paths", paths, "objects",
                           (unsigned long long)nodes, "edges", (unsigned long long)edges,
                           "analysis_bytes", (unsigned long long)memory, "build_ns",
                           (unsigned long long)build_ns, "dominators_ns",
                           (unsigned long long)dominators_ns, "paths_ns",
                           (unsigned long long)paths_ns);
done:
    Py_XDECREF(paths);
    for (Py_ssize_t i = 0; i < nobjects; i++) {
        lt_bytes_free(&found[i]);
    }
    PyMem_Free(found);
    PyMem_Free(counts);
    return result;
}

static int
emit_retention(void *ctx, const uint8_t *payload, size_t len)
{
    return lt_writer_record(ctx, LT_REC_RETENTION, payload, len);
}

/* Retention records for the capture, computed while the tracker still holds
 * its data. A failure leaves the capture without (some of) them: they are
 * optional, and the allocation report stands without them. */
static void
write_retention(int sites)
{
    if (sites <= 0 || lt_graph_collector_running()) {
        return;
    }
    int was_enabled = PyGC_Disable();
    lt_retain r;
    if (lt_retain_build(&r, -1, NULL) == 0) {
        lt_retain_report(&r, sites, 3, "<frozen importlib", emit_retention, &session_writer);
    }
    lt_retain_destroy(&r);
    if (was_enabled) {
        PyGC_Enable();
    }
}

static PyObject *
core_stop(PyObject *module, PyObject *args, PyObject *kwargs)
{
    static char *keywords[] = {"retention_sites", NULL};
    int retention_sites = 0;
    (void)module;
    if (!PyArg_ParseTupleAndKeywords(args, kwargs, "|i:stop", keywords, &retention_sites)) {
        return NULL;
    }
    lt_timer_stop(); /* releases the GIL while joining: check the session after it */
    if (!session_path) {
        PyErr_SetString(PyExc_RuntimeError, "leaktrace is not tracking");
        return NULL;
    }
    lt_native_uninstall();
    int snapshot_failed = (session_native_frames && write_native_maps() < 0) ||
                          record_snapshot(LT_SNAP_FINAL, NULL, 0) < 0;
    lt_tracker_stop();
    if (!snapshot_failed) {
        write_retention(retention_sites);
    }
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

/* ---- interval snapshots ---- */

/* Runs on the timer thread with the GIL held. Errors stay in the writer and
 * surface when the session stops. */
static int
interval_tick(void *unused)
{
    (void)unused;
    if (!session_path || !lt_tracker_is_active()) {
        return 0;
    }
    if (record_snapshot(LT_SNAP_INTERVAL, NULL, 0) < 0) {
        return -1;
    }
    return lt_writer_flush(&session_writer);
}

static PyObject *
core_stop_timer(PyObject *module, PyObject *unused)
{
    (void)module;
    (void)unused;
    lt_timer_stop();
    Py_RETURN_NONE;
}

/* The timer thread must be gone before the interpreter is finalized. */
static int
register_atexit(PyObject *module)
{
    static int registered;
    if (registered) {
        return 0;
    }
    PyObject *func = PyObject_GetAttrString(module, "stop_timer");
    if (!func) {
        return -1;
    }
    PyObject *atexit = PyImport_ImportModule("atexit");
    PyObject *r = atexit ? PyObject_CallMethod(atexit, "register", "O", func) : NULL;
    Py_XDECREF(atexit);
    Py_DECREF(func);
    if (!r) {
        return -1;
    }
    Py_DECREF(r);
    registered = 1;
    return 0;
}

static PyObject *
core_timer_before_fork(PyObject *module, PyObject *unused)
{
    (void)module;
    (void)unused;
    lt_timer_pause_for_fork();
    Py_RETURN_NONE;
}

/* A pending call: it runs in the main thread once os.fork() has returned. A
 * restart that fails (no memory, no thread) leaves the timer stopped; raising
 * here would surface at an arbitrary line of the program. */
static int
resume_timer(void *unused)
{
    (void)unused;
    (void)lt_timer_resume_after_fork();
    return 0;
}

static PyObject *
core_timer_after_fork_parent(PyObject *module, PyObject *unused)
{
    (void)module;
    (void)unused;
    /* 3.13 counts the threads after the after_in_parent callbacks: a thread
     * started here would be counted, so the restart waits for a pending call. */
    if (Py_AddPendingCall(resume_timer, NULL) < 0) {
        resume_timer(NULL);
    }
    Py_RETURN_NONE;
}

/* os.fork() warns (3.12+) when other threads run: the timer thread is joined
 * before a fork and restarted in the parent after it (lt_timer.h). */
static int
register_at_fork(PyObject *module)
{
    static int registered;
    if (registered) {
        return 0;
    }
    PyObject *before = PyObject_GetAttrString(module, "_timer_before_fork");
    PyObject *after = before ? PyObject_GetAttrString(module, "_timer_after_fork_parent") : NULL;
    PyObject *os = after ? PyImport_ImportModule("os") : NULL;
    PyObject *func = os ? PyObject_GetAttrString(os, "register_at_fork") : NULL;
    PyObject *kwargs = func ? Py_BuildValue("{sOsO}", "before", before, "after_in_parent", after)
                            : NULL;
    PyObject *empty = kwargs ? PyTuple_New(0) : NULL;
    PyObject *r = empty ? PyObject_Call(func, empty, kwargs) : NULL;
    Py_XDECREF(empty);
    Py_XDECREF(kwargs);
    Py_XDECREF(func);
    Py_XDECREF(os);
    Py_XDECREF(after);
    Py_XDECREF(before);
    if (!r) {
        return -1;
    }
    Py_DECREF(r);
    registered = 1;
    return 0;
}

static PyObject *
core_start_timer(PyObject *module, PyObject *args)
{
    double seconds;
    if (!PyArg_ParseTuple(args, "d:start_timer", &seconds)) {
        return NULL;
    }
    if (!(seconds >= 0.001 && seconds <= 86400.0)) {
        PyErr_SetString(PyExc_ValueError, "interval must be between 0.001 and 86400 seconds");
        return NULL;
    }
    if (!lt_tracker_is_active() || !session_path) {
        PyErr_SetString(PyExc_RuntimeError, "leaktrace is not tracking");
        return NULL;
    }
    if (register_atexit(module) < 0 || register_at_fork(module) < 0) {
        return NULL;
    }
    if (lt_timer_start((uint64_t)(seconds * 1e9), interval_tick, NULL) < 0) {
        if (errno == EBUSY) {
            PyErr_SetString(PyExc_RuntimeError, "the snapshot timer is already running");
            return NULL;
        }
        return PyErr_SetFromErrno(PyExc_OSError);
    }
    Py_RETURN_NONE;
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

static PyObject *
core_timer_ticks(PyObject *module, PyObject *unused)
{
    (void)module;
    (void)unused;
    return PyLong_FromUnsignedLongLong(lt_timer_ticks());
}

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
    PyObject *rss = s->has_rss ? PyLong_FromUnsignedLongLong(s->rss_bytes) : Py_NewRef(Py_None);
    if (!rss) {
        Py_DECREF(sites);
        return NULL;
    }
    return Py_BuildValue("{s:K,s:I,s:K,s:O,s:K,s:K,s:N,s:N}", "seq", (unsigned long long)s->seq,
                         "kind", s->kind, "time_ns", (unsigned long long)s->time_ns, "label",
                         label, "heap_bytes", (unsigned long long)s->heap_bytes, "heap_count",
                         (unsigned long long)s->heap_count, "sites", sites, "rss_bytes", rss);
}

static PyObject *
retention_record(const lt_rretention *rec)
{
    const uint8_t *pos = rec->body, *end = rec->end;
    if (rec->what == LT_RET_SUMMARY) {
        uint64_t n = 0, v = 0;
        PyObject *dict = PyDict_New();
        lt_varint_decode(&pos, end, &n);
        for (uint64_t i = 0; dict && i < n; i++) {
            lt_varint_decode(&pos, end, &v);
            if (i >= LT_RSUM_COUNT) {
                continue; /* a later field */
            }
            PyObject *value = PyLong_FromUnsignedLongLong(v);
            if (!value || PyDict_SetItemString(dict, summary_names[i], value) < 0) {
                Py_CLEAR(dict);
            }
            Py_XDECREF(value);
        }
        return dict ? Py_BuildValue("{s:s,s:N}", "what", "summary", "summary", dict) : NULL;
    }
    lt_path path;
    if (lt_path_decode(&pos, end, &path) < 0) {
        PyErr_SetString(CaptureError, "corrupt retention record");
        return NULL;
    }
    PyObject *p = path_object(&path);
    if (!p) {
        return NULL;
    }
    if (rec->what == LT_RET_SITE) {
        return Py_BuildValue("{s:s,s:I,s:N}", "what", "site", "node", rec->node, "path", p);
    }
    if (rec->what == LT_RET_SUSPECT) {
        return Py_BuildValue("{s:s,s:K,s:N}", "what", "suspect", "leaked_bytes",
                             (unsigned long long)rec->amount, "path", p);
    }
    PyObject *sites = PyList_New(rec->nsites);
    const uint8_t *s = rec->sites;
    for (uint32_t i = 0; sites && i < rec->nsites; i++) {
        uint64_t node = 0, bytes = 0;
        lt_varint_decode(&s, rec->body, &node);
        lt_varint_decode(&s, rec->body, &bytes);
        PyObject *t = Py_BuildValue("(KK)", (unsigned long long)node, (unsigned long long)bytes);
        if (!t) {
            Py_CLEAR(sites);
            break;
        }
        PyList_SET_ITEM(sites, i, t);
    }
    if (!sites) {
        Py_DECREF(p);
        return NULL;
    }
    return Py_BuildValue("{s:s,s:K,s:K,s:K,s:N,s:N}", "what", "cycle", "clusters",
                         (unsigned long long)rec->clusters, "objects",
                         (unsigned long long)rec->objects, "bytes",
                         (unsigned long long)rec->amount, "sites", sites, "path", p);
}

/* Fills a list of PyList_New(n) with (function, file, line) of each frame;
 * strings holds the capture's strings. Returns 0 or -1 (exception set). */
static int
fill_frames(PyObject *list, const lt_rframe *frames, PyObject *strings)
{
    for (Py_ssize_t i = 0; i < PyList_GET_SIZE(list); i++) {
        const lt_rframe *f = &frames[i];
        PyObject *t = Py_BuildValue("(OOL)", PyList_GET_ITEM(strings, f->function),
                                    PyList_GET_ITEM(strings, f->file), (long long)f->line);
        if (!t) {
            return -1;
        }
        PyList_SET_ITEM(list, i, t);
    }
    return 0;
}

/* Fills a list of PyList_New(n) with (parent, frame) of each node, frame -1 for
 * the root. Returns 0 or -1 (exception set). */
static int
fill_nodes(PyObject *list, const lt_rnode *nodes)
{
    for (Py_ssize_t i = 0; i < PyList_GET_SIZE(list); i++) {
        long frame = nodes[i].frame == UINT32_MAX ? -1 : (long)nodes[i].frame;
        PyObject *t = Py_BuildValue("(Il)", nodes[i].parent, frame);
        if (!t) {
            return -1;
        }
        PyList_SET_ITEM(list, i, t);
    }
    return 0;
}

static PyObject *
build_capture(const lt_capture *cap)
{
    PyObject *result = NULL, *strings = NULL, *frames = NULL, *nodes = NULL, *snapshots = NULL,
             *meta = NULL, *native_maps = NULL, *retention = NULL, *stats = Py_None,
             *sampling = NULL, *parent = NULL;
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
    if (fill_frames(frames, cap->frames, strings) < 0 || fill_nodes(nodes, cap->nodes) < 0) {
        goto error;
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
    if (!(native_maps = PyList_New((Py_ssize_t)cap->nnative_maps))) {
        goto error;
    }
    for (size_t i = 0; i < cap->nnative_maps; i++) {
        const lt_rnative_map *m = &cap->native_maps[i];
        PyObject *t = Py_BuildValue("(KKKy#y#)", (unsigned long long)m->base,
                                    (unsigned long long)m->start, (unsigned long long)m->end,
                                    m->path.ptr, (Py_ssize_t)m->path.len, m->build_id.ptr,
                                    (Py_ssize_t)m->build_id.len);
        if (!t) {
            goto error;
        }
        PyList_SET_ITEM(native_maps, (Py_ssize_t)i, t);
    }
    if (!(retention = PyList_New((Py_ssize_t)cap->nretention))) {
        goto error;
    }
    for (size_t i = 0; i < cap->nretention; i++) {
        PyObject *rec = retention_record(&cap->retention[i]);
        if (!rec) {
            goto error;
        }
        PyList_SET_ITEM(retention, (Py_ssize_t)i, rec);
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
    result = Py_BuildValue("{s:(II),s:O,s:n,s:n,s:O,s:O,s:O,s:O,s:O,s:O,s:O}",
                           "format_version", cap->major, cap->minor, "complete",
                           cap->complete ? Py_True : Py_False, "valid_size",
                           (Py_ssize_t)cap->valid_size, "file_size", (Py_ssize_t)cap->file_size,
                           "meta", meta, "strings", strings, "frames", frames, "nodes", nodes,
                           "snapshots", snapshots, "stats", stats, "native_maps", native_maps);
    if (result && (PyDict_SetItemString(result, "retention", retention) < 0 ||
                   PyDict_SetItemString(result, "sampling", sampling) < 0 ||
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
    Py_XDECREF(native_maps);
    Py_XDECREF(retention);
    Py_XDECREF(stats);
    return result;
}

/* Raises CaptureError and returns -1 unless a parsed capture can be reported:
 * it must hold a snapshot, and be complete unless partial ones are allowed. */
static int
check_readable(int complete, int allow_partial, size_t nsnapshots, uint64_t valid_size,
               uint64_t file_size)
{
    if (!complete && !allow_partial) {
        PyErr_Format(CaptureError,
                     "truncated capture: it ends at byte %llu of %llu without its closing record "
                     "(the tracked process was killed?); --partial reads what it holds",
                     (unsigned long long)valid_size, (unsigned long long)file_size);
        return -1;
    }
    if (nsnapshots == 0 && !complete) {
        PyErr_Format(CaptureError,
                     "truncated capture holds no snapshot: it ends at byte %llu of %llu, before "
                     "its first snapshot was written",
                     (unsigned long long)valid_size, (unsigned long long)file_size);
        return -1;
    }
    if (nsnapshots == 0) {
        PyErr_Format(CaptureError, "capture holds no snapshot (%llu bytes readable)",
                     (unsigned long long)valid_size);
        return -1;
    }
    return 0;
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
    else if (check_readable(cap.complete, allow_partial, cap.nsnapshots, cap.valid_size,
                            cap.file_size) == 0) {
        result = build_capture(&cap);
    }
    lt_reader_close(&cap);
    return result;
}

/* ---- analysing (streaming, for the reporters) ---- */

static PyObject *
analysis_text(const lt_analysis *a, lt_astring s)
{
    return decode(a->text + s.offset, s.len);
}

static PyObject *
analysis_sites(const lt_asites *sites)
{
    PyObject *list = PyList_New((Py_ssize_t)sites->nsites);
    if (!list) {
        return NULL;
    }
    for (size_t i = 0; i < sites->nsites; i++) {
        const lt_rsite *site = &sites->sites[i];
        PyObject *t = Py_BuildValue("(IKKKK)", site->node, (unsigned long long)site->live_count,
                                    (unsigned long long)site->live_bytes,
                                    (unsigned long long)site->alloc_count,
                                    (unsigned long long)site->alloc_bytes);
        if (!t) {
            Py_DECREF(list);
            return NULL;
        }
        PyList_SET_ITEM(list, (Py_ssize_t)i, t);
    }
    return list;
}

static PyObject *
build_analysis(const lt_analysis *a)
{
    PyObject *result = NULL, *strings = NULL, *frames = NULL, *nodes = NULL, *snapshots = NULL,
             *meta = NULL, *last = NULL, *peak = NULL, *native_maps = NULL, *sampling = NULL,
             *stats = Py_None;
    Py_INCREF(stats);
    if (!(strings = PyList_New((Py_ssize_t)a->nstrings)) ||
        !(frames = PyList_New((Py_ssize_t)a->nframes)) ||
        !(nodes = PyList_New((Py_ssize_t)a->nnodes)) ||
        !(snapshots = PyList_New((Py_ssize_t)a->nsnapshots)) || !(meta = PyDict_New()) ||
        !(last = analysis_sites(&a->last)) || !(peak = analysis_sites(&a->peak))) {
        goto error;
    }
    for (size_t i = 0; i < a->nstrings; i++) {
        PyObject *s = analysis_text(a, a->strings[i]);
        if (!s) {
            goto error;
        }
        PyList_SET_ITEM(strings, (Py_ssize_t)i, s);
    }
    if (fill_frames(frames, a->frames, strings) < 0 || fill_nodes(nodes, a->nodes) < 0) {
        goto error;
    }
    for (size_t i = 0; i < a->nsnapshots; i++) {
        const lt_asnapshot *s = &a->snapshots[i];
        PyObject *label = s->label == UINT32_MAX ? Py_None : PyList_GET_ITEM(strings, s->label);
        PyObject *rss =
            s->has_rss ? PyLong_FromUnsignedLongLong(s->rss_bytes) : Py_NewRef(Py_None);
        PyObject *t = rss ? Py_BuildValue("(KIKOKKN)", (unsigned long long)s->seq, s->kind,
                                          (unsigned long long)s->time_ns, label,
                                          (unsigned long long)s->heap_bytes,
                                          (unsigned long long)s->heap_count, rss)
                          : NULL;
        if (!t) {
            goto error;
        }
        PyList_SET_ITEM(snapshots, (Py_ssize_t)i, t);
    }
    if (!(native_maps = PyList_New((Py_ssize_t)a->nnative_maps))) {
        goto error;
    }
    for (size_t i = 0; i < a->nnative_maps; i++) {
        const lt_anative_map *m = &a->native_maps[i];
        PyObject *t = Py_BuildValue("(KKKy#y#)", (unsigned long long)m->base,
                                    (unsigned long long)m->start, (unsigned long long)m->end,
                                    a->text + m->path.offset, (Py_ssize_t)m->path.len,
                                    a->text + m->build_id.offset, (Py_ssize_t)m->build_id.len);
        if (!t) {
            goto error;
        }
        PyList_SET_ITEM(native_maps, (Py_ssize_t)i, t);
    }
    for (size_t i = 0; i + 1 < a->nmeta; i += 2) {
        PyObject *k = analysis_text(a, a->meta[i]);
        PyObject *v = k ? analysis_text(a, a->meta[i + 1]) : NULL;
        int r = v ? PyDict_SetItem(meta, k, v) : -1;
        Py_XDECREF(k);
        Py_XDECREF(v);
        if (r < 0) {
            goto error;
        }
    }
    if (a->has_stats) {
        Py_DECREF(stats);
        if (!(stats = stats_dict(a->stats))) {
            goto error;
        }
    }
    if (a->sample_rate) {
        sampling = Py_BuildValue("{s:K,s:K}", "rate", (unsigned long long)a->sample_rate,
                                 "count_scale", (unsigned long long)a->sample_count_scale);
    }
    else {
        sampling = Py_NewRef(Py_None);
    }
    if (!sampling) {
        goto error;
    }
    result = Py_BuildValue("{s:(II),s:O,s:K,s:K,s:O,s:O,s:O,s:O,s:O,s:O,s:O,s:n,s:O,s:O}",
                           "format_version", a->major, a->minor, "complete",
                           a->complete ? Py_True : Py_False, "valid_size",
                           (unsigned long long)a->valid_size, "file_size",
                           (unsigned long long)a->file_size, "meta", meta, "stats", stats,
                           "frames", frames, "nodes", nodes, "snapshots", snapshots, "last", last,
                           "peak", peak, "peak_index", (Py_ssize_t)a->peak_index,
                           "native_maps", native_maps, "sampling", sampling);
error:
    Py_XDECREF(strings);
    Py_XDECREF(frames);
    Py_XDECREF(nodes);
    Py_XDECREF(snapshots);
    Py_XDECREF(meta);
    Py_XDECREF(last);
    Py_XDECREF(peak);
    Py_XDECREF(native_maps);
    Py_XDECREF(sampling);
    Py_XDECREF(stats);
    return result;
}

static PyObject *
core_analyze(PyObject *module, PyObject *args, PyObject *kwargs)
{
    static char *keywords[] = {"path", "allow_partial", "progress_fd", "progress_delay", NULL};
    PyObject *path;
    int allow_partial = 0;
    int progress_fd = -1;
    double progress_delay = 0.5;
    (void)module;
    if (!PyArg_ParseTupleAndKeywords(args, kwargs, "O&|pid:analyze", keywords,
                                     PyUnicode_FSConverter, &path, &allow_partial, &progress_fd,
                                     &progress_delay)) {
        return NULL;
    }
    if (progress_delay < 0) {
        Py_DECREF(path);
        PyErr_SetString(PyExc_ValueError, "progress_delay must not be negative");
        return NULL;
    }
    lt_analysis analysis;
    lt_progress progress;
    int r;
    Py_BEGIN_ALLOW_THREADS
    if (progress_fd >= 0) {
        lt_progress_init(&progress, progress_fd, "leaktrace: reading the capture",
                         (uint64_t)(progress_delay * 1e9));
    }
    r = lt_analysis_run(&analysis, PyBytes_AS_STRING(path),
                        progress_fd >= 0 ? lt_progress_update : NULL, &progress);
    if (progress_fd >= 0) {
        lt_progress_finish(&progress);
    }
    Py_END_ALLOW_THREADS
    Py_DECREF(path);
    PyObject *result = NULL;
    if (r < 0) {
        PyErr_SetString(CaptureError, analysis.error);
    }
    else if (check_readable(analysis.complete, allow_partial, analysis.nsnapshots,
                            analysis.valid_size, analysis.file_size) == 0) {
        result = build_analysis(&analysis);
    }
    lt_analysis_free(&analysis);
    return result;
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
    {"start", (PyCFunction)(void (*)(void))core_start, METH_VARARGS | METH_KEYWORDS,
     "start(path, max_depth=64, meta=None, native=False, native_frames=False, sample_bytes=0, "
     "sample_seed=None, follow_fork=False, parent=None, attached=False)\n--\n\n"
     "Start tracking into a new capture file; native=True also tracks the malloc family and "
     "mmap of C code."},
    {"snapshot", core_snapshot, METH_VARARGS,
     "snapshot(label=None)\n--\n\nRecord a snapshot of live memory; returns its number."},
    {"stop", (PyCFunction)(void (*)(void))core_stop, METH_VARARGS | METH_KEYWORDS,
     "stop(retention_sites=0)\n--\n\nStop tracking, complete the capture and return its "
     "statistics.\nWith retention_sites > 0, first record why the objects of that many "
     "sites are alive."},
    {"find_paths", (PyCFunction)(void (*)(void))core_find_paths, METH_VARARGS | METH_KEYWORDS,
     "find_paths(objects, max_paths=5, dominators=True, caller_frames=1)\n--\n\n"
     "Reference paths from roots to each object of a tuple, with timings."},
    {"is_tracking", core_is_tracking, METH_NOARGS, "is_tracking()\n--\n\n"},
    {"stats", core_stats, METH_NOARGS,
     "stats()\n--\n\nStatistics of the current (or last) session."},
    {"start_timer", core_start_timer, METH_VARARGS,
     "start_timer(seconds)\n--\n\nTake an interval snapshot every `seconds` from a native "
     "thread."},
    {"_timer_before_fork", core_timer_before_fork, METH_NOARGS,
     "_timer_before_fork()\n--\n\nos.register_at_fork callback: pause the snapshot timer."},
    {"_timer_after_fork_parent", core_timer_after_fork_parent, METH_NOARGS,
     "_timer_after_fork_parent()\n--\n\nos.register_at_fork callback: resume the timer."},
    {"stop_timer", core_stop_timer, METH_NOARGS,
     "stop_timer()\n--\n\nStop interval snapshots (tracking goes on)."},
    {"timer_ticks", core_timer_ticks, METH_NOARGS,
     "timer_ticks()\n--\n\nInterval snapshots taken by the current (or last) timer."},
    {"native_hook_address", core_native_hook_address, METH_O,
     "native_hook_address(symbol)\n--\n\nAddress of leaktrace's hook for a C symbol, or 0."},
    {"native_patches", core_native_patches, METH_NOARGS,
     "native_patches()\n--\n\n[(slot, original), ...]: the GOT slots patched now."},
    {"follow_fork", core_follow_fork, METH_VARARGS,
     "follow_fork(path, meta, parent_capture)\n--\n\nIn a forked child: continue the session in a capture of its "
     "own."},
    {"read_capture", (PyCFunction)(void (*)(void))core_read_capture,
     METH_VARARGS | METH_KEYWORDS,
     "read_capture(path, allow_partial=False)\n--\n\nRead and validate a capture file."},
    {"analyze", (PyCFunction)(void (*)(void))core_analyze, METH_VARARGS | METH_KEYWORDS,
     "analyze(path, allow_partial=False, progress_fd=-1, progress_delay=0.5)\n--\n\n"
     "Stream through a capture: its trace tree, the sites of its last snapshot and of the one\n"
     "with the highest heap, and a summary of every snapshot."},
    {"_set_tracker_memory_limit", core_set_tracker_memory_limit, METH_O,
     "_set_tracker_memory_limit(bytes)\n--\n\nFor tests: the tracker's own allocations fail "
     "past this many bytes in all, as when memory runs out; 0 lifts the limit."},
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
