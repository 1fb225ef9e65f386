/* lt_graph.c - see lt_graph.h. */
#include "compat/lt_compat.h"

#include "heap/lt_graph.h"

#include <string.h>

#include "base/lt_rawalloc.h"
#include "record/lt_tracker.h"

/* ---- memory: every array comes from lt_rawalloc and is counted ---- */

void *
lt_graph_alloc(lt_graph *g, size_t size)
{
    void *ptr = lt_raw_malloc(size);
    if (ptr) {
        g->memory += size;
        if (g->memory > g->peak_memory) {
            g->peak_memory = g->memory;
        }
    }
    return ptr;
}

void
lt_graph_free(lt_graph *g, void *ptr, size_t size)
{
    if (ptr) {
        lt_raw_free(ptr, size);
        g->memory -= size;
    }
}

/* Replaces *array (old_n elements) by a copy with room for new_n. */
static int
grow_array(lt_graph *g, void **array, size_t old_n, size_t new_n, size_t elsize)
{
    void *bigger = lt_graph_alloc(g, new_n * elsize);
    if (!bigger) {
        return -1;
    }
    if (*array) {
        memcpy(bigger, *array, old_n * elsize);
        lt_graph_free(g, *array, old_n * elsize);
    }
    *array = bigger;
    return 0;
}

/* ---- the address -> index map (linear probing, no deletion) ----
 * A slot holds the node index + 1 in its low half and the high half of the
 * address's hash in its upper half: a probe compares that tag first and reads
 * the node's address (a second cache miss) only when the tags agree. */

static inline uint64_t
map_hash(const PyObject *op)
{
    return ((uint64_t)(uintptr_t)op >> 4) * 0x9E3779B97F4A7C15ull;
}

static inline size_t
map_home(uint64_t hash, size_t mask)
{
    return (size_t)(hash >> 20) & mask;
}

static inline uint64_t
map_slot(uint64_t hash, uint32_t index)
{
    return (hash & 0xFFFFFFFF00000000ull) | ((uint64_t)index + 1);
}

/* The slot holding op, or the empty slot where it belongs. */
static inline size_t
map_probe(const lt_graph *g, const PyObject *op, uint64_t hash)
{
    uint64_t tag = hash & 0xFFFFFFFF00000000ull;
    size_t i = map_home(hash, g->map_mask);
    for (;; i = (i + 1) & g->map_mask) {
        uint64_t slot = g->map[i];
        if (slot == 0 ||
            ((slot & 0xFFFFFFFF00000000ull) == tag && g->objects[(uint32_t)slot - 1] == op)) {
            return i;
        }
    }
}

uint32_t
lt_graph_find(const lt_graph *g, PyObject *op)
{
    if (!g->map) {
        for (uint32_t i = 0; i < g->count; i++) {
            if (g->objects[i] == op) {
                return i;
            }
        }
        return LT_GRAPH_NONE;
    }
    uint64_t slot = g->map[map_probe(g, op, map_hash(op))];
    return slot ? (uint32_t)slot - 1 : LT_GRAPH_NONE;
}

static int
map_resize(lt_graph *g, size_t capacity)
{
    uint64_t *slots = lt_graph_alloc(g, capacity * sizeof(uint64_t));
    if (!slots) {
        return -1;
    }
    memset(slots, 0, capacity * sizeof(uint64_t));
    size_t mask = capacity - 1;
    for (uint32_t n = 0; n < g->count; n++) {
        uint64_t hash = map_hash(g->objects[n]);
        size_t i = map_home(hash, mask);
        while (slots[i]) {
            i = (i + 1) & mask;
        }
        slots[i] = map_slot(hash, n);
    }
    lt_graph_release_map(g);
    g->map = slots;
    g->map_mask = mask;
    return 0;
}

/* Returns the index of op, adding it when new. */
static uint32_t
intern_object(lt_graph *g, PyObject *op)
{
    uint64_t hash = map_hash(op);
    size_t i = map_probe(g, op, hash);
    if (g->map[i]) {
        return (uint32_t)g->map[i] - 1;
    }
    if (g->count >= UINT32_MAX - 2) {
        return LT_GRAPH_NONE;
    }
    if (g->count == g->capacity) {
        size_t cap = g->capacity ? (size_t)g->capacity * 2 : 1024;
        if (cap > UINT32_MAX - 1) {
            cap = UINT32_MAX - 1;
        }
        if (grow_array(g, (void **)&g->objects, g->count, cap, sizeof(PyObject *)) < 0 ||
            grow_array(g, (void **)&g->flags, g->count, cap, 1) < 0) {
            return LT_GRAPH_NONE;
        }
        g->capacity = (uint32_t)cap;
    }
    uint32_t index = g->count++;
    g->objects[index] = op;
    g->flags[index] = 0;
    g->map[i] = map_slot(hash, index);
    /* Load factor at most 3/4. */
    if ((size_t)g->count * 4 > (g->map_mask + 1) * 3 && map_resize(g, (g->map_mask + 1) * 2) < 0) {
        return LT_GRAPH_NONE;
    }
    return index;
}

/* ---- building ---- */

static int
count_listed(PyObject *op, void *arg)
{
    (void)op;
    (*(size_t *)arg)++;
    return 0;
}

static int
add_listed(PyObject *op, void *arg)
{
    lt_graph *g = arg;
    uint32_t index = intern_object(g, op);
    if (index == LT_GRAPH_NONE) {
        return -1;
    }
    g->flags[index] |= LT_NODE_GC_LISTED;
    return 0;
}

static size_t
power_of_two_at_least(size_t n)
{
    size_t p = 1024;
    while (p < n) {
        p *= 2;
    }
    return p;
}

int
lt_graph_begin(lt_graph *g)
{
    memset(g, 0, sizeof(*g));
    size_t listed = 0;
    lt_compat_gc_visit(count_listed, &listed);
    /* Leaves reached from containers roughly match the containers in number. */
    if (map_resize(g, power_of_two_at_least(listed * 3)) < 0) {
        return -1;
    }
    if (lt_compat_gc_visit(add_listed, g) != 0) {
        return -1;
    }
    g->listed = g->count;
    return 0;
}

uint32_t
lt_graph_add(lt_graph *g, PyObject *op)
{
    return g->finished ? lt_graph_find(g, op) : intern_object(g, op);
}

static inline int
is_singleton(PyObject *op)
{
    return op == Py_None || op == Py_True || op == Py_False || op == Py_Ellipsis ||
           op == Py_NotImplemented;
}

static int
add_edge(PyObject *child, void *arg)
{
    lt_graph *g = arg;
    if (!child || is_singleton(child)) {
        return 0;
    }
    uint32_t index = intern_object(g, child);
    if (index == LT_GRAPH_NONE) {
        return -1;
    }
    if (g->nedges == g->edges_capacity) {
        size_t cap = g->edges_capacity ? g->edges_capacity * 2 : (size_t)g->count * 2 + 1024;
        if (grow_array(g, (void **)&g->out_edges, g->nedges, cap, sizeof(uint32_t)) < 0) {
            return -1;
        }
        g->edges_capacity = cap;
    }
    g->out_edges[g->nedges++] = index;
    return 0;
}

/* Traverses every node in index order, so that the edges of node i are
 * appended together and the forward rows need no sorting. Nodes found on the
 * way are appended and traversed in turn. */
static int
build_forward(lt_graph *g)
{
    size_t starts_capacity = g->starts_capacity;
    for (uint32_t i = 0; i < g->count; i++) {
        if (i + 1 >= starts_capacity) {
            size_t cap = (size_t)g->capacity + 1;
            if (grow_array(g, (void **)&g->out_start, starts_capacity, cap, sizeof(uint32_t)) <
                0) {
                return -1;
            }
            starts_capacity = g->starts_capacity = cap;
        }
        if (g->nedges >= UINT32_MAX - 1) {
            return -1;
        }
        g->out_start[i] = (uint32_t)g->nedges;
        /* The objects lie anywhere in memory; ask for the ones traversed a
         * little later while this one is walked. */
        if (i + 8 < g->count) {
            __builtin_prefetch(g->objects[i + 8]);
        }
        PyObject *op = g->objects[i];
        traverseproc traverse = Py_TYPE(op)->tp_traverse;
        /* PyObject_IS_GC asks tp_is_gc too: static type objects are not
         * containers, and their tp_traverse must not be called. */
        if (traverse && PyObject_IS_GC(op) && traverse(op, add_edge, g) != 0) {
            return -1;
        }
    }
    if ((size_t)g->count + 1 > starts_capacity &&
        grow_array(g, (void **)&g->out_start, starts_capacity, (size_t)g->count + 1,
                   sizeof(uint32_t)) < 0) {
        return -1;
    }
    g->starts_capacity = starts_capacity > (size_t)g->count + 1 ? starts_capacity
                                                                : (size_t)g->count + 1;
    g->out_start[g->count] = (uint32_t)g->nedges;
    return 0;
}

/* The reverse rows, by counting sort of the forward edges. */
static int
build_reverse(lt_graph *g)
{
    size_t n = g->count;
    g->in_start = lt_graph_alloc(g, (n + 1) * sizeof(uint32_t));
    g->in_edges = lt_graph_alloc(g, (g->nedges ? g->nedges : 1) * sizeof(uint32_t));
    if (!g->in_start || !g->in_edges) {
        return -1;
    }
    memset(g->in_start, 0, (n + 1) * sizeof(uint32_t));
    for (size_t e = 0; e < g->nedges; e++) {
        g->in_start[g->out_edges[e] + 1]++;
    }
    for (size_t i = 0; i < n; i++) {
        g->in_start[i + 1] += g->in_start[i];
    }
    /* Fill using the starts as cursors, then shift them back. */
    for (uint32_t from = 0; from < n; from++) {
        for (uint32_t e = g->out_start[from]; e < g->out_start[from + 1]; e++) {
            g->in_edges[g->in_start[g->out_edges[e]]++] = from;
        }
    }
    for (size_t i = n; i > 0; i--) {
        g->in_start[i] = g->in_start[i - 1];
    }
    g->in_start[0] = 0;
    return 0;
}

int
lt_graph_discount(lt_graph *g, PyObject *op)
{
    uint32_t index = intern_object(g, op);
    if (index == LT_GRAPH_NONE) {
        return -1;
    }
    if (g->ndiscounts == g->discounts_capacity) {
        size_t cap = g->discounts_capacity ? (size_t)g->discounts_capacity * 2 : 64;
        if (grow_array(g, (void **)&g->discounts, g->ndiscounts, cap, sizeof(uint32_t)) < 0) {
            return -1;
        }
        g->discounts_capacity = (uint32_t)cap;
    }
    g->discounts[g->ndiscounts++] = index;
    g->flags[index] |= LT_NODE_DISCOUNTED;
    return 0;
}

/* A listed object whose reference count exceeds the references from other
 * listed objects is held from outside: by C code, a running frame (3.11+),
 * or an object the collector does not track. That is the test the collector
 * itself makes before deciding what is garbage. */
static void
mark_external(lt_graph *g)
{
    for (uint32_t i = 0; i < g->count; i++) {
        if (!(g->flags[i] & LT_NODE_GC_LISTED)) {
            continue;
        }
        Py_ssize_t internal = 0;
        for (uint32_t e = g->in_start[i]; e < g->in_start[i + 1]; e++) {
            internal += (g->flags[g->in_edges[e]] & LT_NODE_GC_LISTED) != 0;
        }
        for (uint32_t k = 0; (g->flags[i] & LT_NODE_DISCOUNTED) && k < g->ndiscounts; k++) {
            internal += g->discounts[k] == i;
        }
        if (Py_REFCNT(g->objects[i]) > internal) {
            g->flags[i] |= LT_NODE_EXTERNAL;
        }
    }
}

static uint64_t
estimated_size(PyObject *op)
{
    PyTypeObject *type = Py_TYPE(op);
    uint64_t size = (uint64_t)type->tp_basicsize + lt_compat_preheader_size(type);
    if (PyLong_Check(op)) {
        /* 3.12+ ints keep a tag where ob_size was: count digits instead. */
        size += ((_PyLong_NumBits(op) + PyLong_SHIFT - 1) / PyLong_SHIFT) * sizeof(digit);
    }
    else if (PyUnicode_Check(op) && PyUnicode_IS_COMPACT(op)) {
        size += ((uint64_t)PyUnicode_GET_LENGTH(op) + 1) * PyUnicode_KIND(op);
    }
    else if (type->tp_itemsize) {
        Py_ssize_t n = Py_SIZE(op);
        size += (uint64_t)(n < 0 ? -n : n) * (uint64_t)type->tp_itemsize;
    }
    return size;
}

/* The separately allocated buffer an object owns (a list's items, a dict's
 * table, a set's table), with an estimate of its size, or NULL. */
static const void *
owned_buffer(PyObject *op, uint64_t *estimate)
{
    *estimate = 0;
    if (PyList_Check(op)) {
        PyListObject *list = (PyListObject *)op;
        *estimate = (uint64_t)list->allocated * sizeof(PyObject *);
        return list->ob_item;
    }
    if (PyDict_Check(op)) {
        PyDictObject *dict = (PyDictObject *)op;
        /* Split tables share their keys with other instances: only the
         * values belong to this dict. */
        return dict->ma_values ? (const void *)dict->ma_values : (const void *)dict->ma_keys;
    }
    if (PyAnySet_Check(op)) {
        PySetObject *set = (PySetObject *)op;
        if (set->table != set->smalltable) {
            *estimate = ((uint64_t)set->mask + 1) * sizeof(setentry);
            return set->table;
        }
    }
    return NULL;
}

const void *
lt_graph_buffer(PyObject *op)
{
    uint64_t estimate;
    return owned_buffer(op, &estimate);
}

uint32_t
lt_graph_buffer_site(PyObject *op)
{
    uint64_t size, estimate;
    uint32_t node;
    const void *buffer = owned_buffer(op, &estimate);
    return buffer && lt_tracker_block(buffer, &size, &node) ? node : LT_GRAPH_NONE;
}

static uint64_t
owned_buffers(PyObject *op, int tracking)
{
    uint64_t size, estimate;
    uint32_t node;
    const void *buffer = owned_buffer(op, &estimate);
    if (buffer && tracking && lt_tracker_block(buffer, &size, &node)) {
        return size;
    }
    return estimate;
}

static int
measure(lt_graph *g)
{
    int tracking = lt_tracker_has_data();
    g->sizes = lt_graph_alloc(g, (size_t)g->count * sizeof(uint32_t) + 1);
    if (!g->sizes) {
        return -1;
    }
    if (tracking) {
        g->sites = lt_graph_alloc(g, (size_t)g->count * sizeof(uint32_t) + 1);
        if (!g->sites) {
            return -1;
        }
    }
    for (uint32_t i = 0; i < g->count; i++) {
        PyObject *op = g->objects[i];
        uint64_t size;
        uint32_t node;
        if (tracking && lt_tracker_block(lt_compat_alloc_start(op), &size, &node)) {
            g->sites[i] = node;
        }
        else {
            size = estimated_size(op);
            if (tracking) {
                g->sites[i] = LT_GRAPH_NONE;
            }
        }
        size += owned_buffers(op, tracking);
        g->sizes[i] = size > UINT32_MAX ? UINT32_MAX : (uint32_t)size;
    }
    return 0;
}

/* Cuts an array of capacity old_n down to n elements. */
static int
shrink_array(lt_graph *g, void **array, size_t old_n, size_t n, size_t elsize)
{
    void *exact = lt_graph_alloc(g, n * elsize);
    if (!exact) {
        return -1;
    }
    memcpy(exact, *array, n * elsize);
    lt_graph_free(g, *array, old_n * elsize);
    *array = exact;
    return 0;
}

/* The arrays grew by doubling; from now on they only take space. Objects and
 * flags share one capacity, so both are replaced or neither. */
static int
shrink(lt_graph *g)
{
    size_t n = g->count;
    PyObject **objects = lt_graph_alloc(g, n * sizeof(PyObject *));
    uint8_t *flags = lt_graph_alloc(g, n);
    if (!objects || !flags) {
        lt_graph_free(g, objects, n * sizeof(PyObject *));
        lt_graph_free(g, flags, n);
        return -1;
    }
    memcpy(objects, g->objects, n * sizeof(PyObject *));
    memcpy(flags, g->flags, n);
    lt_graph_free(g, g->objects, (size_t)g->capacity * sizeof(PyObject *));
    lt_graph_free(g, g->flags, g->capacity);
    g->objects = objects;
    g->flags = flags;
    g->capacity = (uint32_t)n;
    if (shrink_array(g, (void **)&g->out_start, g->starts_capacity, n + 1, sizeof(uint32_t)) < 0) {
        return -1;
    }
    g->starts_capacity = n + 1;
    if (shrink_array(g, (void **)&g->out_edges, g->edges_capacity, g->nedges, sizeof(uint32_t)) <
        0) {
        return -1;
    }
    g->edges_capacity = g->nedges;
    return 0;
}

void
lt_graph_release_map(lt_graph *g)
{
    lt_graph_free(g, g->map, g->map ? (g->map_mask + 1) * sizeof(uint64_t) : 0);
    g->map = NULL;
}

int
lt_graph_finish(lt_graph *g)
{
    if (build_forward(g) < 0 || shrink(g) < 0 || build_reverse(g) < 0 || measure(g) < 0) {
        return -1;
    }
    mark_external(g);
    g->finished = 1;
    return 0;
}

void
lt_graph_destroy(lt_graph *g)
{
    lt_graph_free(g, g->objects, (size_t)g->capacity * sizeof(PyObject *));
    lt_graph_free(g, g->flags, g->capacity);
    lt_graph_free(g, g->sizes, (size_t)g->count * sizeof(uint32_t) + 1);
    lt_graph_free(g, g->sites, (size_t)g->count * sizeof(uint32_t) + 1);
    lt_graph_free(g, g->out_start, g->starts_capacity * sizeof(uint32_t));
    lt_graph_free(g, g->out_edges, g->edges_capacity * sizeof(uint32_t));
    lt_graph_free(g, g->in_start, ((size_t)g->count + 1) * sizeof(uint32_t));
    lt_graph_free(g, g->in_edges, (g->nedges ? g->nedges : 1) * sizeof(uint32_t));
    lt_graph_release_map(g);
    lt_graph_free(g, g->discounts, (size_t)g->discounts_capacity * sizeof(uint32_t));
    memset(g, 0, sizeof(*g));
}

int
lt_graph_collector_running(void)
{
    return lt_compat_gc_collecting();
}
