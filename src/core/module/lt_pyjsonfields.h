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
 */
#ifndef LT_PYJSONFIELDS_H
#define LT_PYJSONFIELDS_H

#define PY_SSIZE_T_CLEAN
#include <Python.h>

#include <stdint.h>

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
    lt_jtext *texts;             /* enum, sparse */
    size_t ntexts;
    lt_jtext text;         /* const; sparse: the default */
    struct lt_jfield *sub; /* object */
    size_t nsub;
    size_t cursor; /* sparse: the next of `col` to write */
} lt_jfield;

typedef struct {
    PyObject *keep; /* a list holding every object whose bytes are borrowed */
    size_t nrows;
} lt_jparser;

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
