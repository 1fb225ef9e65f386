/* lt_pyjsonfields.c - json_rows's field descriptions: see lt_pyjsonfields.h. */
#include "module/lt_pyjsonfields.h"

#include <string.h>

#include "base/lt_buf.h"

#define MAX_NESTING 8
#define NDIGITS_MAX 323 /* CPython's floatobject.c: rounding to more digits changes nothing */

static const char *const KIND_NAMES[] = {"int",    "bool",  "float",  "enum",   "const",
                                         "sparse", "stack", "series", "object", NULL};

int
lt_jf_get_column(PyObject *obj, const char *codes, lt_jcolumn *c, const char *key)
{
    if (PyObject_GetBuffer(obj, &c->view, PyBUF_FORMAT | PyBUF_C_CONTIGUOUS) < 0) {
        return -1;
    }
    c->held = 1;
    const char *fmt = c->view.format ? c->view.format : "B";
    if (*fmt == '@' || *fmt == '=') {
        fmt++;
    }
    size_t itemsize = *fmt == 'B' ? 1 : *fmt == 'I' || *fmt == 'i' ? 4 : 8;
    if (!fmt[0] || fmt[1] || !strchr(codes, *fmt) || (size_t)c->view.itemsize != itemsize) {
        PyErr_Format(PyExc_TypeError, "json_rows: field %s: a column of format %s is needed", key,
                     codes);
        return -1;
    }
    c->code = *fmt;
    c->count = (size_t)c->view.len / itemsize;
    return 0;
}

static int
get_row_column(PyObject *obj, const char *codes, lt_jcolumn *c, const char *key, size_t nrows)
{
    if (lt_jf_get_column(obj, codes, c, key) < 0) {
        return -1;
    }
    if (c->count < nrows) {
        PyErr_Format(PyExc_ValueError, "json_rows: field %s: %zu values for %zu rows", key,
                     c->count, nrows);
        return -1;
    }
    return 0;
}

static int
get_text(PyObject *obj, lt_jtext *t, lt_jparser *p)
{
    if (!PyUnicode_Check(obj)) {
        PyErr_SetString(PyExc_TypeError, "json_rows: JSON texts must be str");
        return -1;
    }
    t->ptr = PyUnicode_AsUTF8AndSize(obj, &t->len);
    return t->ptr && PyList_Append(p->keep, obj) == 0 ? 0 : -1;
}

static int
get_texts(PyObject *seq, lt_jfield *f, lt_jparser *p)
{
    PyObject *fast = PySequence_Fast(seq, "json_rows: texts must be a sequence");
    if (!fast || PyList_Append(p->keep, fast) < 0) {
        Py_XDECREF(fast);
        return -1;
    }
    Py_DECREF(fast); /* p->keep holds it */
    f->ntexts = (size_t)PySequence_Fast_GET_SIZE(fast);
    f->texts = PyMem_Calloc(f->ntexts + 1, sizeof(lt_jtext));
    if (!f->texts) {
        PyErr_NoMemory();
        return -1;
    }
    for (size_t i = 0; i < f->ntexts; i++) {
        if (get_text(PySequence_Fast_GET_ITEM(fast, (Py_ssize_t)i), &f->texts[i], p) < 0) {
            return -1;
        }
    }
    return 0;
}

static int parse_fields(PyObject *seq, lt_jfield **out, size_t *nout, lt_jparser *p, int nesting);

/* Pads what b holds to a multiple of LT_JF_PAD (with zeros). */
static void
pad_lits(lt_buf *b)
{
    size_t pad = (LT_JF_PAD - b->len % LT_JF_PAD) % LT_JF_PAD;
    if (pad && lt_buf_reserve(b, pad) == 0) {
        memset(b->data + b->len, 0, pad);
        b->len += pad;
    }
}

static size_t
padded(Py_ssize_t len)
{
    return ((size_t)len + LT_JF_PAD - 1) / LT_JF_PAD * LT_JF_PAD;
}

/* The texts the writer copies for field i of the n of an object at `level`
 * (lt_pyjsonfields.h): lead, close, the enum texts or the sparse default,
 * one after the other in f->lits, each padded; and f->room. */
static int
lay_out(lt_jfield *f, size_t i, size_t n, lt_jparser *p, size_t level)
{
    lt_buf b = {0};
    lt_buf_puts(&b, i == 0 ? "{" : p->compact ? ", " : ",");
    if (!p->compact) {
        lt_buf_newline(&b, 2 * (level + 1));
    }
    lt_buf_byte(&b, '"');
    lt_buf_append(&b, f->key, (size_t)f->key_len);
    lt_buf_puts(&b, "\": ");
    if (f->kind == K_CONST) {
        lt_buf_append(&b, f->text.ptr, (size_t)f->text.len);
    }
    f->lead.len = (Py_ssize_t)b.len;
    pad_lits(&b);
    size_t at = b.len;
    if (i + 1 == n) {
        if (!p->compact) {
            lt_buf_newline(&b, 2 * level);
        }
        lt_buf_byte(&b, '}');
    }
    f->close.len = (Py_ssize_t)(b.len - at);
    pad_lits(&b);
    size_t value = 0; /* the most bytes of the value written in the room made for the row */
    switch (f->kind) {
    case K_INT: value = LT_BUF_U64_MAX; break; /* an int64 has at most 19 digits */
    case K_BOOL: value = 5; break;
    case K_FLOAT: value = LT_JF_FLOAT_MAX; break;
    case K_ENUM:
        for (size_t k = 0; k < f->ntexts; k++) {
            lt_buf_append(&b, f->texts[k].ptr, (size_t)f->texts[k].len);
            pad_lits(&b);
            value = (size_t)f->texts[k].len > value ? (size_t)f->texts[k].len : value;
        }
        break;
    case K_CONST: break;
    case K_SPARSE: /* a row's own text makes room for itself */
        lt_buf_append(&b, f->text.ptr, (size_t)f->text.len);
        pad_lits(&b);
        value = (size_t)f->text.len;
        break;
    case K_STACK: /* "[]", or "[" and items that make room for themselves */
    case K_SERIES: value = 2; break;
    case K_OBJECT:
        for (size_t k = 0; k < f->nsub; k++) {
            value += f->sub[k].room;
        }
        value = value > 4 ? value : 4; /* or null, or {} */
        break;
    }
    if (b.failed) {
        lt_buf_free(&b);
        PyErr_NoMemory();
        return -1;
    }
    f->lits = b.data;
    f->room = (size_t)f->lead.len + (size_t)f->close.len + value;
    /* The texts' places, now that the block no longer moves. */
    char *text = b.data;
    f->lead.ptr = text;
    text += padded(f->lead.len);
    f->close.ptr = text;
    text += padded(f->close.len);
    if (f->kind == K_ENUM) {
        for (size_t k = 0; k < f->ntexts; k++) {
            f->texts[k].ptr = text;
            text += padded(f->texts[k].len);
        }
    }
    else if (f->kind == K_SPARSE) {
        f->text.ptr = text;
    }
    return 0;
}

static int
parse_field(PyObject *desc, lt_jfield *f, lt_jparser *p, int nesting)
{
    const char *kind_name;
    if (!PyTuple_Check(desc) || PyTuple_GET_SIZE(desc) < 2 ||
        !PyUnicode_Check(PyTuple_GET_ITEM(desc, 0)) ||
        !(kind_name = PyUnicode_AsUTF8(PyTuple_GET_ITEM(desc, 1)))) {
        if (!PyErr_Occurred()) {
            PyErr_SetString(PyExc_TypeError, "json_rows: a field is a tuple (key, kind, ...)");
        }
        return -1;
    }
    lt_jtext key;
    if (get_text(PyTuple_GET_ITEM(desc, 0), &key, p) < 0) {
        return -1;
    }
    for (Py_ssize_t i = 0; i < key.len; i++) {
        if (key.ptr[i] < 0x20 || key.ptr[i] > 0x7E || key.ptr[i] == '"' || key.ptr[i] == '\\') {
            PyErr_SetString(PyExc_ValueError, "json_rows: keys must be plain ASCII names");
            return -1;
        }
    }
    f->key = key.ptr;
    f->key_len = key.len;
    int kind = 0;
    while (KIND_NAMES[kind] && strcmp(KIND_NAMES[kind], kind_name) != 0) {
        kind++;
    }
    static const Py_ssize_t sizes[] = {3, 3, 4, 4, 3, 5, 6, 5, 4};
    if (!KIND_NAMES[kind] || PyTuple_GET_SIZE(desc) != sizes[kind]) {
        PyErr_Format(PyExc_ValueError, "json_rows: field %s: bad kind or arguments", f->key);
        return -1;
    }
    f->kind = (lt_jkind)kind;
    PyObject *a1 = PyTuple_GET_ITEM(desc, 2);
    PyObject *a2 = sizes[kind] > 3 ? PyTuple_GET_ITEM(desc, 3) : NULL;
    PyObject *a3 = sizes[kind] > 4 ? PyTuple_GET_ITEM(desc, 4) : NULL;
    PyObject *a4 = sizes[kind] > 5 ? PyTuple_GET_ITEM(desc, 5) : NULL;
    switch (f->kind) {
    case K_INT: return get_row_column(a1, "qQI", &f->col, f->key, p->nrows);
    case K_BOOL: return get_row_column(a1, "B", &f->col, f->key, p->nrows);
    case K_FLOAT: {
        /* None: no rounding; past NDIGITS_MAX, float.__round__ returns x as it is */
        long ndigits = a2 == Py_None ? -1 : PyLong_AsLong(a2);
        if (ndigits == -1 && PyErr_Occurred()) {
            return -1;
        }
        if (a2 != Py_None && ndigits < 0) {
            PyErr_Format(PyExc_ValueError, "json_rows: field %s: ndigits must be >= 0", f->key);
            return -1;
        }
        f->ndigits = ndigits > NDIGITS_MAX ? -1 : (int)ndigits;
        return get_row_column(a1, "d", &f->col, f->key, p->nrows);
    }
    case K_ENUM:
        return get_row_column(a1, "BI", &f->col, f->key, p->nrows) < 0 ? -1 : get_texts(a2, f, p);
    case K_CONST: return get_text(a1, &f->text, p);
    case K_SPARSE:
        if (lt_jf_get_column(a1, "I", &f->col, f->key) < 0 || get_texts(a2, f, p) < 0 ||
            get_text(a3, &f->text, p) < 0) {
            return -1;
        }
        if (f->ntexts != f->col.count) {
            PyErr_Format(PyExc_ValueError, "json_rows: field %s: one text per row", f->key);
            return -1;
        }
        return 0;
    case K_STACK:
        if (get_row_column(a1, "I", &f->col, f->key, p->nrows) < 0 ||
            lt_jf_get_column(a2, "I", &f->aux1, f->key) < 0 ||
            lt_jf_get_column(a3, "I", &f->aux2, f->key) < 0 ||
            lt_jf_get_column(a4, "I", &f->aux3, f->key) < 0) {
            return -1;
        }
        if (f->aux1.count != f->aux2.count) {
            PyErr_Format(PyExc_ValueError, "json_rows: field %s: parent and frame differ", f->key);
            return -1;
        }
        return 0;
    case K_SERIES: {
        Py_ssize_t npoints = PyLong_AsSsize_t(a3);
        if (npoints < 0) {
            if (!PyErr_Occurred()) {
                PyErr_SetString(PyExc_ValueError, "json_rows: npoints must not be negative");
            }
            return -1;
        }
        f->npoints = (size_t)npoints;
        return get_row_column(a1, "I", &f->col, f->key, p->nrows) < 0
                   ? -1
                   : lt_jf_get_column(a2, "Q", &f->aux1, f->key);
    }
    case K_OBJECT:
        if (a1 != Py_None && get_row_column(a1, "B", &f->col, f->key, p->nrows) < 0) {
            return -1;
        }
        return parse_fields(a2, &f->sub, &f->nsub, p, nesting + 1);
    }
    return -1;
}

static int
parse_fields(PyObject *seq, lt_jfield **out, size_t *nout, lt_jparser *p, int nesting)
{
    if (nesting > MAX_NESTING) {
        PyErr_SetString(PyExc_ValueError, "json_rows: objects nested too deep");
        return -1;
    }
    PyObject *fast = PySequence_Fast(seq, "json_rows: fields must be a sequence");
    if (!fast) {
        return -1;
    }
    size_t n = (size_t)PySequence_Fast_GET_SIZE(fast);
    *out = PyMem_Calloc(n + 1, sizeof(lt_jfield));
    *nout = n;
    if (!*out) {
        *nout = 0;
        Py_DECREF(fast);
        PyErr_NoMemory();
        return -1;
    }
    size_t level = p->depth + 1 + (size_t)nesting;
    for (size_t i = 0; i < n; i++) {
        lt_jfield *f = &(*out)[i];
        f->level = level;
        if (parse_field(PySequence_Fast_GET_ITEM(fast, (Py_ssize_t)i), f, p, nesting) < 0 ||
            lay_out(f, i, n, p, level) < 0) {
            Py_DECREF(fast);
            return -1;
        }
    }
    Py_DECREF(fast);
    return 0;
}

void
lt_jf_release_column(lt_jcolumn *c)
{
    if (c->held) {
        PyBuffer_Release(&c->view);
        c->held = 0;
    }
}

void
lt_jf_free(lt_jfield *fields, size_t n)
{
    for (size_t i = 0; fields && i < n; i++) {
        lt_jf_release_column(&fields[i].col);
        lt_jf_release_column(&fields[i].aux1);
        lt_jf_release_column(&fields[i].aux2);
        lt_jf_release_column(&fields[i].aux3);
        PyMem_Free(fields[i].texts);
        free(fields[i].lits);
        lt_jf_free(fields[i].sub, fields[i].nsub);
    }
    PyMem_Free(fields);
}

int
lt_jf_parse(PyObject *seq, lt_jfield **out, size_t *nout, lt_jparser *p)
{
    return parse_fields(seq, out, nout, p, 0);
}
