/* lt_pyjsonfields.h - the field descriptions of json_rows (lt_pyjson.h),
 * parsed from their Python tuples.
 *
 * Each description becomes a jfield: its kind, its key, and the columns and
 * JSON texts it names, borrowed from the Python objects, not copied (a
 * report's columns are hundreds of thousands of values). Ownership: the
 * buffers of a field's columns are held (PyObject_GetBuffer) until
 * lt_jf_free releases them; every str whose UTF-8 bytes a text points into,
 * and every sequence of texts, is kept alive by the parser's `keep` list,
 * which the caller owns and drops after lt_jf_free. The checks made here
 * (formats, counts, key names) are those that need no row; the writer
 * checks indexes as it meets them. GIL held throughout; on failure -1 with
 * an exception, and what was parsed so far is still freed by lt_jf_free.
 *
 * The parser also lays out what the writer copies in every row, so that a
 * field costs it one copy and no check: each field's `lead`, the text before
 * its value (the comma and new line or space after the previous field, or
 * the object's opening brace, then the quoted key and ": "; for a const the
 * value too), the `close` of the object after its last field, and the enum
 * and sparse default texts, are copied into the field's `lits` block, each
 * padded to a multiple of LT_JF_PAD bytes (lt_jf_put_lit). `room` bounds
 * the bytes a field writes without making room itself (all of them but a
 * stack's items, a series and a sparse row's own text).
 */
#ifndef LT_PYJSONFIELDS_H
#define LT_PYJSONFIELDS_H

#define PY_SSIZE_T_CLEAN
#include <Python.h>

#include <stdint.h>
#include <string.h>

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
} lt_jkind;

typedef struct {
    const char *ptr;
    Py_ssize_t len;
} lt_jtext;

/* Texts in a field's `lits` are padded to a multiple of this, and a writer
 * copying them has this much room past their end. */
#define LT_JF_PAD 16

/* Copies t (a text of `lits`) to p in whole pieces of LT_JF_PAD bytes, which
 * may write up to LT_JF_PAD - 1 bytes past its end; returns the end. */
static inline char *
lt_jf_put_lit(char *p, const lt_jtext *t)
{
    for (Py_ssize_t i = 0; i < t->len; i += LT_JF_PAD) {
        memcpy(p + i, t->ptr + i, LT_JF_PAD);
    }
    return p + t->len;
}

/* A column: a buffer of one element type. */
typedef struct {
    Py_buffer view;
    int held;
    char code; /* its format: 'q', 'Q', 'B', 'I', 'i' or 'd' */
    size_t count;
} lt_jcolumn;

typedef struct lt_jfield {
    lt_jkind kind;
    const char *key;
    Py_ssize_t key_len;
    lt_jcolumn col;              /* the values, indexes, nodes or rows */
    lt_jcolumn aux1, aux2, aux3; /* stack: parent, frame, index; series: matrix */
    int ndigits;                 /* float: -1 for no rounding */
    size_t npoints;              /* series */
    lt_jtext *texts;             /* enum (in lits), sparse (borrowed) */
    size_t ntexts;
    lt_jtext text;         /* const (borrowed: lead ends with it); sparse: the default (in lits) */
    struct lt_jfield *sub; /* object */
    size_t nsub;
    size_t cursor;  /* sparse: the next of `col` to write */
    size_t level;   /* the depth of the object it is in (that of a row: depth + 1) */
    lt_jtext lead;  /* in lits: what precedes the value (see above) */
    lt_jtext close; /* in lits, last field of an object: the object's end, else empty */
    size_t room;    /* the most bytes it writes without making room (see above) */
    char *lits;     /* lead, close, enum texts, sparse default (libc memory) */
} lt_jfield;

typedef struct {
    PyObject *keep; /* a list holding every object whose bytes are borrowed */
    size_t nrows;
    size_t depth; /* json_rows's: how the leads are indented */
    int compact;  /* json_rows's: leads with a space, not a new line */
} lt_jparser;

/* How many bytes a float is written in at most: repr() of a double is at
 * most 24 ("-2.2250738585072014e-308"). */
#define LT_JF_FLOAT_MAX 24

/* The fields of a sequence of descriptions, for p->nrows rows: *out (n of
 * them) to free with lt_jf_free, also on failure. */
int lt_jf_parse(PyObject *seq, lt_jfield **out, size_t *nout, lt_jparser *p);

void lt_jf_free(lt_jfield *fields, size_t n);

/* A column of one of the formats in `codes`, its buffer held in *c (release
 * it with lt_jf_release_column, also on failure). */
int lt_jf_get_column(PyObject *obj, const char *codes, lt_jcolumn *c, const char *key);

void lt_jf_release_column(lt_jcolumn *c);

/* Value i of an unsigned column ('B', 'I' or 'Q'). */
static inline uint64_t
lt_jf_column_u(const lt_jcolumn *c, size_t i)
{
    switch (c->code) {
    case 'B': return ((const uint8_t *)c->view.buf)[i];
    case 'I': return ((const uint32_t *)c->view.buf)[i];
    default: return ((const uint64_t *)c->view.buf)[i];
    }
}

#endif /* LT_PYJSONFIELDS_H */
