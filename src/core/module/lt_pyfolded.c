/* lt_pyfolded.c - leaktrace._core.folded: see lt_pyfolded.h. */
#include "module/lt_pyfolded.h"

#include <stdint.h>
#include <stdlib.h>
#include <string.h>

#include "base/lt_buf.h"
#include "base/lt_sort.h"
#include "module/lt_pyprofile.h"

typedef struct {
    uint64_t value;
    const char *text; /* the stack's text, len bytes (when texts are compared) */
    size_t offset, len;
    uint32_t rank; /* the stack's place in the order of texts (when known) */
    uint32_t node;
} line_t;

/* A label of the tree: a node's, or the root's own line's. */
typedef struct {
    const char *ptr;
    size_t len;
    uint32_t node;
} label_t;

static size_t
digits(uint64_t v)
{
    size_t n = 1;
    while (v >= 10) {
        v /= 10;
        n++;
    }
    return n;
}

static int
compare_bytes(const char *a, size_t alen, const char *b, size_t blen)
{
    int c = memcmp(a, b, alen < blen ? alen : blen);
    return c ? c : (alen > blen) - (alen < blen);
}

static inline int
label_before(const label_t *a, const label_t *b)
{
    int c = compare_bytes(a->ptr, a->len, b->ptr, b->len);
    return c ? c < 0 : a->node < b->node;
}

/* Lines by value, descending, then by text (then node: a total order). */
static inline int
before_by_text(const line_t *a, const line_t *b)
{
    if (a->value != b->value) {
        return a->value > b->value;
    }
    int c = compare_bytes(a->text, a->len, b->text, b->len);
    return c ? c < 0 : a->node < b->node;
}

/* The same order when each line's place among the texts is known (ranks are
 * distinct). */
static inline int
before_by_rank(const line_t *a, const line_t *b)
{
    if (a->value != b->value) {
        return a->value > b->value;
    }
    return a->rank < b->rank;
}

LT_SORT_DEFINE(sort_labels, label_t, label_before)
LT_SORT_DEFINE(sort_by_text, line_t, before_by_text)
LT_SORT_DEFINE(sort_by_rank, line_t, before_by_rank)

/* The place of every node's text in the order of texts, in rank (nnodes + 1
 * of them: node nnodes stands for the root's own line, a child of the root
 * labelled root_label). Returns 0; 1 when two siblings' labels are equal or
 * one a prefix of the other (the order of the texts is not the tree's
 * then); -1 when memory is short. */
static int
rank_texts(const uint32_t *parent, const label_t *label_of, size_t nnodes, uint32_t *rank)
{
    size_t *offs = calloc(nnodes + 2, sizeof(size_t)),
           *pos = malloc((nnodes + 1) * sizeof(size_t));
    label_t *children = malloc((nnodes + 1) * sizeof(label_t));
    label_t *spare = malloc((nnodes + 1) * sizeof(label_t)); /* the sort's */
    uint32_t *stack = malloc((nnodes + 1) * sizeof(uint32_t));
    int r = -1;
    if (!offs || !pos || !children || !spare || !stack) {
        goto done;
    }
    /* The children of each node in one array: p's at [offs[p], offs[p + 1]). */
    for (size_t n = 1; n <= nnodes; n++) {
        offs[(n == nnodes ? 0 : parent[n]) + 1]++;
    }
    for (size_t p = 0; p < nnodes; p++) {
        offs[p + 1] += offs[p];
        pos[p] = offs[p];
    }
    for (size_t n = 1; n <= nnodes; n++) {
        children[pos[n == nnodes ? 0 : parent[n]]++] = label_of[n];
    }
    r = 1;
    for (size_t p = 0; p < nnodes; p++) {
        label_t *kids = children + offs[p];
        size_t count = offs[p + 1] - offs[p];
        const label_t *sorted = sort_labels(kids, spare, count);
        if (sorted != kids) {
            memcpy(kids, sorted, count * sizeof(label_t));
        }
        for (size_t j = 0; j + 1 < count; j++) {
            if (kids[j].len <= kids[j + 1].len &&
                !memcmp(kids[j].ptr, kids[j + 1].ptr, kids[j].len)) {
                goto done;
            }
        }
    }
    /* Depth first, siblings by label: node, then its children's subtrees. */
    size_t depth = 0, next = 0;
    stack[depth++] = 0;
    while (depth) {
        uint32_t n = stack[--depth];
        rank[n] = (uint32_t)next++;
        if (n == nnodes) {
            continue;
        }
        for (size_t j = offs[n + 1]; j-- > offs[n];) {
            stack[depth++] = children[j].node;
        }
    }
    r = 0;
done:
    free(offs);
    free(pos);
    free(children);
    free(spare);
    free(stack);
    return r;
}

PyObject *
lt_py_folded(PyObject *module, PyObject *args)
{
    PyObject *o_parent, *o_frame, *o_live, *o_labels;
    const char *root_label;
    Py_ssize_t root_len;
    (void)module;
    if (!PyArg_ParseTuple(args, "OOOOs#:folded", &o_parent, &o_frame, &o_live, &o_labels,
                          &root_label, &root_len)) {
        return NULL;
    }
    lt_py_views v = {.nviews = 0};
    PyObject *result = NULL, *labels = NULL;
    line_t *lines = NULL, *spare = NULL;
    label_t *label_of = NULL;
    uint32_t *path = NULL, *rank = NULL;
    lt_buf text = {0};
    size_t nnodes;
    const uint32_t *parent = lt_py_get_array(&v, o_parent, 'I', (size_t)-1, &nnodes, "parent");
    const int32_t *frame = parent ? lt_py_get_array(&v, o_frame, 'i', nnodes, NULL, "frame")
                                  : NULL;
    const uint64_t *live = frame ? lt_py_get_array(&v, o_live, 'Q', nnodes, NULL, "live_bytes")
                                 : NULL;
    if (!live || !(labels = PySequence_Fast(o_labels, "labels must be a sequence"))) {
        goto done;
    }
    size_t nlabels = (size_t)PySequence_Fast_GET_SIZE(labels);
    for (size_t i = 0; i < nlabels; i++) {
        if (!PyBytes_Check(PySequence_Fast_GET_ITEM(labels, (Py_ssize_t)i))) {
            PyErr_SetString(PyExc_TypeError, "labels must be bytes");
            goto done;
        }
    }
    if (nnodes == 0 || nnodes >= UINT32_MAX ||
        lt_py_check_tree(parent, frame, nnodes, nlabels) < 0) {
        if (!PyErr_Occurred()) {
            PyErr_SetString(PyExc_ValueError,
                            "a profile tree has a root and fewer than 2^32 nodes");
        }
        goto done;
    }
    lines = malloc(nnodes * sizeof(line_t));
    path = malloc(nnodes * sizeof(uint32_t));
    label_of = malloc((nnodes + 1) * sizeof(label_t));
    rank = malloc((nnodes + 1) * sizeof(uint32_t));
    if (!lines || !path || !label_of || !rank) {
        PyErr_NoMemory();
        goto done;
    }
    label_of[0] = (label_t){"", 0, 0};
    for (size_t n = 1; n < nnodes; n++) {
        PyObject *label = PySequence_Fast_GET_ITEM(labels, frame[n]);
        label_of[n] = (label_t){PyBytes_AS_STRING(label), (size_t)PyBytes_GET_SIZE(label),
                                (uint32_t)n};
    }
    label_of[nnodes] = (label_t){root_label, (size_t)root_len, (uint32_t)nnodes};
    int ranked = rank_texts(parent, label_of, nnodes, rank);
    if (ranked < 0) {
        PyErr_NoMemory();
        goto done;
    }
    /* Each line's text: built once (compared and copied) unless the ranks
     * order them; then only its length, and it is written at the end. */
    size_t nlines = 0;
    for (size_t node = 0; node < nnodes; node++) {
        if (!live[node]) {
            continue;
        }
        line_t *line = &lines[nlines++];
        *line = (line_t){.value = live[node], .node = (uint32_t)node};
        line->rank = ranked == 0 ? rank[node ? node : nnodes] : 0;
        if (ranked == 0) {
            size_t len = node ? 0 : (size_t)root_len;
            for (size_t n = node; n; n = parent[n]) {
                len += label_of[n].len + (n != node);
            }
            line->len = len;
            continue;
        }
        line->offset = text.len;
        size_t depth = 0;
        for (size_t n = node; n; n = parent[n]) {
            path[depth++] = (uint32_t)n;
        }
        if (!depth) {
            lt_buf_append(&text, root_label, (size_t)root_len);
        }
        while (depth) { /* outermost first */
            const label_t *l = &label_of[path[--depth]];
            lt_buf_append(&text, l->ptr, l->len);
            if (depth) {
                lt_buf_byte(&text, ';');
            }
        }
        line->len = text.len - line->offset;
    }
    if (text.failed) {
        PyErr_NoMemory();
        goto done;
    }
    for (size_t i = 0; ranked && i < nlines; i++) {
        lines[i].text = text.data + lines[i].offset;
    }
    if (!(spare = malloc((nlines ? nlines : 1) * sizeof(line_t)))) {
        PyErr_NoMemory();
        goto done;
    }
    const line_t *sorted = ranked == 0 ? sort_by_rank(lines, spare, nlines)
                                       : sort_by_text(lines, spare, nlines);
    /* Written straight into the bytes object: the text can be tens of megabytes. */
    size_t total = 0;
    for (size_t i = 0; i < nlines; i++) {
        total += sorted[i].len + 2 + digits(sorted[i].value);
    }
    if (!(result = PyBytes_FromStringAndSize(NULL, (Py_ssize_t)total))) {
        goto done;
    }
    char *at = PyBytes_AS_STRING(result);
    for (size_t i = 0; i < nlines; i++) {
        if (ranked) {
            memcpy(at, sorted[i].text, sorted[i].len);
        }
        else if (sorted[i].node == 0) {
            memcpy(at, root_label, (size_t)root_len);
        }
        else { /* the labels from the innermost, written from the line's end */
            char *end = at + sorted[i].len;
            for (size_t n = sorted[i].node; n; n = parent[n]) {
                end -= label_of[n].len;
                memcpy(end, label_of[n].ptr, label_of[n].len);
                if (parent[n]) {
                    *--end = ';';
                }
            }
        }
        at += sorted[i].len;
        *at++ = ' ';
        size_t n = digits(sorted[i].value);
        for (uint64_t value = sorted[i].value, k = n; k--; value /= 10) {
            at[k] = (char)('0' + value % 10);
        }
        at += n;
        *at++ = '\n';
    }
done:
    free(lines);
    free(spare);
    free(path);
    free(label_of);
    free(rank);
    lt_buf_free(&text);
    Py_XDECREF(labels);
    lt_py_release_views(&v);
    return result;
}
