/* lt_pyreading.c - leaktrace._core.read: what every report needs of a
 * capture, from the streaming analyzer, as Python objects. */
#include "module/lt_pyreading.h"

#include "analyze/lt_analysis.h"
#include "analyze/lt_progress.h"
#include "module/lt_pyarray.h"
#include "module/lt_pycapture.h"
#include "module/lt_pyobj.h"

#define NO_SITE UINT32_MAX

/* The bytes of an array, for memoryview(...).cast() on the Python side. */
static PyObject *
array_bytes(const void *data, size_t count, size_t elsize)
{
    return PyBytes_FromStringAndSize(count ? (const char *)data : "",
                                     (Py_ssize_t)(count * elsize));
}

/* A site field of every site, as the bytes of a uint64 array. */
static PyObject *
site_field(const lt_sites *s, size_t offset)
{
    PyObject *out = PyBytes_FromStringAndSize(NULL, (Py_ssize_t)(s->nsites * sizeof(uint64_t)));
    if (!out) {
        return NULL;
    }
    uint64_t *values = (uint64_t *)PyBytes_AS_STRING(out);
    for (size_t g = 0; g < s->nsites; g++) {
        memcpy(&values[g], (const char *)&s->site[g] + offset, sizeof(uint64_t));
    }
    return out;
}

static PyObject *
site_rows(const lt_sites *s)
{
    PyObject *out = PyBytes_FromStringAndSize(NULL, (Py_ssize_t)(s->nsites * sizeof(uint32_t)));
    if (!out) {
        return NULL;
    }
    uint32_t *rows = (uint32_t *)PyBytes_AS_STRING(out);
    for (size_t g = 0; g < s->nsites; g++) {
        rows[g] = s->site[g].row;
    }
    return out;
}

/* By capture node: the site whose node list (site_nodes) holds it, or
 * NO_SITE when none does: what a search of the sites' nodes would find, in
 * O(1). */
static PyObject *
node_sites(const lt_sites *s, size_t nnodes)
{
    PyObject *out = PyBytes_FromStringAndSize(NULL, (Py_ssize_t)(nnodes * sizeof(uint32_t)));
    if (!out) {
        return NULL;
    }
    uint32_t *site = (uint32_t *)PyBytes_AS_STRING(out);
    for (size_t n = 0; n < nnodes; n++) {
        site[n] = NO_SITE;
    }
    for (size_t g = 0; g < s->nsites; g++) {
        for (uint32_t k = s->nodes_start[g]; k < s->nodes_start[g + 1]; k++) {
            if (s->nodes[k] < nnodes) {
                site[s->nodes[k]] = (uint32_t)g;
            }
        }
    }
    return out;
}

/* Capture nodes as two uint32 arrays: parents and distinct frames. */
static int
set_nodes(PyObject *dict, const lt_analysis *a)
{
    PyObject *parents = PyBytes_FromStringAndSize(NULL, (Py_ssize_t)(a->nnodes * 4));
    PyObject *frames = PyBytes_FromStringAndSize(NULL, (Py_ssize_t)(a->nnodes * 4));
    int r = -1;
    if (parents && frames) {
        uint32_t *p = (uint32_t *)PyBytes_AS_STRING(parents);
        uint32_t *f = (uint32_t *)PyBytes_AS_STRING(frames);
        for (size_t n = 0; n < a->nnodes; n++) {
            p[n] = a->nodes[n].parent;
            f[n] = n ? a->trim.frame_canon[a->nodes[n].frame] : UINT32_MAX;
        }
        r = PyDict_SetItemString(dict, "node_parent", parents) < 0 ||
                    PyDict_SetItemString(dict, "node_frame", frames) < 0
                ? -1
                : 0;
    }
    Py_XDECREF(parents);
    Py_XDECREF(frames);
    return r;
}

/* The raw snapshot's sites as uint64 (node, live_count, live_bytes,
 * alloc_count, alloc_bytes) rows. */
static PyObject *
raw_sites(const lt_asites *raw)
{
    PyObject *out = PyBytes_FromStringAndSize(NULL,
                                              (Py_ssize_t)(raw->nsites * 5 * sizeof(uint64_t)));
    if (!out) {
        return NULL;
    }
    uint64_t *row = (uint64_t *)PyBytes_AS_STRING(out);
    for (size_t i = 0; i < raw->nsites; i++, row += 5) {
        const lt_rsite *site = &raw->sites[i];
        row[0] = site->node;
        row[1] = site->live_count;
        row[2] = site->live_bytes;
        row[3] = site->alloc_count;
        row[4] = site->alloc_bytes;
    }
    return out;
}

/* Per trimmed node: 1 when its stack reached the depth limit (a truncation
 * marker is on its path to the root). Parents come first. */
static PyObject *
tree_truncated(const lt_trim *t)
{
    PyObject *out = PyBytes_FromStringAndSize(NULL, (Py_ssize_t)t->ntree);
    if (!out) {
        return NULL;
    }
    uint8_t *truncated = (uint8_t *)PyBytes_AS_STRING(out);
    for (size_t n = 0; n < t->ntree; n++) {
        truncated[n] = n && (t->frame[n] == LT_TRIM_TRUNCATED || truncated[t->parent[n]]);
    }
    return out;
}

static PyObject *
trim_text(const lt_trim *t, uint32_t distinct)
{
    size_t len;
    const char *s = lt_trim_string(t, distinct, &len);
    return lt_py_decode(s, len);
}

static PyObject *
distinct_frames(const lt_trim *t)
{
    PyObject *strings = PyList_New((Py_ssize_t)t->ndistinct);
    PyObject *frames = strings ? PyList_New((Py_ssize_t)t->nframes) : NULL;
    for (size_t i = 0; frames && i < t->ndistinct; i++) {
        PyObject *s = trim_text(t, (uint32_t)i);
        if (!s) {
            Py_CLEAR(frames);
            break;
        }
        PyList_SET_ITEM(strings, (Py_ssize_t)i, s);
    }
    for (size_t i = 0; frames && i < t->nframes; i++) {
        const lt_tframe *f = &t->frames[i];
        PyObject *tuple = Py_BuildValue("(OOL)", PyList_GET_ITEM(strings, f->function),
                                        PyList_GET_ITEM(strings, f->file), (long long)f->line);
        if (!tuple) {
            Py_CLEAR(frames);
            break;
        }
        PyList_SET_ITEM(frames, (Py_ssize_t)i, tuple);
    }
    Py_XDECREF(strings);
    return frames;
}

static PyObject *
snapshots_list(const lt_analysis *a)
{
    PyObject *list = PyList_New((Py_ssize_t)a->nsnapshots);
    for (size_t i = 0; list && i < a->nsnapshots; i++) {
        const lt_asnapshot *s = &a->snapshots[i];
        PyObject *label = s->label == UINT32_MAX
                              ? Py_NewRef(Py_None)
                              : lt_py_decode(a->text + a->strings[s->label].offset,
                                             a->strings[s->label].len);
        PyObject *rss = s->has_rss ? PyLong_FromUnsignedLongLong(s->rss_bytes)
                                   : Py_NewRef(Py_None);
        PyObject *t = label && rss ? Py_BuildValue("(KIKNKKN)", (unsigned long long)s->seq,
                                                   s->kind, (unsigned long long)s->time_ns, label,
                                                   (unsigned long long)s->heap_bytes,
                                                   (unsigned long long)s->heap_count, rss)
                                   : NULL;
        if (!t) {
            if (!label || !rss) {
                Py_XDECREF(label);
                Py_XDECREF(rss);
            }
            Py_CLEAR(list);
            break;
        }
        PyList_SET_ITEM(list, (Py_ssize_t)i, t);
    }
    return list;
}

/* The sums the trimming policy left out, by reason's name: (bytes, count). */
static PyObject *
excluded_dict(const lt_alive *excluded)
{
    return Py_BuildValue("{s:(KK),s:(KK)}", "imports",
                         (unsigned long long)excluded[LT_TRIM_IMPORTS].bytes,
                         (unsigned long long)excluded[LT_TRIM_IMPORTS].count, "no_python_frame",
                         (unsigned long long)excluded[LT_TRIM_FRAMELESS].bytes,
                         (unsigned long long)excluded[LT_TRIM_FRAMELESS].count);
}

/* Each pick: (index, its sites as uint64 (count, bytes, alloc_count,
 * alloc_bytes) per site, the ranked sites as uint32, the sums left out). */
static PyObject *
picks_list(const lt_sites *s)
{
    PyObject *list = PyList_New((Py_ssize_t)s->npicks);
    for (size_t p = 0; list && p < s->npicks; p++) {
        const lt_apick *pick = &s->picks[p];
        PyObject *t = Py_BuildValue("(KNNN)", (unsigned long long)pick->index,
                                    array_bytes(pick->sites, pick->nsites, sizeof(lt_alive)),
                                    array_bytes(pick->ranked, pick->nranked, sizeof(uint32_t)),
                                    excluded_dict(pick->excluded));
        if (!t) {
            Py_CLEAR(list);
            break;
        }
        PyList_SET_ITEM(list, (Py_ssize_t)p, t);
    }
    return list;
}

static PyObject *
u64_list(const uint64_t *values, size_t n)
{
    PyObject *list = PyList_New((Py_ssize_t)n);
    for (size_t i = 0; list && i < n; i++) {
        PyObject *v = PyLong_FromUnsignedLongLong(values[i]);
        if (!v) {
            Py_CLEAR(list);
            break;
        }
        PyList_SET_ITEM(list, (Py_ssize_t)i, v);
    }
    return list;
}

/* Adds key: value to dict and drops the reference to value (NULL: fails). */
static int
put(PyObject *dict, const char *key, PyObject *value)
{
    if (!value) {
        return -1;
    }
    int r = PyDict_SetItemString(dict, key, value);
    Py_DECREF(value);
    return r;
}

/* The verdict columns by site (lt_verdicts.h), and the leak list, taken
 * from v. */
static int
set_verdicts(PyObject *dict, lt_verdicts *v)
{
    size_t n = v->nsites;
    return put(dict, "verdict_class", lt_py_array_take((void **)&v->cls, n)) < 0 ||
                   put(dict, "verdict_reason", lt_py_array_take((void **)&v->reason, n)) < 0 ||
                   put(dict, "verdict_rate",
                       lt_py_array_take((void **)&v->rate, n * sizeof(double))) < 0 ||
                   put(dict, "verdict_rate_per_second",
                       lt_py_array_take((void **)&v->rate_per_second, n * sizeof(double))) < 0 ||
                   put(dict, "verdict_confidence",
                       lt_py_array_take((void **)&v->confidence, n * sizeof(double))) < 0 ||
                   put(dict, "verdict_points",
                       lt_py_array_take((void **)&v->points, n * sizeof(uint32_t))) < 0 ||
                   put(dict, "verdict_total",
                       lt_py_array_take((void **)&v->total, n * sizeof(int64_t))) < 0 ||
                   put(dict, "leak_order",
                       lt_py_array_take((void **)&v->order, v->norder * sizeof(uint32_t))) < 0
               ? -1
               : 0;
}

/* The growth series, taken from s: the largest arrays of a reading, handed
 * over rather than copied. */
static int
set_series(PyObject *dict, lt_sites *s)
{
    size_t size = s->nrows * s->npoints * sizeof(uint64_t);
    return put(dict, "series", lt_py_array_take((void **)&s->series, size)) < 0 ||
                   put(dict, "alloc_series", lt_py_array_take((void **)&s->alloc_series, size)) < 0
               ? -1
               : 0;
}

/* What the reports need of a; takes its largest arrays (lt_pyarray.h). */
static PyObject *
build_reading(lt_analysis *a, int keep_raw)
{
    lt_sites *s = &a->sites;
    PyObject *d = PyDict_New();
    if (!d) {
        return NULL;
    }
    PyObject *meta = PyDict_New();
    for (size_t i = 0; meta && i + 1 < a->nmeta; i += 2) {
        PyObject *k = lt_py_decode(a->text + a->meta[i].offset, a->meta[i].len);
        PyObject *v = k ? lt_py_decode(a->text + a->meta[i + 1].offset, a->meta[i + 1].len) : NULL;
        if (!v || PyDict_SetItem(meta, k, v) < 0) {
            Py_CLEAR(meta);
        }
        Py_XDECREF(k);
        Py_XDECREF(v);
    }
    PyObject *native_maps = PyList_New((Py_ssize_t)a->nnative_maps);
    for (size_t i = 0; native_maps && i < a->nnative_maps; i++) {
        const lt_anative_map *m = &a->native_maps[i];
        PyObject *t = Py_BuildValue("(KKKy#y#)", (unsigned long long)m->base,
                                    (unsigned long long)m->start, (unsigned long long)m->end,
                                    a->text + m->path.offset, (Py_ssize_t)m->path.len,
                                    a->text + m->build_id.offset, (Py_ssize_t)m->build_id.len);
        if (!t) {
            Py_CLEAR(native_maps);
            break;
        }
        PyList_SET_ITEM(native_maps, (Py_ssize_t)i, t);
    }
    PyObject *retention = PyList_New((Py_ssize_t)a->nretention);
    for (size_t i = 0; retention && i < a->nretention; i++) {
        PyObject *rec = lt_py_retention_record(&a->retention[i].rec);
        if (!rec) {
            Py_CLEAR(retention);
            break;
        }
        PyList_SET_ITEM(retention, (Py_ssize_t)i, rec);
    }
    PyObject *sampling = a->sample_rate
                             ? Py_BuildValue("{s:K,s:K,s:K}", "rate",
                                             (unsigned long long)a->sample_rate, "count_scale",
                                             (unsigned long long)a->sample_count_scale, "seed",
                                             (unsigned long long)a->sample_seed)
                             : Py_NewRef(Py_None);
    PyObject *parent = a->has_parent
                           ? Py_BuildValue("{s:I,s:K,s:N}", "link", a->parent_link, "pid",
                                           (unsigned long long)a->parent_pid, "capture",
                                           PyUnicode_DecodeFSDefaultAndSize(
                                               a->text + a->parent_capture.offset,
                                               (Py_ssize_t)a->parent_capture.len))
                           : Py_NewRef(Py_None);
    PyObject *excluded = excluded_dict(s->excluded);
    if (put(d, "format_version", Py_BuildValue("(II)", a->major, a->minor)) < 0 ||
        put(d, "complete", PyBool_FromLong(a->complete)) < 0 ||
        put(d, "valid_size", PyLong_FromUnsignedLongLong(a->valid_size)) < 0 ||
        put(d, "file_size", PyLong_FromUnsignedLongLong(a->file_size)) < 0 ||
        put(d, "meta", meta) < 0 ||
        put(d, "stats", a->has_stats ? lt_py_stats_dict(a->stats) : Py_NewRef(Py_None)) < 0 ||
        put(d, "native_maps", native_maps) < 0 || put(d, "retention", retention) < 0 ||
        put(d, "sampling", sampling) < 0 || put(d, "parent", parent) < 0 ||
        put(d, "attached", PyBool_FromLong(a->attached)) < 0 ||
        put(d, "frames", distinct_frames(&a->trim)) < 0 || set_nodes(d, a) < 0 ||
        put(d, "tree_parent", array_bytes(a->trim.parent, a->trim.ntree, 4)) < 0 ||
        put(d, "tree_frame", array_bytes(a->trim.frame, a->trim.ntree, 4)) < 0 ||
        put(d, "tree_truncated", tree_truncated(&a->trim)) < 0 ||
        put(d, "live_count", site_field(s, offsetof(lt_asite, live_count))) < 0 ||
        put(d, "live_bytes", site_field(s, offsetof(lt_asite, live_bytes))) < 0 ||
        put(d, "alloc_count", site_field(s, offsetof(lt_asite, alloc_count))) < 0 ||
        put(d, "alloc_bytes", site_field(s, offsetof(lt_asite, alloc_bytes))) < 0 ||
        put(d, "peak_count", site_field(s, offsetof(lt_asite, peak_count))) < 0 ||
        put(d, "peak_bytes", site_field(s, offsetof(lt_asite, peak_bytes))) < 0 ||
        put(d, "rows", site_rows(s)) < 0 ||
        put(d, "site_nodes", array_bytes(s->nodes, s->nodes_start[s->nsites], 4)) < 0 ||
        put(d, "site_nodes_start", array_bytes(s->nodes_start, s->nsites + 1, 4)) < 0 ||
        put(d, "node_site", node_sites(s, a->nnodes)) < 0 ||
        put(d, "ranked", array_bytes(s->ranked, s->nranked, 4)) < 0 ||
        put(d, "excluded", excluded) < 0 || put(d, "picks", picks_list(s)) < 0 ||
        put(d, "points", u64_list(s->points, s->npoints)) < 0 ||
        put(d, "work", u64_list(s->work, s->npoints)) < 0 || set_series(d, s) < 0 ||
        put(d, "snapshots", snapshots_list(a)) < 0 ||
        put(d, "peak_index", PyLong_FromSize_t(a->peak_index)) < 0 ||
        put(d, "raw", keep_raw ? raw_sites(&a->raw) : Py_NewRef(Py_None)) < 0 ||
        set_verdicts(d, &a->verdicts) < 0) {
        Py_DECREF(d);
        return NULL;
    }
    return d;
}

/* Fills int64 values from a sequence of ints. Returns the count or -1. */
static Py_ssize_t
int64_args(PyObject *seq, int64_t *out, Py_ssize_t most, const char *what)
{
    PyObject *fast = PySequence_Fast(seq, what);
    if (!fast) {
        return -1;
    }
    Py_ssize_t n = PySequence_Fast_GET_SIZE(fast);
    if (n > most) {
        PyErr_Format(PyExc_ValueError, "at most %zd %s", most, what);
        Py_DECREF(fast);
        return -1;
    }
    for (Py_ssize_t i = 0; i < n; i++) {
        out[i] = PyLong_AsLongLong(PySequence_Fast_GET_ITEM(fast, i));
        if (out[i] == -1 && PyErr_Occurred()) {
            Py_DECREF(fast);
            return -1;
        }
    }
    Py_DECREF(fast);
    return n;
}

PyObject *
lt_py_read(PyObject *module, PyObject *args, PyObject *kwargs)
{
    static char *keywords[] = {"path",         "allow_partial", "own_prefix",     "own_files",
                               "include_all",  "picks",         "points",         "max_points",
                               "raw_snapshot", "progress_fd",   "progress_delay", NULL};
    PyObject *path, *own_prefix = NULL, *own_files = NULL, *picks = NULL, *points = Py_None;
    int allow_partial = 0, include_all = 0, progress_fd = -1;
    Py_ssize_t max_points = 0, raw_snapshot = -2;
    double progress_delay = 0.5;
    (void)module;
    if (!PyArg_ParseTupleAndKeywords(
            args, kwargs, "O&|$pO&OpOOnnid:read", keywords, PyUnicode_FSConverter, &path,
            &allow_partial, PyUnicode_FSConverter, &own_prefix, &own_files, &include_all, &picks,
            &points, &max_points, &raw_snapshot, &progress_fd, &progress_delay)) {
        return NULL;
    }
    PyObject *result = NULL, *files = NULL;
    uint64_t *point_values = NULL;
    const char **file_names = NULL;
    lt_analysis_options o = {.max_points = max_points > 0 ? (size_t)max_points : 0};
    lt_analysis analysis;
    memset(&analysis, 0, sizeof(analysis));
    if (progress_delay < 0 || max_points < 0) {
        PyErr_SetString(PyExc_ValueError, "progress_delay and max_points must not be negative");
        goto done;
    }
    if (own_prefix) {
        o.trim.own_prefix = PyBytes_AS_STRING(own_prefix);
        o.trim.own_prefix_len = (size_t)PyBytes_GET_SIZE(own_prefix);
    }
    if (own_files) {
        if (!(files = PySequence_Fast(own_files, "own_files must be a sequence"))) {
            goto done;
        }
        Py_ssize_t n = PySequence_Fast_GET_SIZE(files);
        if (!(file_names = PyMem_Calloc((size_t)n + 1, sizeof(char *)))) {
            PyErr_NoMemory();
            goto done;
        }
        for (Py_ssize_t i = 0; i < n; i++) {
            if (!(file_names[i] = PyUnicode_AsUTF8(PySequence_Fast_GET_ITEM(files, i)))) {
                goto done;
            }
        }
        o.trim.own_files = file_names;
        o.trim.nown_files = (size_t)n;
    }
    o.trim.include_all = include_all;
    if (picks) {
        Py_ssize_t n = int64_args(picks, o.picks, LT_SITES_MAX_PICKS, "picks");
        if (n < 0) {
            goto done;
        }
        o.npicks = (size_t)n;
    }
    if (points != Py_None) {
        Py_ssize_t n = PySequence_Length(points);
        if (n < 0 || !(point_values = PyMem_Calloc((size_t)n + 1, sizeof(uint64_t)))) {
            if (n >= 0) {
                PyErr_NoMemory();
            }
            goto done;
        }
        if (int64_args(points, (int64_t *)point_values, n, "points") < 0) {
            goto done;
        }
        o.points = point_values;
        o.npoints = (size_t)n;
    }
    o.raw_pick = raw_snapshot != -2;
    o.raw_snapshot = raw_snapshot;
    lt_progress progress;
    int r;
    Py_BEGIN_ALLOW_THREADS if (progress_fd >= 0)
    {
        lt_progress_init(&progress, progress_fd, "leaktrace: reading the capture",
                         (uint64_t)(progress_delay * 1e9));
        o.progress = lt_progress_update;
        o.progress_ctx = &progress;
    }
    r = lt_analysis_read(&analysis, PyBytes_AS_STRING(path), &o);
    if (progress_fd >= 0) {
        lt_progress_finish(&progress);
    }
    Py_END_ALLOW_THREADS if (r < 0)
    {
        PyErr_SetString(lt_py_capture_error, analysis.error);
    }
    else if (lt_py_check_readable(analysis.complete, allow_partial, analysis.nsnapshots,
                                  analysis.valid_size, analysis.file_size) == 0)
    {
        result = build_reading(&analysis, o.raw_pick);
    }
done:
    lt_analysis_free(&analysis);
    PyMem_Free(point_values);
    PyMem_Free(file_names);
    Py_XDECREF(files);
    Py_XDECREF(own_prefix);
    Py_DECREF(path);
    return result;
}

PyObject *
lt_py_take(PyObject *module, PyObject *args)
{
    PyObject *values_arg, *indexes_arg;
    Py_buffer fill = {0};
    (void)module;
    if (!PyArg_ParseTuple(args, "OO|y*:take", &values_arg, &indexes_arg, &fill)) {
        return NULL;
    }
    Py_buffer values, indexes;
    if (PyObject_GetBuffer(values_arg, &values, PyBUF_FORMAT | PyBUF_C_CONTIGUOUS) < 0) {
        if (fill.buf) {
            PyBuffer_Release(&fill);
        }
        return NULL;
    }
    if (PyObject_GetBuffer(indexes_arg, &indexes, PyBUF_FORMAT | PyBUF_C_CONTIGUOUS) < 0) {
        PyBuffer_Release(&values);
        if (fill.buf) {
            PyBuffer_Release(&fill);
        }
        return NULL;
    }
    PyObject *result = NULL;
    const char *fmt = indexes.format ? indexes.format : "B";
    if (strcmp(fmt, "I") != 0 && strcmp(fmt, "=I") != 0 && strcmp(fmt, "@I") != 0) {
        PyErr_SetString(PyExc_TypeError, "take: indexes must be a uint32 ('I') buffer");
        goto done;
    }
    size_t size = (size_t)values.itemsize, count = (size_t)values.len / size;
    size_t n = (size_t)indexes.len / sizeof(uint32_t);
    const uint32_t *at = indexes.buf;
    if (fill.buf && (size_t)fill.len != size) {
        PyErr_SetString(PyExc_ValueError, "take: fill must be the bytes of one item");
        goto done;
    }
    for (size_t i = 0; i < n && !fill.buf; i++) {
        if (at[i] >= count) {
            PyErr_Format(PyExc_IndexError, "take: index %u of %zu values", at[i], count);
            goto done;
        }
    }
    if (!(result = PyBytes_FromStringAndSize(NULL, (Py_ssize_t)(n * size)))) {
        goto done;
    }
    char *out = PyBytes_AS_STRING(result);
    const char *in = values.buf;
    /* The common widths copied as values (a memcpy call per item of a
     * run-time size costs more than the gather itself). */
#define GATHER(type)                                                                              \
    do {                                                                                          \
        type *dst = (type *)(void *)out, missing = 0;                                             \
        const type *src = (const type *)(const void *)in;                                         \
        if (fill.buf) {                                                                           \
            memcpy(&missing, fill.buf, sizeof(type));                                             \
        }                                                                                         \
        for (size_t i = 0; i < n; i++) {                                                          \
            dst[i] = at[i] < count ? src[at[i]] : missing;                                        \
        }                                                                                         \
    } while (0)
    if (size == 1) {
        GATHER(uint8_t);
    }
    else if (size == 4 && ((uintptr_t)in | (uintptr_t)out) % 4 == 0) {
        GATHER(uint32_t);
    }
    else if (size == 8 && ((uintptr_t)in | (uintptr_t)out) % 8 == 0) {
        GATHER(uint64_t);
    }
    else {
        for (size_t i = 0; i < n; i++) {
            memcpy(out + i * size, at[i] < count ? in + (size_t)at[i] * size : fill.buf, size);
        }
    }
#undef GATHER
done:
    PyBuffer_Release(&indexes);
    PyBuffer_Release(&values);
    if (fill.buf) {
        PyBuffer_Release(&fill);
    }
    return result;
}

PyObject *
lt_py_positions(PyObject *module, PyObject *args)
{
    PyObject *indexes_arg;
    Py_ssize_t size;
    (void)module;
    if (!PyArg_ParseTuple(args, "On:positions", &indexes_arg, &size)) {
        return NULL;
    }
    if (size < 0 || (size_t)size > SIZE_MAX / sizeof(uint32_t)) {
        PyErr_SetString(PyExc_ValueError, "positions: size out of range");
        return NULL;
    }
    Py_buffer indexes;
    if (PyObject_GetBuffer(indexes_arg, &indexes, PyBUF_FORMAT | PyBUF_C_CONTIGUOUS) < 0) {
        return NULL;
    }
    PyObject *result = NULL;
    const char *fmt = indexes.format ? indexes.format : "B";
    size_t n = (size_t)indexes.len / sizeof(uint32_t);
    if (strcmp(fmt, "I") != 0 && strcmp(fmt, "=I") != 0 && strcmp(fmt, "@I") != 0) {
        PyErr_SetString(PyExc_TypeError, "positions: indexes must be a uint32 ('I') buffer");
    }
    else if (n >= UINT32_MAX) {
        PyErr_SetString(PyExc_ValueError, "positions: 2^32 - 1 indexes at most");
    }
    else if ((result = PyBytes_FromStringAndSize(NULL, size * (Py_ssize_t)sizeof(uint32_t)))) {
        uint32_t *where = (uint32_t *)PyBytes_AS_STRING(result);
        const uint32_t *at = indexes.buf;
        for (Py_ssize_t v = 0; v < size; v++) {
            where[v] = NO_SITE;
        }
        for (size_t i = 0; i < n; i++) {
            if (at[i] < (size_t)size) {
                where[at[i]] = (uint32_t)i;
            }
        }
    }
    PyBuffer_Release(&indexes);
    return result;
}
