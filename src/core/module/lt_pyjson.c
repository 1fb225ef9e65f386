/* lt_pyjson.c - leaktrace._core.json_rows: see lt_pyjson.h. */
#include "module/lt_pyjson.h"

#include <math.h>
#include <stdint.h>

#include "base/lt_buf.h"

#define NO_FRAME UINT32_MAX
#define TRUNCATED_FRAME (UINT32_MAX - 1)
#define MAX_NESTING 8
#define NDIGITS_MAX 323 /* CPython's floatobject.c: rounding to more digits changes nothing */

typedef enum {
    K_INT,
    K_BOOL,
    K_FLOAT,
    K_ENUM,
    K_CONST,
    K_SPARSE,
    K_STACK,
    K_SERIES,
    K_OBJECT,
} kind_t;

static const char *const KIND_NAMES[] = {"int",    "bool",  "float",  "enum",   "const",
                                         "sparse", "stack", "series", "object", NULL};

typedef struct {
    const char *ptr;
    Py_ssize_t len;
} text_t;

/* A column: a buffer of one element type. */
typedef struct {
    Py_buffer view;
    int held;
    char code; /* its format: 'q', 'Q', 'B', 'I' or 'd' */
    size_t count;
} column_t;

typedef struct jfield {
    kind_t kind;
    const char *key;
    Py_ssize_t key_len;
    column_t col;        /* the values, indexes, nodes or rows */
    column_t aux1, aux2; /* stack: parent, frame; series: matrix */
    int ndigits;         /* float */
    size_t npoints;      /* series */
    text_t *texts;       /* enum, sparse, stack */
    size_t ntexts;
    text_t text;        /* const; sparse: the default */
    struct jfield *sub; /* object */
    size_t nsub;
    size_t cursor; /* sparse: the next of `col` to write */
} jfield;

typedef struct {
    PyObject *keep; /* a list holding every object whose bytes are borrowed */
    size_t nrows;
} parser_t;

/* ---- parsing the field descriptions ---- */

static int
get_column(PyObject *obj, const char *codes, column_t *c, const char *key)
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
get_row_column(PyObject *obj, const char *codes, column_t *c, const char *key, size_t nrows)
{
    if (get_column(obj, codes, c, key) < 0) {
        return -1;
    }
    if (c->count < nrows) {
        PyErr_Format(PyExc_ValueError, "json_rows: field %s: %zu values for %zu rows", key,
                     c->count, nrows);
        return -1;
    }
    return 0;
}

static uint64_t
column_u(const column_t *c, size_t i)
{
    switch (c->code) {
    case 'B': return ((const uint8_t *)c->view.buf)[i];
    case 'I': return ((const uint32_t *)c->view.buf)[i];
    default: return ((const uint64_t *)c->view.buf)[i];
    }
}

static int
get_text(PyObject *obj, text_t *t, parser_t *p)
{
    if (!PyUnicode_Check(obj)) {
        PyErr_SetString(PyExc_TypeError, "json_rows: JSON texts must be str");
        return -1;
    }
    t->ptr = PyUnicode_AsUTF8AndSize(obj, &t->len);
    return t->ptr && PyList_Append(p->keep, obj) == 0 ? 0 : -1;
}

static int
get_texts(PyObject *seq, jfield *f, parser_t *p)
{
    PyObject *fast = PySequence_Fast(seq, "json_rows: texts must be a sequence");
    if (!fast || PyList_Append(p->keep, fast) < 0) {
        Py_XDECREF(fast);
        return -1;
    }
    Py_DECREF(fast); /* p->keep holds it */
    f->ntexts = (size_t)PySequence_Fast_GET_SIZE(fast);
    f->texts = PyMem_Calloc(f->ntexts + 1, sizeof(text_t));
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

static int parse_fields(PyObject *seq, jfield **out, size_t *nout, parser_t *p, int nesting);

static int
parse_field(PyObject *desc, jfield *f, parser_t *p, int nesting)
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
    text_t key;
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
    f->kind = (kind_t)kind;
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
        if (get_column(a1, "I", &f->col, f->key) < 0 || get_texts(a2, f, p) < 0 ||
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
            get_column(a2, "I", &f->aux1, f->key) < 0 ||
            get_column(a3, "I", &f->aux2, f->key) < 0 || get_texts(a4, f, p) < 0) {
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
                   : get_column(a2, "Q", &f->aux1, f->key);
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
parse_fields(PyObject *seq, jfield **out, size_t *nout, parser_t *p, int nesting)
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
    *out = PyMem_Calloc(n + 1, sizeof(jfield));
    *nout = n;
    if (!*out) {
        *nout = 0;
        Py_DECREF(fast);
        PyErr_NoMemory();
        return -1;
    }
    for (size_t i = 0; i < n; i++) {
        if (parse_field(PySequence_Fast_GET_ITEM(fast, (Py_ssize_t)i), &(*out)[i], p, nesting) <
            0) {
            Py_DECREF(fast);
            return -1;
        }
    }
    Py_DECREF(fast);
    return 0;
}

static void
release_column(column_t *c)
{
    if (c->held) {
        PyBuffer_Release(&c->view);
        c->held = 0;
    }
}

static void
free_fields(jfield *fields, size_t n)
{
    for (size_t i = 0; fields && i < n; i++) {
        release_column(&fields[i].col);
        release_column(&fields[i].aux1);
        release_column(&fields[i].aux2);
        PyMem_Free(fields[i].texts);
        free_fields(fields[i].sub, fields[i].nsub);
    }
    PyMem_Free(fields);
}

/* ---- writing ---- */

#define FLUSH_BYTES (1 << 20) /* written out to a file in pieces of about this size */

typedef struct {
    lt_buf out;
    int python_error;  /* an exception is set */
    const char *error; /* or a ValueError to raise */
    PyObject *file;    /* where to write the text as it is made, or NULL */
    int compact;       /* each row on one line, as json.dumps(row) writes it */
} writer_t;

/* Hands what the buffer holds to file.write(), as a memoryview of it that is
 * released when the call returns: no copy of hundreds of megabytes into bytes
 * objects (file objects copy what they keep; one that kept the view would
 * find it released). */
static void
flush(writer_t *w)
{
    if (w->out.failed || w->python_error || !w->out.len) {
        return;
    }
    PyObject *view = PyMemoryView_FromMemory(w->out.data, (Py_ssize_t)w->out.len, PyBUF_READ);
    PyObject *r = view ? PyObject_CallMethod(w->file, "write", "O", view) : NULL;
    PyObject *released = view ? PyObject_CallMethod(view, "release", NULL) : NULL;
    Py_XDECREF(view);
    if (!r || !released) {
        Py_XDECREF(r);
        Py_XDECREF(released);
        w->python_error = 1;
        return;
    }
    Py_DECREF(r);
    Py_DECREF(released);
    w->out.len = 0;
}

static void
put_text(writer_t *w, const text_t *t)
{
    lt_buf_append(&w->out, t->ptr, (size_t)t->len);
}

/* Before an item of a list or an object whose items are indented by
 * `indent`: the comma after the previous item, then a new line, or in a
 * compact row a space. */
static void
put_item_start(writer_t *w, int first, size_t indent)
{
    if (!first) {
        lt_buf_byte(&w->out, ',');
    }
    if (!w->compact) {
        lt_buf_newline(&w->out, indent);
    }
    else if (!first) {
        lt_buf_byte(&w->out, ' ');
    }
}

/* The closing bracket of a list or an object with items, itself at `indent`. */
static void
put_close(writer_t *w, size_t indent, char bracket)
{
    if (!w->compact) {
        lt_buf_newline(&w->out, indent);
    }
    lt_buf_byte(&w->out, bracket);
}

/* repr(round(x, ndigits)) as json.dumps writes a float. */
static void
put_float(writer_t *w, double x, int ndigits)
{
    if (!isfinite(x)) {
        lt_buf_puts(&w->out, isnan(x) ? "NaN" : x > 0 ? "Infinity" : "-Infinity");
        return;
    }
    if (ndigits >= 0) {
        /* What float.__round__ does: the decimal string correctly rounded to
         * ndigits places, read back. */
        char *fixed = PyOS_double_to_string(x, 'f', ndigits, 0, NULL);
        if (!fixed) {
            w->python_error = 1;
            return;
        }
        x = PyOS_string_to_double(fixed, NULL, NULL);
        PyMem_Free(fixed);
        if (x == -1.0 && PyErr_Occurred()) {
            w->python_error = 1;
            return;
        }
    }
    char *repr = PyOS_double_to_string(x, 'r', 0, Py_DTSF_ADD_DOT_0, NULL);
    if (!repr) {
        w->python_error = 1;
        return;
    }
    lt_buf_puts(&w->out, repr);
    PyMem_Free(repr);
}

static void
put_stack(writer_t *w, const jfield *f, size_t row, size_t depth)
{
    const uint32_t *parent = f->aux1.view.buf, *frame = f->aux2.view.buf;
    size_t ntree = f->aux1.count, n = (size_t)column_u(&f->col, row);
    int any = 0;
    while (n < ntree && frame[n] != NO_FRAME) {
        uint32_t fr = frame[n];
        if (fr != TRUNCATED_FRAME) {
            if (fr >= f->ntexts) {
                w->error = "json_rows: a stack frame has no text";
                return;
            }
            if (!any) {
                lt_buf_byte(&w->out, '[');
            }
            put_item_start(w, !any, 2 * (depth + 1));
            put_text(w, &f->texts[fr]);
            any = 1;
        }
        if (parent[n] >= n) {
            w->error = "json_rows: a tree node's parent must come before it";
            return;
        }
        n = parent[n];
    }
    if (n >= ntree) {
        w->error = "json_rows: a stack node is outside its tree";
        return;
    }
    if (any) {
        put_close(w, 2 * depth, ']');
    }
    else {
        lt_buf_puts(&w->out, "[]");
    }
}

static void
put_series(writer_t *w, const jfield *f, size_t row, size_t depth)
{
    uint64_t r = column_u(&f->col, row);
    if (r == UINT32_MAX || f->npoints == 0) {
        lt_buf_puts(&w->out, "[]");
        return;
    }
    if (r >= f->aux1.count / f->npoints) {
        w->error = "json_rows: a series row is outside its matrix";
        return;
    }
    const uint64_t *values = (const uint64_t *)f->aux1.view.buf + r * f->npoints;
    lt_buf_byte(&w->out, '[');
    for (size_t i = 0; i < f->npoints; i++) {
        put_item_start(w, i == 0, 2 * (depth + 1));
        lt_buf_u64(&w->out, values[i]);
    }
    put_close(w, 2 * depth, ']');
}

static void put_object(writer_t *w, jfield *fields, size_t n, size_t row, size_t depth);

static void
put_value(writer_t *w, jfield *f, size_t row, size_t depth)
{
    switch (f->kind) {
    case K_INT:
        if (f->col.code == 'q') {
            lt_buf_i64(&w->out, ((const int64_t *)f->col.view.buf)[row]);
        }
        else {
            lt_buf_u64(&w->out, column_u(&f->col, row));
        }
        return;
    case K_BOOL: lt_buf_puts(&w->out, column_u(&f->col, row) ? "true" : "false"); return;
    case K_FLOAT: put_float(w, ((const double *)f->col.view.buf)[row], f->ndigits); return;
    case K_ENUM: {
        uint64_t i = column_u(&f->col, row);
        if (i >= f->ntexts) {
            w->error = "json_rows: an enum index has no text";
            return;
        }
        put_text(w, &f->texts[i]);
        return;
    }
    case K_CONST: put_text(w, &f->text); return;
    case K_SPARSE:
        while (f->cursor < f->col.count && column_u(&f->col, f->cursor) < row) {
            f->cursor++;
        }
        if (f->cursor < f->col.count && column_u(&f->col, f->cursor) == row) {
            put_text(w, &f->texts[f->cursor++]);
        }
        else {
            put_text(w, &f->text);
        }
        return;
    case K_STACK: put_stack(w, f, row, depth); return;
    case K_SERIES: put_series(w, f, row, depth); return;
    case K_OBJECT:
        if (f->col.held && !column_u(&f->col, row)) {
            lt_buf_puts(&w->out, "null");
        }
        else {
            put_object(w, f->sub, f->nsub, row, depth);
        }
        return;
    }
}

static void
put_object(writer_t *w, jfield *fields, size_t n, size_t row, size_t depth)
{
    if (n == 0) {
        lt_buf_puts(&w->out, "{}");
        return;
    }
    lt_buf_byte(&w->out, '{');
    for (size_t i = 0; i < n && !w->error && !w->python_error; i++) {
        put_item_start(w, i == 0, 2 * (depth + 1));
        lt_buf_byte(&w->out, '"');
        lt_buf_append(&w->out, fields[i].key, (size_t)fields[i].key_len);
        lt_buf_puts(&w->out, "\": ");
        put_value(w, &fields[i], row, depth + 1);
    }
    put_close(w, 2 * depth, '}');
}

PyObject *
lt_py_json_rows(PyObject *module, PyObject *args)
{
    Py_ssize_t nrows, depth;
    PyObject *desc, *file = Py_None;
    int compact = 0;
    (void)module;
    if (!PyArg_ParseTuple(args, "nOn|Op:json_rows", &nrows, &desc, &depth, &file, &compact)) {
        return NULL;
    }
    if (nrows < 0 || depth < 0 || depth > 64) {
        PyErr_SetString(PyExc_ValueError, "json_rows: nrows and depth out of range");
        return NULL;
    }
    parser_t p = {.keep = PyList_New(0), .nrows = (size_t)nrows};
    jfield *fields = NULL;
    size_t nfields = 0;
    writer_t w = {{0}, 0, NULL, file == Py_None ? NULL : file, compact};
    PyObject *result = NULL;
    if (!p.keep || parse_fields(desc, &fields, &nfields, &p, 0) < 0) {
        goto done;
    }
    if (nrows == 0) {
        lt_buf_puts(&w.out, "[]");
    }
    else {
        lt_buf_byte(&w.out, '[');
    }
    for (size_t row = 0; row < (size_t)nrows && !w.error && !w.python_error; row++) {
        lt_buf_newline(&w.out, 2 * ((size_t)depth + 1));
        put_object(&w, fields, nfields, row, (size_t)depth + 1);
        if (row + 1 < (size_t)nrows) {
            lt_buf_byte(&w.out, ',');
        }
        if (w.file && w.out.len >= FLUSH_BYTES) {
            flush(&w);
        }
    }
    if (nrows) {
        lt_buf_newline(&w.out, 2 * (size_t)depth);
        lt_buf_byte(&w.out, ']');
    }
    if (w.file && !w.error) {
        flush(&w);
    }
    if (w.python_error) {
        goto done;
    }
    if (w.error) {
        PyErr_SetString(PyExc_ValueError, w.error);
        goto done;
    }
    if (w.out.failed) {
        PyErr_NoMemory();
        goto done;
    }
    result = w.file ? Py_NewRef(Py_None)
                    : PyUnicode_DecodeUTF8(w.out.data, (Py_ssize_t)w.out.len, "strict");
done:
    lt_buf_free(&w.out);
    free_fields(fields, nfields);
    Py_XDECREF(p.keep);
    return result;
}

PyObject *
lt_py_json_ints(PyObject *module, PyObject *arg)
{
    (void)module;
    column_t c = {0};
    if (get_column(arg, "qQiI", &c, "values") < 0) {
        release_column(&c);
        return NULL;
    }
    lt_buf out = {0};
    lt_buf_byte(&out, '[');
    for (size_t i = 0; i < c.count; i++) {
        if (i) {
            lt_buf_byte(&out, ',');
        }
        switch (c.code) {
        case 'q': lt_buf_i64(&out, ((const int64_t *)c.view.buf)[i]); break;
        case 'i': lt_buf_i64(&out, ((const int32_t *)c.view.buf)[i]); break;
        default: lt_buf_u64(&out, column_u(&c, i)); break;
        }
    }
    lt_buf_byte(&out, ']');
    release_column(&c);
    PyObject *result = out.failed ? PyErr_NoMemory()
                                  : PyUnicode_DecodeASCII(out.data, (Py_ssize_t)out.len, "strict");
    lt_buf_free(&out);
    return result;
}
