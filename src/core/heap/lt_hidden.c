/* lt_hidden.c - see lt_hidden.h. */
#include "compat/lt_compat.h"

#include "heap/lt_hidden.h"

#include <string.h>

/* Whether the graph may miss references op holds: it has no tp_traverse
 * (or is no gc object), and is not a leaf that holds nothing. */
static int
may_hide(PyObject *op)
{
    PyTypeObject *t = Py_TYPE(op);
    if (PyObject_IS_GC(op) && t->tp_traverse) {
        return 0;
    }
    unsigned long leaves = Py_TPFLAGS_LONG_SUBCLASS | Py_TPFLAGS_UNICODE_SUBCLASS |
                           Py_TPFLAGS_BYTES_SUBCLASS;
    return !(t->tp_flags & leaves) && !PyFloat_Check(op) && !PyComplex_Check(op) &&
           !PyCode_Check(op) && !PyType_Check(op);
}

uint32_t
lt_hidden_referrer(const lt_graph *g, uint32_t target)
{
    const void *want = g->objects[target];
    for (uint32_t u = 0; u < g->count; u++) {
        PyObject *op = g->objects[u];
        if (u == target || !may_hide(op)) {
            continue;
        }
        Py_ssize_t size = Py_TYPE(op)->tp_basicsize;
        size_t end = size > LT_HIDDEN_MAX_SCAN ? LT_HIDDEN_MAX_SCAN : (size_t)size;
        /* Past the reference count and the type. */
        for (size_t at = sizeof(PyObject); at + sizeof(void *) <= end; at += sizeof(void *)) {
            const void *word;
            memcpy(&word, (const char *)op + at, sizeof(word));
            if (word == want) {
                return u;
            }
        }
    }
    return LT_GRAPH_NONE;
}
