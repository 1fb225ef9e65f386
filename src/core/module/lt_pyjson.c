/* lt_pyjson.c - leaktrace._core.json_rows: see lt_pyjson.h.
 *
 * The writer keeps a cursor into its buffer. Before each row it makes room
 * for the most the row's parts of bounded length can take (writer_t.room:
 * the fields' `room`, lt_pyjsonfields.h, the row's new line and comma, and
 * LT_JF_PAD of slack for lt_jf_put_lit), then writes them with no check;
 * the parts of no bound (a stack's items, a series, a sparse row's own
 * text) make room for themselves and for writer_t.room again, so that what
 * follows them in the row still fits.
 */
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
#define U32_DIGITS 10       /* decimal digits of UINT32_MAX */

#define MAX_DEPTH 64
#define FLUSH_BYTES (1 << 20) /* written out to a file in pieces of about this size */

typedef struct {
    lt_buf out;
    size_t room;       /* made before each row and after each part of no bound */
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

/* Makes room for `more` bytes at p, a cursor into w->out, and w->room past
 * them. Returns the cursor (the buffer may have moved), or NULL when memory
 * ran out (w->out.failed). */
static char *
make_room(writer_t *w, char *p, size_t more)
{
    w->out.len = (size_t)(p - w->out.data);
    if (more > SIZE_MAX / 4 || lt_buf_reserve(&w->out, more + w->room) < 0) {
        w->out.failed = 1;
        return NULL;
    }
    return w->out.data + w->out.len;
}

/* Copies n bytes at p after making room for them. */
static char *
put_bytes(writer_t *w, char *p, const char *bytes, size_t n)
{
    p = make_room(w, p, n);
    if (p) {
        memcpy(p, bytes, n);
        p += n;
    }
    return p;
}

/* The length of the decimal `fixed` ('f' format, ndigits > 0 places) as
 * repr() writes the double nearest to it, when that is the same digits:
 * repr() writes the shortest digits that read back as the double, and a
 * decimal of at most DBL_DIG (15) significant digits is the only decimal of
 * its length or shorter that reads back as its double; repr() writes it
 * without an exponent from 1e-4 to below 1e16. Returns -1 when repr() must
 * be asked. */
static Py_ssize_t
short_fixed_len(const char *fixed)
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
    return end - fixed;
}

/* put_float for what put_rounded leaves: through CPython's dtoa. */
static char *
put_float_dtoa(writer_t *w, char *p, double x, int ndigits)
{
    if (!isfinite(x)) {
        const char *text = isnan(x) ? "NaN" : x > 0 ? "Infinity" : "-Infinity";
        return put_bytes(w, p, text, strlen(text));
    }
    if (x == 0.0) { /* round() keeps a zero as it is, and its sign */
        return put_bytes(w, p, signbit(x) ? "-0.0" : "0.0", signbit(x) ? 4 : 3);
    }
    if (ndigits >= 0) {
        /* What float.__round__ does: the decimal string correctly rounded to
         * ndigits places, read back. */
        char *fixed = PyOS_double_to_string(x, 'f', ndigits, 0, NULL);
        if (!fixed) {
            w->python_error = 1;
            return NULL;
        }
        Py_ssize_t n = ndigits > 0 ? short_fixed_len(fixed) : -1;
        if (n >= 0) {
            p = put_bytes(w, p, fixed, (size_t)n);
            PyMem_Free(fixed);
            return p;
        }
        x = PyOS_string_to_double(fixed, NULL, NULL);
        PyMem_Free(fixed);
        if (x == -1.0 && PyErr_Occurred()) {
            w->python_error = 1;
            return NULL;
        }
    }
    char *repr = PyOS_double_to_string(x, 'r', 0, Py_DTSF_ADD_DOT_0, NULL);
    if (!repr) {
        w->python_error = 1;
        return NULL;
    }
    p = put_bytes(w, p, repr, strlen(repr));
    PyMem_Free(repr);
    return p;
}

#define ROUNDED_NDIGITS 4  /* put_rounded's most places */
#define ROUNDED_LIMIT 1e11 /* and its largest |x|: |x| * 10**4 < 10**15 */

/* repr(round(x, ndigits)) for 0 <= ndigits <= ROUNDED_NDIGITS and |x| <
 * ROUNDED_LIMIT, found in integers: x is m * 2**e (m < 2**53), so x *
 * 10**ndigits is m * 5**ndigits (< 2**63) * 2**(e + ndigits), of which q,
 * the nearest integer (ties to even), is what float.__round__ finds (dtoa's
 * correctly rounded mode 3) as the digits of round(x, ndigits). Their
 * decimal q / 10**ndigits has at most 15 significant digits (q < 10**15),
 * and is 0 or at least 1e-4, so repr() writes the double nearest to it, what
 * round() returns, with the same digits and no exponent (short_fixed_len).
 * Writes at most 1 + 11 + 1 + 4 bytes at p and returns the end, or NULL
 * (nothing written) for an x outside those bounds (NaN and infinities too). */
static char *
put_rounded(char *p, double x, int ndigits)
{
    static const uint64_t pow5[] = {1, 5, 25, 125, 625};
    static const uint64_t pow10[] = {1, 10, 100, 1000, 10000};
    if (!(fabs(x) < ROUNDED_LIMIT)) {
        return NULL;
    }
    uint64_t bits;
    memcpy(&bits, &x, sizeof bits);
    int biased = (int)(bits >> 52 & 0x7FF);
    uint64_t m = bits & ((UINT64_C(1) << 52) - 1);
    if (biased) {
        m |= UINT64_C(1) << 52;
    }
    /* A double below 2**37 has e <= -15: the scaling is a shift right. */
    int shift = -((biased ? biased - 1075 : -1074) + ndigits);
    if (shift <= 0) {
        return NULL;
    }
    uint64_t scaled = m * pow5[ndigits], q = 0;
    if (shift < 64) { /* else scaled < 2**63 is less than half of 2**shift: q is 0 */
        uint64_t rest = scaled & ((UINT64_C(1) << shift) - 1), half = UINT64_C(1) << (shift - 1);
        q = scaled >> shift;
        q += rest > half || (rest == half && (q & 1));
    }
    if (q >= UINT64_C(1000000000000000)) {
        return NULL;
    }
    if (bits >> 63) {
        *p++ = '-'; /* and -0.0 for a negative x that rounds to 0 */
    }
    uint64_t fraction = q % pow10[ndigits];
    p = lt_buf_put_u64(p, q / pow10[ndigits]);
    *p++ = '.';
    if (fraction == 0) {
        *p++ = '0';
        return p;
    }
    int places = ndigits;
    while (fraction % 10 == 0) { /* no trailing zeros */
        fraction /= 10;
        places--;
    }
    for (int i = places - 1; i >= 0; i--) {
        p[i] = (char)('0' + fraction % 10);
        fraction /= 10;
    }
    return p + places;
}

/* repr(round(x, ndigits)) as json.dumps writes a float (ndigits -1: repr(x)). */
static char *
put_float(writer_t *w, char *p, double x, int ndigits)
{
    if (ndigits >= 0 && ndigits <= ROUNDED_NDIGITS) {
        char *end = put_rounded(p, x, ndigits);
        if (end) {
            return end;
        }
    }
    return put_float_dtoa(w, p, x, ndigits);
}

/* The row's stack: index[frame] of each frame from its node to the root,
 * innermost first (json.py numbers the document's frame table so). */
static char *
put_stack(writer_t *w, char *p, const lt_jfield *f, size_t row)
{
    const uint32_t *parent = f->aux1.view.buf, *frame = f->aux2.view.buf;
    const uint32_t *index = f->aux3.view.buf;
    size_t ntree = f->aux1.count, n = (size_t)lt_jf_column_u(&f->col, row);
    /* Its items are indented one level past the field's key. */
    size_t indent = w->compact ? 0 : 2 * (f->level + 2);
    size_t close = w->compact ? 1 : 2 * (f->level + 1) + 2;
    size_t item = 2 + indent + U32_DIGITS + close; /* the most an item and the close take */
    int any = 0;
    while (n < ntree && frame[n] != NO_FRAME) {
        uint32_t fr = frame[n];
        if (fr != TRUNCATED_FRAME) {
            if (fr >= f->aux3.count || index[fr] == NO_INDEX) {
                w->error = "json_rows: a stack frame has no index";
                return NULL;
            }
            if ((size_t)(w->out.data + w->out.cap - p) < item + w->room &&
                !(p = make_room(w, p, item))) {
                return NULL;
            }
            *p++ = any ? ',' : '[';
            if (!w->compact) {
                *p++ = '\n';
                memset(p, ' ', indent);
                p += indent;
            }
            else if (any) {
                *p++ = ' ';
            }
            p = lt_buf_put_u64(p, index[fr]);
            any = 1;
        }
        if (parent[n] >= n) {
            w->error = "json_rows: a tree node's parent must come before it";
            return NULL;
        }
        n = parent[n];
    }
    if (n >= ntree) {
        w->error = "json_rows: a stack node is outside its tree";
        return NULL;
    }
    if (!any) {
        memcpy(p, "[]", 2);
        return p + 2;
    }
    if (!w->compact) {
        *p++ = '\n';
        memset(p, ' ', close - 2);
        p += close - 2;
    }
    *p++ = ']';
    return p;
}

static char *
put_series(writer_t *w, char *p, const lt_jfield *f, size_t row)
{
    uint64_t r = lt_jf_column_u(&f->col, row);
    if (r == UINT32_MAX || f->npoints == 0) {
        memcpy(p, "[]", 2);
        return p + 2;
    }
    if (r >= f->aux1.count / f->npoints) {
        w->error = "json_rows: a series row is outside its matrix";
        return NULL;
    }
    const uint64_t *values = (const uint64_t *)f->aux1.view.buf + r * f->npoints;
    /* Room made once for the longest items: most of a report's bytes are
     * series. Items are indented one level past the field's key. */
    size_t indent = w->compact ? 0 : 2 * (f->level + 2);
    size_t close = w->compact ? 0 : 2 * (f->level + 1) + 1;
    size_t item = 2 + indent + LT_BUF_U64_MAX;
    if (f->npoints > (SIZE_MAX / 8 - close - 2) / item ||
        !(p = make_room(w, p, f->npoints * item + close + 2))) {
        w->out.failed = 1;
        return NULL;
    }
    *p++ = '[';
    if (w->compact) {
        p = lt_buf_put_u64(p, values[0]);
        for (size_t i = 1; i < f->npoints; i++) {
            memcpy(p, ", ", 2);
            p = lt_buf_put_u64(p + 2, values[i]);
        }
        *p++ = ']';
        return p;
    }
    for (size_t i = 0; i < f->npoints; i++) {
        if (i) {
            *p++ = ',';
        }
        *p++ = '\n';
        memset(p, ' ', indent);
        p = lt_buf_put_u64(p + indent, values[i]);
    }
    *p++ = '\n';
    memset(p, ' ', close - 1);
    p += close - 1;
    *p++ = ']';
    return p;
}

static char *put_object(writer_t *w, char *p, lt_jfield *fields, size_t n, size_t row);

/* The value of field f in a row, at p; returns the end, or NULL on failure. */
static char *
put_value(writer_t *w, char *p, lt_jfield *f, size_t row)
{
    switch (f->kind) {
    case K_INT:
        if (f->col.code == 'q') {
            int64_t v = ((const int64_t *)f->col.view.buf)[row];
            if (v < 0) {
                *p++ = '-';
            }
            return lt_buf_put_u64(p, v < 0 ? (uint64_t)0 - (uint64_t)v : (uint64_t)v);
        }
        return lt_buf_put_u64(p, lt_jf_column_u(&f->col, row));
    case K_BOOL: {
        int v = lt_jf_column_u(&f->col, row) != 0;
        memcpy(p, v ? "true" : "false", 5); /* "true" and its NUL: within the slack */
        return p + (v ? 4 : 5);
    }
    case K_FLOAT: return put_float(w, p, ((const double *)f->col.view.buf)[row], f->ndigits);
    case K_ENUM: {
        uint64_t i = lt_jf_column_u(&f->col, row);
        if (i >= f->ntexts) {
            w->error = "json_rows: an enum index has no text";
            return NULL;
        }
        return lt_jf_put_lit(p, &f->texts[i]);
    }
    case K_CONST: return p; /* its lead ends with the text */
    case K_SPARSE:
        while (f->cursor < f->col.count && lt_jf_column_u(&f->col, f->cursor) < row) {
            f->cursor++;
        }
        if (f->cursor < f->col.count && lt_jf_column_u(&f->col, f->cursor) == row) {
            const lt_jtext *t = &f->texts[f->cursor++];
            return put_bytes(w, p, t->ptr, (size_t)t->len);
        }
        return lt_jf_put_lit(p, &f->text);
    case K_STACK: return put_stack(w, p, f, row);
    case K_SERIES: return put_series(w, p, f, row);
    case K_OBJECT:
        if (f->col.held && !lt_jf_column_u(&f->col, row)) {
            memcpy(p, "null", 4);
            return p + 4;
        }
        return put_object(w, p, f->sub, f->nsub, row);
    }
    return p;
}

/* Each field's lead and value, and the object's close after the last. */
static char *
put_object(writer_t *w, char *p, lt_jfield *fields, size_t n, size_t row)
{
    if (n == 0) {
        memcpy(p, "{}", 2);
        return p + 2;
    }
    for (size_t i = 0; i < n && p; i++) {
        p = lt_jf_put_lit(p, &fields[i].lead);
        p = put_value(w, p, &fields[i], row);
    }
    return p ? lt_jf_put_lit(p, &fields[n - 1].close) : NULL;
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
    if (nrows < 0 || depth < 0 || depth > MAX_DEPTH) {
        PyErr_SetString(PyExc_ValueError, "json_rows: nrows and depth out of range");
        return NULL;
    }
    lt_jparser p = {
        .keep = PyList_New(0), .nrows = (size_t)nrows, .depth = (size_t)depth, .compact = compact};
    lt_jfield *fields = NULL;
    size_t nfields = 0;
    writer_t w = {.file = file == Py_None ? NULL : file, .compact = compact};
    PyObject *result = NULL;
    if (!p.keep || lt_jf_parse(desc, &fields, &nfields, &p) < 0) {
        goto done;
    }
    /* Each row on a line of its own, indented as an item of the array. */
    char lead_bytes[(2 * (MAX_DEPTH + 1) + 1 + LT_JF_PAD - 1) / LT_JF_PAD * LT_JF_PAD];
    lt_jtext lead = {lead_bytes, 1 + 2 * (depth + 1)};
    memset(lead_bytes, ' ', sizeof lead_bytes);
    lead_bytes[0] = '\n';
    w.room = (size_t)lead.len + 2 + LT_JF_PAD; /* the comma after it, or "{}"; the slack */
    for (size_t i = 0; i < nfields; i++) {
        w.room += fields[i].room;
    }
    char *at = lt_buf_reserve(&w.out, w.room + 1) == 0 ? w.out.data : NULL;
    if (at) {
        *at++ = '[';
    }
    for (size_t row = 0; row < (size_t)nrows && at; row++) {
        if (!(at = make_room(&w, at, 0))) {
            break;
        }
        at = lt_jf_put_lit(at, &lead);
        if (!(at = put_object(&w, at, fields, nfields, row))) {
            break;
        }
        if (row + 1 < (size_t)nrows) {
            *at++ = ',';
        }
        w.out.len = (size_t)(at - w.out.data);
        if (w.file && w.out.len >= FLUSH_BYTES) {
            flush(&w);
            at = w.python_error ? NULL : w.out.data + w.out.len;
        }
    }
    if (at && nrows && (at = make_room(&w, at, (size_t)lead.len - 1))) {
        at = lt_jf_put_lit(at, &(lt_jtext){lead_bytes, lead.len - 2}); /* one level out */
    }
    if (at && (at = make_room(&w, at, 1))) {
        *at++ = ']';
        w.out.len = (size_t)(at - w.out.data);
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
