/* lt_pycapture.c - leaktrace._core.read_capture: a whole capture as Python
 * objects. */
#include "module/lt_pycapture.h"

#include "capture/lt_format.h"
#include "capture/lt_reader.h"
#include "heap/lt_path.h"
#include "module/lt_pyobj.h"
#include "module/lt_pyretain.h"

static const char *const summary_names[LT_RSUM_COUNT] = {
    [LT_RSUM_OBJECTS] = "objects",
    [LT_RSUM_EDGES] = "edges",
    [LT_RSUM_ANALYSIS_BYTES] = "analysis_bytes",
    [LT_RSUM_DURATION_NS] = "duration_ns",
    [LT_RSUM_ROOT_BYTES] = "root_bytes",
    [LT_RSUM_EXTERNAL_BYTES] = "external_bytes",
    [LT_RSUM_GARBAGE_BYTES] = "garbage_bytes",
};

static PyObject *
build_snapshot(const lt_rsnapshot *s, PyObject *strings)
{
    PyObject *sites = lt_py_sites(s->sites, s->nsites);
    if (!sites) {
        return NULL;
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

PyObject *
lt_py_retention_record(const lt_rretention *rec)
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
        PyErr_SetString(lt_py_capture_error, "corrupt retention record");
        return NULL;
    }
    PyObject *p = lt_py_path(&path);
    if (!p) {
        return NULL;
    }
    if (rec->what == LT_RET_SITE) {
        return Py_BuildValue("{s:s,s:I,s:N}", "what", "site", "node", rec->node, "path", p);
    }
    if (rec->what == LT_RET_HOLDER) {
        return Py_BuildValue("{s:s,s:I,s:I,s:K,s:K,s:N}", "what", "holder", "node", rec->node,
                             "kind", rec->kind, "bound", (unsigned long long)rec->bound, "entries",
                             (unsigned long long)rec->amount, "path", p);
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
        PyObject *s = lt_py_decode(cap->strings[i].ptr, cap->strings[i].len);
        if (!s) {
            goto error;
        }
        PyList_SET_ITEM(strings, (Py_ssize_t)i, s);
    }
    if (lt_py_fill_frames(frames, cap->frames, strings) < 0 ||
        lt_py_fill_nodes(nodes, cap->nodes) < 0) {
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
        PyObject *k = lt_py_decode(cap->meta[i].key.ptr, cap->meta[i].key.len);
        PyObject *v = k ? lt_py_decode(cap->meta[i].value.ptr, cap->meta[i].value.len) : NULL;
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
        PyObject *rec = lt_py_retention_record(&cap->retention[i]);
        if (!rec) {
            goto error;
        }
        PyList_SET_ITEM(retention, (Py_ssize_t)i, rec);
    }
    if (cap->has_stats) {
        Py_DECREF(stats);
        if (!(stats = lt_py_stats_dict(cap->stats))) {
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
                                   cap->parent_capture.ptr, (Py_ssize_t)cap->parent_capture.len));
    }
    else {
        parent = Py_NewRef(Py_None);
    }
    if (!sampling || !parent) {
        goto error;
    }
    result = Py_BuildValue("{s:(II),s:O,s:n,s:n,s:O,s:O,s:O,s:O,s:O,s:O,s:O}", "format_version",
                           cap->major, cap->minor, "complete", cap->complete ? Py_True : Py_False,
                           "valid_size", (Py_ssize_t)cap->valid_size, "file_size",
                           (Py_ssize_t)cap->file_size, "meta", meta, "strings", strings, "frames",
                           frames, "nodes", nodes, "snapshots", snapshots, "stats", stats,
                           "native_maps", native_maps);
    if (result &&
        (PyDict_SetItemString(result, "retention", retention) < 0 ||
         PyDict_SetItemString(result, "sampling", sampling) < 0 ||
         PyDict_SetItemString(result, "parent", parent) < 0 ||
         PyDict_SetItemString(result, "attached", cap->attached ? Py_True : Py_False) < 0)) {
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

PyObject *
lt_py_read_capture(PyObject *module, PyObject *args, PyObject *kwargs)
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
    Py_BEGIN_ALLOW_THREADS r = lt_reader_open(&cap, PyBytes_AS_STRING(path));
    Py_END_ALLOW_THREADS Py_DECREF(path);
    PyObject *result = NULL;
    if (r < 0) {
        PyErr_SetString(lt_py_capture_error, cap.error);
    }
    else if (lt_py_check_readable(cap.complete, allow_partial, cap.nsnapshots, cap.valid_size,
                                  cap.file_size) == 0) {
        result = build_capture(&cap);
    }
    lt_reader_close(&cap);
    return result;
}
