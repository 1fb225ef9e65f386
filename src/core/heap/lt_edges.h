/* lt_edges.h - names of references as a person reads them.
 *
 * Given a chain of objects, each referring to the next, these functions write
 * the edges of a retention path (lt_format.h): `.name` for attributes (the
 * instance dict, 3.11+ inline values, __slots__ and other object members, the
 * namespaces of modules and classes), `[key]` for dict keys, `[i]` for the
 * items of lists, tuples and collections.deque (by position), "item of set",
 * closure cells by their free variable's name
 * (function, __closure__ tuple, cell and contents read as one edge), frame
 * locals by name, a traceback's frame, an exception's __traceback__, and
 * functools.lru_cache's cache keys and results. Anything else is "referent of
 * <type>".
 *
 * The referring object is inspected, never asked: no Python code runs (no
 * __repr__, __eq__ or __hash__; dicts are walked with PyDict_Next and compared
 * by identity; only exact str and int keys get a repr) and no Python object is
 * created. The caller holds the GIL.
 */
#ifndef LT_EDGES_H
#define LT_EDGES_H

#include <stddef.h>
#include <stdint.h>

#include "capture/lt_format.h"
#include "heap/lt_path.h"

typedef struct _object PyObject;
typedef struct _typeobject PyTypeObject;

/* The UTF-8 text of an exact str (borrowed; no copy for ASCII), or NULL. */
const char *lt_edges_str_text(PyObject *s, size_t *len);

/* The value under the exact str key equal to name, found by comparing key
 * text rather than by a lookup (which could call a key's __eq__), or NULL. */
PyObject *lt_edges_str_entry(PyObject *dict, const char *name);

/* An object's namespace dict if it has one already (a module's globals, a
 * class's or an instance's __dict__), or NULL. */
PyObject *lt_edges_namespace_of(PyObject *op);

/* A type's qualified name for heap types, its tp_name otherwise. */
const char *lt_edges_type_name(PyTypeObject *type, size_t *len);

/* Encodes `nedges (kind text)*` for the references along chain[0..n) (n
 * objects). namespace_root: chain[0] is a module's or class's namespace, so
 * its keys read as attributes. local, when not NULL, is a first edge: the
 * frame local holding chain[0]. Paths with more than LT_MAX_PATH_EDGES - 2
 * references keep their first and last ones. */
void lt_edges_encode(PyObject **chain, size_t n, int namespace_root, const char *local,
                     size_t local_len, lt_bytes *out);

/* Encodes the head of a path: root kind and text, target type and sizes. */
void lt_edges_encode_head(lt_bytes *out, lt_root_kind kind, const char *root, size_t root_len,
                          PyObject *target, uint64_t object_bytes, uint64_t retained);

#endif /* LT_EDGES_H */
