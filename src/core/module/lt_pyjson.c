/* lt_pyjson.c - leaktrace._core.json_rows: see lt_pyjson.h. */
#include "module/lt_pyjson.h"

#include <float.h>
#include <math.h>
#include <stdint.h>
#include <string.h>

#include "base/lt_buf.h"
#include "module/lt_pyjsonfields.h"

#define NO_FRAME UINT32_MAX
#define TRUNCATED_FRAME (UINT32_MAX - 1)
#define NO_INDEX UINT32_MAX /* a frame outside the document's frame table */

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
put_text(writer_t *w, const lt_jtext *t)
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

/* The decimal `fixed` ('f' format, ndigits > 0 places) as repr() writes the
 * double nearest to it, when that is the same digits: repr() writes the
 * shortest digits that read back as the double, and a decimal of at most
 * DBL_DIG (15) significant digits is the only decimal of its length or
 * shorter that reads back as its double; repr() writes it without an
 * exponent from 1e-4 to below 1e16. Returns 0, or -1 (nothing written) when
 * repr() must be asked. */
static int
put_short_fixed(writer_t *w, const char *fixed)
{
    const char *digits = fixed[0] == '-' ? fixed + 1 : fixed;
    const char *dot = strchr(digits, '.');
    if (!dot || dot - digits > 16) {
        return -1;
    }
    const char *end = dot + strlen(dot);
    while (end > dot + 2 && end[-1] == '0') {
        end--; /* repr() writes no trailing zero but the one of "2.0" */
    }
    const char *first = digits; /* the first significant digit */
    while (first < end && (*first == '0' || *first == '.')) {
        first++;
    }
    if (first < end) {
        size_t significant = (size_t)(end - first) - (first < dot ? 1 : 0);
        if (significant > DBL_DIG || (first > dot && first - dot > 4)) {
            return -1;
        }
    }
    lt_buf_append(&w->out, fixed, (size_t)(end - fixed));
    return 0;
}

/* repr(round(x, ndigits)) as json.dumps writes a float. */
static void
put_float(writer_t *w, double x, int ndigits)
{
    if (!isfinite(x)) {
        lt_buf_puts(&w->out, isnan(x) ? "NaN" : x > 0 ? "Infinity" : "-Infinity");
        return;
    }
    if (x == 0.0) { /* round() keeps a zero as it is, and its sign */
        lt_buf_puts(&w->out, signbit(x) ? "-0.0" : "0.0");
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
        if (ndigits > 0 && put_short_fixed(w, fixed) == 0) {
            PyMem_Free(fixed);
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

/* The row's stack: index[frame] of each frame from its node to the root,
 * innermost first (json.py numbers the document's frame table so). */
static void
put_stack(writer_t *w, const lt_jfield *f, size_t row, size_t depth)
{
    const uint32_t *parent = f->aux1.view.buf, *frame = f->aux2.view.buf;
    const uint32_t *index = f->aux3.view.buf;
    size_t ntree = f->aux1.count, n = (size_t)lt_jf_column_u(&f->col, row);
    int any = 0;
    while (n < ntree && frame[n] != NO_FRAME) {
        uint32_t fr = frame[n];
        if (fr != TRUNCATED_FRAME) {
            if (fr >= f->aux3.count || index[fr] == NO_INDEX) {
                w->error = "json_rows: a stack frame has no index";
                return;
            }
            if (!any) {
                lt_buf_byte(&w->out, '[');
            }
            put_item_start(w, !any, 2 * (depth + 1));
            lt_buf_u64(&w->out, index[fr]);
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
put_series(writer_t *w, const lt_jfield *f, size_t row, size_t depth)
{
    uint64_t r = lt_jf_column_u(&f->col, row);
    if (r == UINT32_MAX || f->npoints == 0) {
        lt_buf_puts(&w->out, "[]");
        return;
    }
    if (r >= f->aux1.count / f->npoints) {
        w->error = "json_rows: a series row is outside its matrix";
        return;
    }
    const uint64_t *values = (const uint64_t *)f->aux1.view.buf + r * f->npoints;
    /* The items as put_item_start and put_close write them, with room made
     * once for the longest: most of a report's bytes are series. */
    size_t indent = w->compact ? 0 : 2 * (depth + 1), close = w->compact ? 0 : 2 * depth + 1;
    size_t item = 2 + indent + LT_BUF_U64_MAX;
    if (f->npoints > (SIZE_MAX / 2 - close - 2) / item ||
        lt_buf_reserve(&w->out, f->npoints * item + close + 2) < 0) {
        w->out.failed = 1;
        return;
    }
    char *p = w->out.data + w->out.len;
    *p++ = '[';
    for (size_t i = 0; i < f->npoints; i++) {
        if (i) {
            *p++ = ',';
        }
        if (!w->compact) {
            *p++ = '\n';
            memset(p, ' ', indent);
            p += indent;
        }
        else if (i) {
            *p++ = ' ';
        }
        p = lt_buf_put_u64(p, values[i]);
    }
    if (!w->compact) {
        *p++ = '\n';
        memset(p, ' ', close - 1);
        p += close - 1;
    }
    *p++ = ']';
    w->out.len = (size_t)(p - w->out.data);
}

static void put_object(writer_t *w, lt_jfield *fields, size_t n, size_t row, size_t depth);

static void
put_value(writer_t *w, lt_jfield *f, size_t row, size_t depth)
{
    switch (f->kind) {
    case K_INT:
        if (f->col.code == 'q') {
            lt_buf_i64(&w->out, ((const int64_t *)f->col.view.buf)[row]);
        }
        else {
            lt_buf_u64(&w->out, lt_jf_column_u(&f->col, row));
        }
        return;
    case K_BOOL: lt_buf_puts(&w->out, lt_jf_column_u(&f->col, row) ? "true" : "false"); return;
    case K_FLOAT: put_float(w, ((const double *)f->col.view.buf)[row], f->ndigits); return;
    case K_ENUM: {
        uint64_t i = lt_jf_column_u(&f->col, row);
        if (i >= f->ntexts) {
            w->error = "json_rows: an enum index has no text";
            return;
        }
        put_text(w, &f->texts[i]);
        return;
    }
    case K_CONST: put_text(w, &f->text); return;
    case K_SPARSE:
        while (f->cursor < f->col.count && lt_jf_column_u(&f->col, f->cursor) < row) {
            f->cursor++;
        }
        if (f->cursor < f->col.count && lt_jf_column_u(&f->col, f->cursor) == row) {
            put_text(w, &f->texts[f->cursor++]);
        }
        else {
            put_text(w, &f->text);
        }
        return;
    case K_STACK: put_stack(w, f, row, depth); return;
    case K_SERIES: put_series(w, f, row, depth); return;
    case K_OBJECT:
        if (f->col.held && !lt_jf_column_u(&f->col, row)) {
            lt_buf_puts(&w->out, "null");
        }
        else {
            put_object(w, f->sub, f->nsub, row, depth);
        }
        return;
    }
}

static void
put_object(writer_t *w, lt_jfield *fields, size_t n, size_t row, size_t depth)
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
    lt_jparser p = {.keep = PyList_New(0), .nrows = (size_t)nrows};
    lt_jfield *fields = NULL;
    size_t nfields = 0;
    writer_t w = {{0}, 0, NULL, file == Py_None ? NULL : file, compact};
    PyObject *result = NULL;
    if (!p.keep || lt_jf_parse(desc, &fields, &nfields, &p) < 0) {
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
    lt_jf_free(fields, nfields);
    Py_XDECREF(p.keep);
    return result;
}

PyObject *
lt_py_json_ints(PyObject *module, PyObject *arg)
{
    (void)module;
    lt_jcolumn c = {0};
    if (lt_jf_get_column(arg, "qQiI", &c, "values") < 0) {
        lt_jf_release_column(&c);
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
        default: lt_buf_u64(&out, lt_jf_column_u(&c, i)); break;
        }
    }
    lt_buf_byte(&out, ']');
    lt_jf_release_column(&c);
    PyObject *result = out.failed ? PyErr_NoMemory()
                                  : PyUnicode_DecodeASCII(out.data, (Py_ssize_t)out.len, "strict");
    lt_buf_free(&out);
    return result;
}
