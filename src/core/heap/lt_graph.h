/* lt_graph.h - a snapshot of the object graph of the gc heap.
 *
 * Every object the collector tracks (all generations, the permanent one of
 * gc.freeze() included), every object added explicitly (roots), and every
 * object their tp_traverse reaches becomes a node with a dense uint32 index.
 * Objects reached that are not containers (str, int, bytes...) are leaves;
 * containers the collector does not track (a tuple of ints) are traversed as
 * well. The singletons None, True, False, Ellipsis and NotImplemented are
 * left out: they hold nothing and everything points at them.
 *
 * Edges are stored twice in compressed sparse rows, forward (what an object
 * refers to, duplicates kept: a list holding x twice has two edges) and
 * reverse (who refers to an object). An open-addressing map from object
 * address to index is built alongside; with uint32 indices throughout, the
 * graph costs about 8 (object) + 8 (map) + 4 (size) + 1 (flags) + 8 (two row
 * starts) bytes per node and 8 bytes per edge.
 *
 * Safety. Building calls only tp_traverse (what the collector calls) and
 * reads no attribute, so no Python code runs. It allocates no Python object
 * (the arrays come from lt_rawalloc), so no collection can start and move or
 * free the objects while the graph holds their addresses. The caller holds
 * the GIL from lt_graph_begin() to lt_graph_destroy() and runs no Python
 * code in between; the pointers are borrowed and valid only for that time.
 * The sites come from the tracker's live table (lt_tracker_block), which
 * takes and releases TRACKER_LOCK once per object looked up; nothing else of
 * the graph touches the tracker.
 */
#ifndef LT_GRAPH_H
#define LT_GRAPH_H

#include <stddef.h>
#include <stdint.h>

typedef struct _object PyObject;

#define LT_GRAPH_NONE UINT32_MAX

/* Node flags. */
enum {
    LT_NODE_GC_LISTED = 1, /* on one of the collector's lists */
    LT_NODE_EXTERNAL =
        2, /* listed, with references from outside the graph (C, untracked objects) */
    LT_NODE_DISCOUNTED = 128, /* has references lt_graph_discount() declared */
};

typedef struct {
    PyObject **objects; /* [count] borrowed */
    uint8_t *flags;     /* [count] LT_NODE_* */
    uint32_t *sizes;    /* [count] bytes of the object and its own buffers, saturating */
    uint32_t *sites;    /* [count] trace-tree node of the object's block, LT_GRAPH_NONE when
                           untracked; NULL when the tracker holds no data */
    uint32_t count, capacity;
    uint32_t listed; /* nodes on the collector's lists */

    uint32_t
        *out_start; /* [count + 1] forward edges of i: out_edges[out_start[i] .. out_start[i+1]) */
    uint32_t *out_edges;
    uint32_t *in_start; /* [count + 1] reverse edges, the same way */
    uint32_t *in_edges;
    size_t nedges, edges_capacity, starts_capacity;

    uint64_t *map; /* [map_mask + 1] hash tag << 32 | node index + 1; 0: empty */
    size_t map_mask;

    uint32_t *discounts; /* nodes with a reference the caller holds, one entry per reference */
    uint32_t ndiscounts, discounts_capacity;

    size_t memory, peak_memory; /* bytes of the arrays above, now and at most */
    int finished;
} lt_graph;

/* Starts a graph with every object on the collector's lists. Returns 0, or -1
 * when memory is short (the graph is then empty and may be destroyed). */
int lt_graph_begin(lt_graph *g);

/* Adds an object (a root the collector does not list); returns its index or
 * LT_GRAPH_NONE when memory is short. Only before lt_graph_finish(). */
uint32_t lt_graph_add(lt_graph *g, PyObject *op);

/* Declares a reference to op that the analysing code itself holds (a local of
 * its caller's frame): it does not make op held from outside. Only before
 * lt_graph_finish(). Returns 0 or -1. */
int lt_graph_discount(lt_graph *g, PyObject *op);

/* Traverses every node (including the ones it discovers), builds both edge
 * directions, the sizes and (with tracker data) the sites, and marks the
 * listed nodes referenced from outside the graph. Returns 0 or -1 (memory). */
int lt_graph_finish(lt_graph *g);

/* The index of an object, or LT_GRAPH_NONE when it is not in the graph. A
 * hash lookup while the map is kept, a scan of the nodes after. */
uint32_t lt_graph_find(const lt_graph *g, PyObject *op);

/* Frees the address map (11 to 21 bytes a node) once the lookups that need
 * speed are done; lt_graph_find() scans from then on. */
void lt_graph_release_map(lt_graph *g);

/* The buffer a list, dict or set owns (its items or table, allocated apart
 * from the object and counted in its size), or NULL. */
const void *lt_graph_buffer(PyObject *op);

/* The trace-tree node of the buffer a list, dict or set owns (its items or
 * table, allocated apart from the object), or LT_GRAPH_NONE. */
uint32_t lt_graph_buffer_site(PyObject *op);

/* Arrays of the analyses built on the graph are counted with it. */
void *lt_graph_alloc(lt_graph *g, size_t size);
void lt_graph_free(lt_graph *g, void *ptr, size_t size);

void lt_graph_destroy(lt_graph *g);

/* Whether a collection is running (a finalizer called us): the collector's
 * lists are then incomplete, and no graph may be built. */
int lt_graph_collector_running(void);

#endif /* LT_GRAPH_H */
