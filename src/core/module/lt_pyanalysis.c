/* lt_pyanalysis.c - leaktrace._core.analyze: the streaming analysis of a
 * capture as Python objects. */
#include "module/lt_pyanalysis.h"

#include "analyze/lt_analysis.h"
#include "analyze/lt_progress.h"
#include "module/lt_pyobj.h"

static PyObject *
analysis_text(const lt_analysis *a, lt_astring s)
{
    return lt_py_decode(a->text + s.offset, s.len);
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
        !(last = lt_py_sites(a->last.sites, a->last.nsites)) ||
        !(peak = lt_py_sites(a->peak.sites, a->peak.nsites))) {
        goto error;
    }
    for (size_t i = 0; i < a->nstrings; i++) {
        PyObject *s = analysis_text(a, a->strings[i]);
        if (!s) {
            goto error;
        }
        PyList_SET_ITEM(strings, (Py_ssize_t)i, s);
    }
    if (lt_py_fill_frames(frames, a->frames, strings) < 0 ||
        lt_py_fill_nodes(nodes, a->nodes) < 0) {
        goto error;
    }
    for (size_t i = 0; i < a->nsnapshots; i++) {
        const lt_asnapshot *s = &a->snapshots[i];
        PyObject *label = s->label == UINT32_MAX ? Py_None : PyList_GET_ITEM(strings, s->label);
        PyObject *rss = s->has_rss ? PyLong_FromUnsignedLongLong(s->rss_bytes)
                                   : Py_NewRef(Py_None);
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
        if (!(stats = lt_py_stats_dict(a->stats))) {
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
    result = Py_BuildValue(
        "{s:(II),s:O,s:K,s:K,s:O,s:O,s:O,s:O,s:O,s:O,s:O,s:n,s:O,s:O}", "format_version", a->major,
        a->minor, "complete", a->complete ? Py_True : Py_False, "valid_size",
        (unsigned long long)a->valid_size, "file_size", (unsigned long long)a->file_size, "meta",
        meta, "stats", stats, "frames", frames, "nodes", nodes, "snapshots", snapshots, "last",
        last, "peak", peak, "peak_index", (Py_ssize_t)a->peak_index, "native_maps", native_maps,
        "sampling", sampling);
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

PyObject *
lt_py_analyze(PyObject *module, PyObject *args, PyObject *kwargs)
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
    Py_BEGIN_ALLOW_THREADS if (progress_fd >= 0)
    {
        lt_progress_init(&progress, progress_fd, "leaktrace: reading the capture",
                         (uint64_t)(progress_delay * 1e9));
    }
    r = lt_analysis_run(&analysis, PyBytes_AS_STRING(path),
                        progress_fd >= 0 ? lt_progress_update : NULL, &progress);
    if (progress_fd >= 0) {
        lt_progress_finish(&progress);
    }
    Py_END_ALLOW_THREADS Py_DECREF(path);
    PyObject *result = NULL;
    if (r < 0) {
        PyErr_SetString(lt_py_capture_error, analysis.error);
    }
    else if (lt_py_check_readable(analysis.complete, allow_partial, analysis.nsnapshots,
                                  analysis.valid_size, analysis.file_size) == 0) {
        result = build_analysis(&analysis);
    }
    lt_analysis_free(&analysis);
    return result;
}
