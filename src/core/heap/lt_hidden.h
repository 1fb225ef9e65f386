/* lt_hidden.h - references the collector cannot see.
 *
 * An object without tp_traverse (an extension type written without gc
 * support, pydantic-core's ValidatorIterator, a test's ltx_table.Box) can
 * hold references the graph has no edge for: what it holds looks "held from
 * C". Such an object is still a node when something traversable refers to
 * it, so the object it hides can be found by a conservative look at its own
 * struct: a pointer-aligned word equal to the object's address. That makes
 * it the nearest known referrer of an object held from outside, and names a
 * cycle through it (the object reaches its hidden referrer in the graph).
 *
 * Same rules as lt_graph.h: GIL held, no Python code run, nothing allocated;
 * only the first tp_basicsize bytes (at most LT_HIDDEN_MAX_SCAN) of a node
 * are read.
 */
#ifndef LT_HIDDEN_H
#define LT_HIDDEN_H

#include <stdint.h>

#include "heap/lt_graph.h"

#define LT_HIDDEN_MAX_SCAN 4096

/* The node of an object the collector cannot traverse whose struct holds a
 * pointer to node `target`, or LT_GRAPH_NONE. Leaves that hold nothing by
 * construction (str, bytes, int, float, code objects, types) are passed
 * over. */
uint32_t lt_hidden_referrer(const lt_graph *g, uint32_t target);

#endif /* LT_HIDDEN_H */
