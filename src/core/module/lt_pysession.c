/* lt_pysession.c - the tracking session of leaktrace._core. */
#include "module/lt_pysession.h"

#include <errno.h>
#include <time.h>
#include <unistd.h>

#include "capture/lt_format.h"
#include "capture/lt_writer.h"
#include "heap/lt_retain.h"
#include "module/lt_pyobj.h"
#include "record/lt_native.h"
#include "record/lt_rss.h"
#include "record/lt_sampler.h"
#include "record/lt_timer.h"
#include "record/lt_tracker.h"
#include "record/lt_unwind.h"

/* Protected by the GIL. */
static lt_writer session_writer;
static PyObject *session_path; /* str, or NULL when no session is open */

static PyObject *
raise_writer_error(int err)
{
    errno = err;
    return PyErr_SetFromErrnoWithFilenameObject(PyExc_OSError, session_path);
}

/* The counters of a sampled session count blocks in fixed point
 * (lt_sampler.h); Python sees whole estimated blocks. */
static uint64_t
whole_blocks(uint64_t count)
{
    if (!lt_sampler_rate()) {
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

PyObject *
lt_py_start(PyObject *module, PyObject *args, PyObject *kwargs)
{
    static char *keywords[] = {"path",          "max_depth",    "meta",        "native",
                               "native_frames", "sample_bytes", "sample_seed", "follow_fork",
                               "parent",        "attached",     NULL};
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
    if (parent != Py_None && (!PyArg_ParseTuple(parent, "IKs#:start parent", &how, &parent_pid,
                                                &parent_capture, &parent_capture_len))) {
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
        PyErr_Format(PyExc_ValueError, "max_depth must be between 1 and %d", LT_MAX_DEPTH_LIMIT);
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
        (parent != Py_None && lt_writer_parent(&session_writer, (lt_parent_link)how, parent_pid,
                                               parent_capture, (size_t)parent_capture_len) < 0) ||
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
    case LT_START_NO_MEMORY: PyErr_NoMemory(); goto error;
    case LT_START_HOOKS_BURIED:
        PyErr_SetString(PyExc_RuntimeError,
                        "leaktrace cannot start: its previous hooks are still installed beneath "
                        "another allocator hook (a tracer such as tracemalloc started after "
                        "leaktrace); stop that tracer first");
        goto error;
    default: PyErr_SetString(PyExc_RuntimeError, "leaktrace could not start tracking"); goto error;
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

int
lt_py_session_is_open(void)
{
    return session_path && lt_tracker_is_active();
}

int
lt_py_session_interval_snapshot(void)
{
    if (!lt_py_session_is_open()) {
        return 0;
    }
    if (record_snapshot(LT_SNAP_INTERVAL, NULL, 0) < 0) {
        return -1;
    }
    return lt_writer_flush(&session_writer);
}

PyObject *
lt_py_snapshot(PyObject *module, PyObject *args)
{
    PyObject *label = Py_None;
    (void)module;
    if (!PyArg_ParseTuple(args, "|O:snapshot", &label)) {
        return NULL;
    }
    if (!lt_py_session_is_open()) {
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

PyObject *
lt_py_stop(PyObject *module, PyObject *args, PyObject *kwargs)
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
    return lt_py_stats_dict(stats.fields);
}

PyObject *
lt_py_is_tracking(PyObject *module, PyObject *unused)
{
    (void)module;
    (void)unused;
    return PyBool_FromLong(lt_tracker_is_active());
}

PyObject *
lt_py_stats(PyObject *module, PyObject *unused)
{
    (void)module;
    (void)unused;
    lt_tracker_stats stats;
    lt_tracker_get_stats(&stats);
    unscale_stats(&stats);
    PyObject *dict = lt_py_stats_dict(stats.fields);
    if (!dict) {
        return NULL;
    }
    PyObject *extra = Py_BuildValue(
        "{s:K,s:K,s:K,s:K,s:K,s:K}", "heap_bytes", (unsigned long long)stats.heap_bytes,
        "heap_count", (unsigned long long)stats.heap_count, "tracker_current_bytes",
        (unsigned long long)stats.tracker_bytes, "nodes", (unsigned long long)stats.nodes,
        "frames", (unsigned long long)stats.frames, "strings", (unsigned long long)stats.strings);
    if (!extra || PyDict_Update(dict, extra) < 0) {
        Py_XDECREF(extra);
        Py_DECREF(dict);
        return NULL;
    }
    Py_DECREF(extra);
    return dict;
}

/* In a child forked while tracking with follow_fork: moves the session to a
 * capture of its own at path, linked to the parent's (parent_capture, its
 * path as the caller names it, and the pid that owned the writer). The tables inherited
 * from the parent hold its live blocks, which stay live here. */
PyObject *
lt_py_follow_fork(PyObject *module, PyObject *args)
{
    PyObject *path, *meta, *parent_capture;
    (void)module;
    if (!PyArg_ParseTuple(args, "UO!U:follow_fork", &path, &PyDict_Type, &meta, &parent_capture)) {
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
        (lt_sampler_rate() &&
         lt_writer_sampling(&session_writer, lt_sampler_rate(), LT_SAMPLE_COUNT_SCALE, 0) < 0)) {
        return PyErr_Occurred() ? NULL : PyErr_NoMemory();
    }
    if (lt_writer_flush(&session_writer) < 0) {
        return raise_writer_error(session_writer.error);
    }
    Py_RETURN_NONE;
}
