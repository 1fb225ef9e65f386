/* lt_pyprofile.c - rank_nodes, pprof_samples and folded: see lt_pyprofile.h. */
#include "module/lt_pyprofile.h"

#include <stdint.h>
#include <stdlib.h>

#include "base/lt_buf.h"
#include "base/lt_sort.h"

/* profile.proto: Profile.sample (2) and Sample.location_id (1), .value (2),
 * all length-delimited (wire type 2). */
#define TAG_PROFILE_SAMPLE ((2 << 3) | 2)
#define TAG_SAMPLE_LOCATION_ID ((1 << 3) | 2)
#define TAG_SAMPLE_VALUE ((2 << 3) | 2)

void
lt_py_release_views(lt_py_views *v)
{
    while (v->nviews > 0) {
        PyBuffer_Release(&v->views[--v->nviews]);
    }
}

const void *
lt_py_get_array(lt_py_views *v, PyObject *obj, char code, size_t count, size_t *count_out,
                const char *what)
{
    Py_buffer *view = &v->views[v->nviews];
    if (v->nviews == LT_PY_MAX_VIEWS) {
        PyErr_SetString(PyExc_SystemError, "too many arrays");
        return NULL;
    }
    if (PyObject_GetBuffer(obj, view, PyBUF_FORMAT | PyBUF_C_CONTIGUOUS) < 0) {
        return NULL;
    }
    v->nviews++;
    const char *fmt = view->format ? view->format : "B";
    if (*fmt == '@' || *fmt == '=') {
        fmt++;
    }
    size_t itemsize = code == 'Q' ? 8 : 4;
    if (fmt[0] != code || fmt[1] || (size_t)view->itemsize != itemsize) {
        PyErr_Format(PyExc_TypeError, "%s must be an array of format '%c'", what, code);
        return NULL;
    }
    size_t n = (size_t)view->len / itemsize;
    if (count != (size_t)-1 && n < count) {
        PyErr_Format(PyExc_ValueError, "%s has %zu values, %zu needed", what, n, count);
        return NULL;
    }
    if (count_out) {
        *count_out = n;
    }
    return view->buf;
}

int
lt_py_check_tree(const uint32_t *parent, const int32_t *frame, size_t nnodes, size_t nframes)
{
    for (size_t n = 0; n < nnodes; n++) {
        if (n && parent[n] >= n) {
            PyErr_SetString(PyExc_ValueError, "a tree node's parent must come before it");
            return -1;
        }
        if (n ? frame[n] < 0 || (size_t)frame[n] >= nframes : frame[n] != -1) {
            PyErr_SetString(PyExc_ValueError, "a tree node's frame is out of range");
            return -1;
        }
    }
    return 0;
}

static PyObject *
buf_bytes(lt_buf *b)
{
    if (b->failed) {
        return PyErr_NoMemory();
    }
    return PyBytes_FromStringAndSize(b->len ? b->data : "", (Py_ssize_t)b->len);
}

/* ---- rank_nodes ---- */

typedef struct {
    uint64_t live, peak, alloc;
    uint32_t node;
} ranked_t;

/* Most live bytes, then most at the peak, then most allocated, then the
 * lowest node (a total order). */
static inline int
ranked_before(const ranked_t *a, const ranked_t *b)
{
    if (a->live != b->live) {
        return a->live > b->live;
    }
    if (a->peak != b->peak) {
        return a->peak > b->peak;
    }
    if (a->alloc != b->alloc) {
        return a->alloc > b->alloc;
    }
    return a->node < b->node;
}

LT_SORT_DEFINE(sort_ranked, ranked_t, ranked_before)

PyObject *
lt_py_rank_nodes(PyObject *module, PyObject *args)
{
    PyObject *o_live, *o_peak, *o_alloc, *o_alloc_count, *o_peak_count;
    (void)module;
    if (!PyArg_ParseTuple(args, "OOOOO:rank_nodes", &o_live, &o_peak, &o_alloc, &o_alloc_count,
                          &o_peak_count)) {
        return NULL;
    }
    lt_py_views v = {.nviews = 0};
    PyObject *result = NULL;
    ranked_t *rows = NULL;
    size_t n;
    const uint64_t *live = lt_py_get_array(&v, o_live, 'Q', (size_t)-1, &n, "live_bytes");
    const uint64_t *peak = live ? lt_py_get_array(&v, o_peak, 'Q', n, NULL, "peak_bytes") : NULL;
    const uint64_t *alloc = peak ? lt_py_get_array(&v, o_alloc, 'Q', n, NULL, "alloc_bytes")
                                 : NULL;
    const uint64_t *alloc_count = alloc ? lt_py_get_array(&v, o_alloc_count, 'Q', n, NULL,
                                                          "alloc_count")
                                        : NULL;
    const uint64_t *peak_count = alloc_count ? lt_py_get_array(&v, o_peak_count, 'Q', n, NULL,
                                                               "peak_count")
                                             : NULL;
    if (!peak_count) {
        goto done;
    }
    if (n > UINT32_MAX || !(rows = malloc((n ? n : 1) * 2 * sizeof(ranked_t)))) {
        PyErr_NoMemory();
        goto done;
    }
    size_t kept = 0;
    for (size_t i = 0; i < n; i++) {
        if (alloc_count[i] || peak_count[i]) {
            rows[kept++] = (ranked_t){live[i], peak[i], alloc[i], (uint32_t)i};
        }
    }
    const ranked_t *sorted = sort_ranked(rows, rows + kept, kept); /* rows has room twice */
    result = PyBytes_FromStringAndSize(NULL, (Py_ssize_t)(kept * sizeof(uint32_t)));
    if (result) {
        uint32_t *out = (uint32_t *)PyBytes_AS_STRING(result);
        for (size_t i = 0; i < kept; i++) {
            out[i] = sorted[i].node;
        }
    }
done:
    free(rows);
    lt_py_release_views(&v);
    return result;
}

/* ---- pprof_samples ---- */

PyObject *
lt_py_pprof_samples(PyObject *module, PyObject *args)
{
    PyObject *o_order, *o_parent, *o_frame, *o_values[4], *o_frame_location;
    PyObject *o_labels = Py_None;
    unsigned int root_location;
    (void)module;
    if (!PyArg_ParseTuple(args, "OOOOOOOOI|O:pprof_samples", &o_order, &o_parent, &o_frame,
                          &o_values[0], &o_values[1], &o_values[2], &o_values[3],
                          &o_frame_location, &root_location, &o_labels)) {
        return NULL;
    }
    if (o_labels != Py_None && !PyList_Check(o_labels)) {
        PyErr_SetString(PyExc_TypeError, "labels must be a list or None");
        return NULL;
    }
    lt_py_views v = {.nviews = 0};
    PyObject *result = NULL;
    uint32_t *location_id = NULL, *keys = NULL;
    lt_buf out = {0}, ids = {0}, sample = {0};
    size_t norder, nnodes, nframes;
    const uint64_t *values[4] = {NULL};
    const uint32_t *order = lt_py_get_array(&v, o_order, 'I', (size_t)-1, &norder, "order");
    const uint32_t *parent = order ? lt_py_get_array(&v, o_parent, 'I', (size_t)-1, &nnodes,
                                                     "parent")
                                   : NULL;
    const int32_t *frame = parent ? lt_py_get_array(&v, o_frame, 'i', nnodes, NULL, "frame")
                                  : NULL;
    const uint32_t *frame_location = frame ? lt_py_get_array(&v, o_frame_location, 'I', (size_t)-1,
                                                             &nframes, "frame_location")
                                           : NULL;
    for (int i = 0; frame_location && i < 4; i++) {
        if (!(values[i] = lt_py_get_array(&v, o_values[i], 'Q', nnodes, NULL, "values"))) {
            goto done;
        }
    }
    if (!values[3] || lt_py_check_tree(parent, frame, nnodes, nframes) < 0) {
        goto done;
    }
    if (o_labels != Py_None && (size_t)PyList_GET_SIZE(o_labels) != nnodes) {
        PyErr_SetString(PyExc_ValueError, "labels must have one item per node");
        goto done;
    }
    /* Location keys are below nkeys: every frame's, and the root's. */
    size_t nkeys = (size_t)root_location + 1;
    for (size_t f = 0; f < nframes; f++) {
        nkeys = frame_location[f] + (size_t)1 > nkeys ? frame_location[f] + (size_t)1 : nkeys;
    }
    location_id = calloc(nkeys, sizeof(uint32_t)); /* 0: no id yet */
    keys = malloc(nkeys * sizeof(uint32_t));
    if (!location_id || !keys) {
        PyErr_NoMemory();
        goto done;
    }
    uint32_t nlocations = 0;
    for (size_t i = 0; i < norder; i++) {
        size_t node = order[i];
        if (node >= nnodes) {
            PyErr_SetString(PyExc_ValueError, "order names a node outside the tree");
            goto done;
        }
        if (!values[0][node]) { /* allocated nothing: no sample */
            continue;
        }
        ids.len = 0;
        size_t n = node;
        do {
            uint32_t key = n ? frame_location[frame[n]] : root_location;
            if (!location_id[key]) {
                location_id[key] = ++nlocations;
                keys[nlocations - 1] = key;
            }
            lt_buf_varint(&ids, location_id[key]);
            n = parent[n];
        } while (n); /* the root's location only for the root's own values */
        sample.len = 0;
        lt_buf_byte(&sample, TAG_SAMPLE_LOCATION_ID);
        lt_buf_varint(&sample, ids.len);
        lt_buf_append(&sample, ids.data, ids.len);
        size_t packed = 0;
        for (int k = 0; k < 4; k++) {
            packed += lt_buf_varint_size(values[k][node]);
        }
        lt_buf_byte(&sample, TAG_SAMPLE_VALUE);
        lt_buf_varint(&sample, packed);
        for (int k = 0; k < 4; k++) {
            lt_buf_varint(&sample, values[k][node]);
        }
        PyObject *label = o_labels == Py_None ? Py_None : PyList_GET_ITEM(o_labels, node);
        if (label != Py_None) {
            if (!PyBytes_Check(label)) {
                PyErr_SetString(PyExc_TypeError, "a node's labels must be bytes or None");
                goto done;
            }
            lt_buf_append(&sample, PyBytes_AS_STRING(label), (size_t)PyBytes_GET_SIZE(label));
        }
        lt_buf_byte(&out, TAG_PROFILE_SAMPLE);
        lt_buf_varint(&out, sample.len);
        lt_buf_append(&out, sample.data, sample.len);
    }
    if (ids.failed || sample.failed) {
        PyErr_NoMemory();
        goto done;
    }
    PyObject *samples = buf_bytes(&out);
    PyObject *order_bytes = samples ? PyBytes_FromStringAndSize(
                                          nlocations ? (const char *)keys : "",
                                          (Py_ssize_t)(nlocations * sizeof(uint32_t)))
                                    : NULL;
    if (order_bytes) {
        result = PyTuple_Pack(2, samples, order_bytes);
    }
    Py_XDECREF(samples);
    Py_XDECREF(order_bytes);
done:
    free(location_id);
    free(keys);
    lt_buf_free(&out);
    lt_buf_free(&ids);
    lt_buf_free(&sample);
    lt_py_release_views(&v);
    return result;
}

/* ---- speedscope_stacks ---- */

static PyObject *
buf_str(lt_buf *b)
{
    if (b->failed) {
        return PyErr_NoMemory();
    }
    return PyUnicode_DecodeASCII(b->len ? b->data : "", (Py_ssize_t)b->len, "strict");
}

PyObject *
lt_py_speedscope_stacks(PyObject *module, PyObject *args)
{
    PyObject *o_order, *o_parent, *o_frame, *o_weights;
    Py_ssize_t nframes_arg;
    (void)module;
    if (!PyArg_ParseTuple(args, "OOOnO:speedscope_stacks", &o_order, &o_parent, &o_frame,
                          &nframes_arg, &o_weights)) {
        return NULL;
    }
    if (nframes_arg < 0 || nframes_arg >= INT32_MAX) {
        PyErr_SetString(PyExc_ValueError, "nframes out of range");
        return NULL;
    }
    size_t nframes = (size_t)nframes_arg;
    lt_py_views v = {.nviews = 0};
    PyObject *result = NULL, *weights = NULL, *texts = NULL;
    int32_t *index = NULL, *frame_order = NULL;
    uint32_t *path = NULL;
    size_t *offsets = NULL;
    lt_buf stacks = {0}, samples = {0}, values = {0};
    size_t norder, nnodes;
    const uint32_t *order = lt_py_get_array(&v, o_order, 'I', (size_t)-1, &norder, "order");
    const uint32_t *parent = order ? lt_py_get_array(&v, o_parent, 'I', (size_t)-1, &nnodes,
                                                     "parent")
                                   : NULL;
    const int32_t *frame = parent ? lt_py_get_array(&v, o_frame, 'i', nnodes, NULL, "frame")
                                  : NULL;
    if (!frame || !(weights = PySequence_Fast(o_weights, "weights must be a sequence"))) {
        goto done;
    }
    Py_ssize_t nprofiles = PySequence_Fast_GET_SIZE(weights);
    if (nprofiles > LT_PY_MAX_VIEWS - 3) {
        PyErr_SetString(PyExc_ValueError, "too many weight arrays");
        goto done;
    }
    const uint64_t *w[LT_PY_MAX_VIEWS];
    for (Py_ssize_t p = 0; p < nprofiles; p++) {
        if (!(w[p] = lt_py_get_array(&v, PySequence_Fast_GET_ITEM(weights, p), 'Q', nnodes, NULL,
                                     "weights"))) {
            goto done;
        }
    }
    /* Every frame is below nframes (check_tree): the root's marker is nframes. */
    if (lt_py_check_tree(parent, frame, nnodes, nframes) < 0) {
        goto done;
    }
    index = malloc((nframes + 1) * sizeof(int32_t)); /* profile frame -> speedscope frame */
    frame_order = malloc((nframes + 1) * sizeof(int32_t));
    path = malloc((nnodes ? nnodes : 1) * sizeof(uint32_t));
    offsets = malloc((norder + 1) * sizeof(size_t));
    if (!index || !frame_order || !path || !offsets) {
        PyErr_NoMemory();
        goto done;
    }
    memset(index, 0xFF, (nframes + 1) * sizeof(int32_t));
    int32_t nused = 0;
    /* Each node's stack, root first, frames numbered as they are first met. */
    for (size_t i = 0; i < norder; i++) {
        size_t node = order[i];
        if (node >= nnodes) {
            PyErr_SetString(PyExc_ValueError, "order names a node outside the tree");
            goto done;
        }
        offsets[i] = stacks.len;
        size_t depth = 0;
        for (size_t n = node; n; n = parent[n]) {
            path[depth++] = (uint32_t)frame[n];
        }
        if (!depth) {
            path[depth++] = (uint32_t)nframes; /* the root's own values: [no Python frame] */
        }
        lt_buf_byte(&stacks, '[');
        while (depth) {
            uint32_t f = path[--depth];
            if (index[f] < 0) {
                index[f] = nused;
                frame_order[nused++] = f == nframes ? -1 : (int32_t)f;
            }
            lt_buf_u64(&stacks, (uint64_t)index[f]);
            lt_buf_byte(&stacks, depth ? ',' : ']');
        }
    }
    offsets[norder] = stacks.len;
    if (stacks.failed) {
        PyErr_NoMemory();
        goto done;
    }
    if (!(texts = PyList_New(2 * nprofiles))) {
        goto done;
    }
    for (Py_ssize_t p = 0; p < nprofiles; p++) {
        samples.len = values.len = 0;
        lt_buf_byte(&samples, '[');
        lt_buf_byte(&values, '[');
        for (size_t i = 0; i < norder; i++) {
            uint64_t weight = w[p][order[i]];
            if (!weight) {
                continue;
            }
            if (samples.len > 1) {
                lt_buf_byte(&samples, ',');
                lt_buf_byte(&values, ',');
            }
            lt_buf_append(&samples, stacks.data + offsets[i], offsets[i + 1] - offsets[i]);
            lt_buf_u64(&values, weight);
        }
        lt_buf_byte(&samples, ']');
        lt_buf_byte(&values, ']');
        PyObject *s = buf_str(&samples), *x = s ? buf_str(&values) : NULL;
        if (!x) {
            Py_XDECREF(s);
            goto done;
        }
        PyList_SET_ITEM(texts, 2 * p, s);
        PyList_SET_ITEM(texts, 2 * p + 1, x);
    }
    PyObject *frames = PyBytes_FromStringAndSize(nused ? (const char *)frame_order : "",
                                                 (Py_ssize_t)nused * (Py_ssize_t)sizeof(int32_t));
    if (frames) {
        result = PyTuple_Pack(2, texts, frames);
        Py_DECREF(frames);
    }
done:
    free(index);
    free(frame_order);
    free(path);
    free(offsets);
    lt_buf_free(&stacks);
    lt_buf_free(&samples);
    lt_buf_free(&values);
    Py_XDECREF(texts);
    Py_XDECREF(weights);
    lt_py_release_views(&v);
    return result;
}

/* ---- prune_tree ---- */

PyObject *
lt_py_prune_tree(PyObject *module, PyObject *args)
{
    PyObject *o_parent, *o_live, *o_peak;
    (void)module;
    if (!PyArg_ParseTuple(args, "OOO:prune_tree", &o_parent, &o_live, &o_peak)) {
        return NULL;
    }
    lt_py_views v = {.nviews = 0};
    PyObject *result = NULL;
    uint8_t *weighs = NULL;
    uint32_t *number = NULL;
    size_t nnodes;
    const uint32_t *parent = lt_py_get_array(&v, o_parent, 'I', (size_t)-1, &nnodes, "parent");
    const uint64_t *live = parent ? lt_py_get_array(&v, o_live, 'Q', nnodes, NULL, "live_bytes")
                                  : NULL;
    const uint64_t *peak = live ? lt_py_get_array(&v, o_peak, 'Q', nnodes, NULL, "peak_bytes")
                                : NULL;
    if (!peak) {
        goto done;
    }
    for (size_t n = 1; n < nnodes; n++) {
        if (parent[n] >= n) {
            PyErr_SetString(PyExc_ValueError, "a tree node's parent must come before it");
            goto done;
        }
    }
    weighs = malloc(nnodes ? nnodes : 1);
    number = malloc((nnodes ? nnodes : 1) * sizeof(uint32_t));
    if (!weighs || !number) {
        PyErr_NoMemory();
        goto done;
    }
    for (size_t n = 0; n < nnodes; n++) {
        weighs[n] = live[n] || peak[n];
    }
    for (size_t n = nnodes; n-- > 1;) { /* children come after their parent */
        weighs[parent[n]] |= weighs[n];
    }
    size_t nkept = 0;
    for (size_t n = 0; n < nnodes; n++) {
        if (weighs[n] || n == 0) {
            number[n] = (uint32_t)nkept++;
        }
    }
    PyObject *kept = PyBytes_FromStringAndSize(NULL, (Py_ssize_t)(nkept * sizeof(uint32_t)));
    PyObject *parents = kept ? PyBytes_FromStringAndSize(NULL,
                                                         (Py_ssize_t)(nkept * sizeof(uint32_t)))
                             : NULL;
    if (parents) {
        uint32_t *k = (uint32_t *)PyBytes_AS_STRING(kept);
        uint32_t *p = (uint32_t *)PyBytes_AS_STRING(parents);
        for (size_t n = 0, i = 0; n < nnodes; n++) {
            if (weighs[n] || n == 0) {
                k[i] = (uint32_t)n;
                p[i++] = number[parent[n]];
            }
        }
        result = PyTuple_Pack(2, kept, parents);
    }
    Py_XDECREF(kept);
    Py_XDECREF(parents);
done:
    free(weighs);
    free(number);
    lt_py_release_views(&v);
    return result;
}
