/* lt_holder.h - what holds the object at the end of a retention chain, and
 * the bound of that holder when it has one.
 *
 * The holder is the container on the chain that holds the most items: what
 * holds many objects like the target (a dict of sessions, a cache), not the
 * small list or tuple of one entry. The target itself counts: a site that
 * allocated a dict's table is represented by that dict. The holder is then
 * named by what it belongs to:
 *   - functools.lru_cache: the wrapper, or its cache dict; the bound is the
 *     maxsize the decorator kept in the closure of the wrapper's
 *     cache_parameters (functools.py), read without calling it;
 *   - collections.deque: its maxlen;
 *   - re's compiled-pattern caches (the module globals _cache and _cache2 of
 *     re): re._MAXCACHE (or _MAXCACHE2) of the running Python;
 *   - a dict kept by an object (or a dict subclass) with an exact int
 *     attribute capacity, maxsize or maxlen, as SQLAlchemy's LRUCache keeps:
 *     that attribute;
 *   - otherwise the container's own kind (dict, sequence, set), or the plain
 *     reference of the target's referrer when the chain has no container.
 * Namespaces (module globals, class and instance dicts), closure tuples and
 * a class's __mro__ and __bases__ are the program's structure, not
 * containers of its data, and are passed over.
 *
 * Same rules as lt_edges.h: the GIL is held, objects are inspected and never
 * called, nothing is allocated.
 */
#ifndef LT_HOLDER_H
#define LT_HOLDER_H

#include <stddef.h>
#include <stdint.h>

#include "capture/lt_format.h"

typedef struct _object PyObject;

typedef struct {
    size_t at;           /* chain index of the holder */
    lt_holder_kind kind; /* lt_format.h */
    uint64_t bound;      /* the bound read; 0 when none (or unbounded) */
    uint64_t entries;    /* the items the holder holds now */
} lt_holder;

/* The holder of chain[n - 1] along chain[0..n) (n >= 2 objects, each
 * referring to the next). namespace_root: chain[0] is a module's or class's
 * namespace. */
void lt_holder_find(PyObject **chain, size_t n, int namespace_root, lt_holder *out);

#endif /* LT_HOLDER_H */
