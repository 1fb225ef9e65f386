/* lt_retain.h - why objects are alive: reference paths from roots, the
 * dominator tree with retained sizes, and unreachable cycles, computed on an
 * lt_graph.
 *
 * Roots, in the order the breadth-first search takes them (tier 0 first):
 *   tier 0  the globals of every module in sys.modules, the attributes of
 *           every class (heap type dicts), the locals of every live frame of
 *           every thread, and the exception each thread is handling;
 *   tier 1  the locals of the caller's own frames (why()'s caller, or
 *           leaktrace's bootstrap when a run stops), which hold the object
 *           asked about but rarely explain it;
 *   tier 2  objects on the collector's lists that something outside the
 *           graph refers to: C code, or an object the collector does not
 *           track ("held from C or by an untracked object").
 * What none of these reaches is cyclic garbage: alive only because the
 * collector has not run (disabled, deferred) or cannot see it (gc.freeze()),
 * or retained by such garbage.
 *
 * Each search is one pass over the graph (multi-source BFS), so a path for
 * any number of objects costs one traversal. Edges are named only for the
 * paths reported, by looking at the referring object (dict keys, indices,
 * attribute names, closure variables, frame locals): nothing is stored per
 * edge.
 *
 * Dominators: Cooper, Harvey and Kennedy's iterative algorithm over a
 * reverse post-order from a super-root joined to every root, every object
 * held from outside and every cycle entry; an object's retained size is the
 * sum of the sizes in its dominator subtree.
 *
 * The units: lt_retain.c (roots, search, lifetime), lt_retain_dom.c
 * (dominators), lt_retain_why.c (paths to one object), lt_retain_report.c
 * (the retention records of a run: sites, suspects, summary) and
 * lt_retain_cycles.c (unreachable cycles); this header declares all of
 * their entry points.
 *
 * Same rules as lt_graph.h: GIL held throughout, no Python code run, no
 * Python object allocated (names are read from exact str/int objects only;
 * no __repr__, __eq__ or __hash__ is called). Results are encoded as the
 * `path` bytes of lt_format.h. Errors: -1 means memory.
 */
#ifndef LT_RETAIN_H
#define LT_RETAIN_H

#include <stddef.h>
#include <stdint.h>

#include "heap/lt_graph.h"
#include "heap/lt_owners.h"
#include "heap/lt_path.h"

typedef struct {
    uint32_t node;   /* graph index */
    uint8_t kind;    /* lt_root_kind */
    uint8_t tier;    /* see above */
    int line;        /* LT_ROOT_FRAME: the frame's line */
    PyObject *name;  /* borrowed: module name (str), type, or code object */
    PyObject *local; /* borrowed: LT_ROOT_FRAME: the local variable's name */
} lt_root;

typedef struct {
    lt_graph graph;
    lt_root *roots;
    uint32_t nroots, roots_capacity;
    uint32_t *via;       /* [count] BFS parent, or a root marker (lt_retain_internal.h) */
    uint32_t *idom;      /* [count + 1] after lt_retain_dominators(); count is the super-root */
    uint32_t *postorder; /* [count] */
    uint64_t *retained;  /* [count] */
    uint64_t duration_ns;
    lt_owners owners; /* native blocks and their owners (lt_owners.h) */
} lt_retain;

/* Builds the graph, finds the roots and runs the search. caller_frames: how
 * many innermost frames of the calling thread count as tier 1 (-1: all).
 * ignore, when not NULL, is a container the caller made to pass objects in:
 * the search does not go through it. Returns 0 or -1; lt_retain_destroy()
 * in both cases. */
int lt_retain_build(lt_retain *r, int caller_frames, PyObject *ignore);

void lt_retain_destroy(lt_retain *r);

/* The analyses on a built lt_retain, each in its own unit. */
#include "heap/lt_retain_dom.h"
#include "heap/lt_retain_report.h"
#include "heap/lt_retain_why.h"

#endif /* LT_RETAIN_H */
