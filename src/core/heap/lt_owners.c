/* lt_owners.c - see lt_owners.h. */
#include "compat/lt_compat.h"

#include "heap/lt_owners.h"

#include <stdlib.h>
#include <string.h>
#include <time.h>
#include <unistd.h>

#include "record/lt_tracker.h"

/* owner of a block that is a graph object's own memory or a buffer counted
 * with it: not native, dropped before the scan. */
#define OBJECT_MARK (LT_GRAPH_NONE - 1)

static uint64_t
now_ns(void)
{
    struct timespec ts;
    clock_gettime(CLOCK_MONOTONIC, &ts);
    return (uint64_t)ts.tv_sec * 1000000000ull + (uint64_t)ts.tv_nsec;
}

static int
compare_blocks(const void *x, const void *y)
{
    const lt_live_block *a = x, *b = y;
    return a->addr < b->addr ? -1 : a->addr > b->addr;
}

/* The index of the last block starting at or below addr, or n when none. */
static size_t
last_at_or_below(const lt_live_block *blocks, size_t n, uintptr_t addr)
{
    size_t lo = 0, hi = n;
    while (lo < hi) {
        size_t mid = lo + (hi - lo) / 2;
        if (blocks[mid].addr <= addr) {
            lo = mid + 1;
        }
        else {
            hi = mid;
        }
    }
    return lo ? lo - 1 : n;
}

static void
mark_object_block(lt_live_block *blocks, uint32_t *marks, size_t n, const void *start)
{
    size_t k = last_at_or_below(blocks, n, (uintptr_t)start);
    if (k < n && blocks[k].addr == (uintptr_t)start) {
        marks[k] = OBJECT_MARK;
    }
}

/* Objects whose fixed part holds no pointer but to other objects, and whose
 * variable part is data, and the interpreter's frames, code objects,
 * functions and generators, whose fixed parts hold only objects, ints and
 * the interpreter's own memory (3.10's frames keep stale words in their
 * unused block stack, which named false owners of an lxml tree): not read. */
static int
holds_no_native_pointer(PyTypeObject *type)
{
    return type == &PyUnicode_Type || type == &PyBytes_Type || type == &PyLong_Type ||
           type == &PyFloat_Type || type == &PyTuple_Type || type == &PyBool_Type ||
           type == &PyComplex_Type || type == &PyFrame_Type || type == &PyCode_Type ||
           type == &PyFunction_Type || type == &PyGen_Type || type == &PyCoro_Type ||
           type == &PyAsyncGen_Type;
}

typedef struct {
    lt_owners *o;
    uintptr_t lo, hi; /* the blocks' address range */
    uint32_t *queue;
    uint32_t tail;
} scan_state;

static void
scan_words(scan_state *s, const uintptr_t *words, size_t nwords, uint32_t owner)
{
    lt_native_block *blocks = s->o->blocks;
    size_t n = s->o->nblocks;
    for (size_t i = 0; i < nwords; i++) {
        uintptr_t w = words[i];
        if (w < s->lo || w >= s->hi) {
            continue;
        }
        size_t lo = 0, hi = n;
        while (lo < hi) {
            size_t mid = lo + (hi - lo) / 2;
            if (blocks[mid].addr <= w) {
                lo = mid + 1;
            }
            else {
                hi = mid;
            }
        }
        if (!lo) {
            continue;
        }
        lt_native_block *b = &blocks[lo - 1];
        if (w - b->addr < b->size && b->owner == LT_GRAPH_NONE) {
            b->owner = owner;
            s->queue[s->tail++] = (uint32_t)(lo - 1);
        }
    }
}

/* The tracker's blocks that are not objects of the graph nor buffers counted
 * with them, by address, into o->blocks. */
static int
collect_blocks(lt_owners *o, lt_graph *g)
{
    lt_tracker_stats stats;
    lt_tracker_get_stats(&stats);
    size_t max = stats.heap_count + 1024;
    if (max > LT_OWNERS_MAX_BLOCKS) {
        max = LT_OWNERS_MAX_BLOCKS;
    }
    lt_live_block *raw = lt_graph_alloc(g, max * sizeof(lt_live_block));
    uint32_t *marks = lt_graph_alloc(g, max * sizeof(uint32_t));
    int result = -1;
    if (!raw || !marks) {
        goto done;
    }
    size_t n = lt_tracker_blocks(LT_OWNERS_MIN_BLOCK, raw, max);
    o->truncated = n == max;
    qsort(raw, n, sizeof(lt_live_block), compare_blocks);
    memset(marks, 0, n * sizeof(uint32_t));
    for (size_t k = 1; k < n; k++) {
        if (raw[k].addr == raw[k - 1].addr) {
            marks[k] = OBJECT_MARK; /* seen twice by a walk under churn */
        }
    }
    for (uint32_t i = 0; i < g->count; i++) {
        PyObject *op = g->objects[i];
        mark_object_block(raw, marks, n, lt_compat_alloc_start(op));
        const void *buffer = lt_graph_buffer(op);
        if (buffer) {
            mark_object_block(raw, marks, n, buffer);
        }
    }
    size_t native = 0;
    for (size_t k = 0; k < n; k++) {
        native += marks[k] != OBJECT_MARK;
    }
    o->blocks = lt_graph_alloc(g, native * sizeof(lt_native_block) + 1);
    if (!o->blocks) {
        goto done;
    }
    for (size_t k = 0; k < n; k++) {
        if (marks[k] != OBJECT_MARK) {
            o->blocks[o->nblocks++] = (lt_native_block){raw[k].addr, raw[k].size, raw[k].node,
                                                        LT_GRAPH_NONE};
        }
    }
    result = 0;
done:
    lt_graph_free(g, raw, max * sizeof(lt_live_block));
    lt_graph_free(g, marks, max * sizeof(uint32_t));
    return result;
}

/* Breadth-first through the blocks found: each one read (when small and not
 * whole pages) gives its owner to the blocks it points to. */
static void
follow_blocks(scan_state *s)
{
    lt_owners *o = s->o;
    size_t page = (size_t)sysconf(_SC_PAGESIZE);
    uintptr_t words[LT_OWNERS_MAX_READ / sizeof(uintptr_t)];
    for (uint32_t head = 0; head < s->tail; head++) {
        const lt_native_block *b = &o->blocks[s->queue[head]];
        /* Whole pages at a page boundary may be a mapping (mmap is tracked
         * too), which another thread could unmap: only heap blocks are read. */
        if (b->size > LT_OWNERS_MAX_READ || ((b->addr | b->size) & (page - 1)) == 0) {
            continue;
        }
        if (o->read_bytes + b->size > LT_OWNERS_READ_BUDGET) {
            o->truncated = 1;
            return;
        }
        size_t got = lt_tracker_read_block(b->addr, words, (size_t)b->size);
        o->read_bytes += got;
        scan_words(s, words, got / sizeof(uintptr_t), b->owner);
    }
}

int
lt_owners_find(lt_owners *o, lt_graph *g)
{
    memset(o, 0, sizeof(*o));
    if (!g->sites) {
        return 0;
    }
    uint64_t start = now_ns();
    scan_state s = {o, UINTPTR_MAX, 0, NULL, 0};
    if (collect_blocks(o, g) < 0) {
        goto error;
    }
    if (!o->nblocks) {
        lt_owners_destroy(o, g);
        return 0;
    }
    o->native = lt_graph_alloc(g, (size_t)g->count * sizeof(uint64_t) + 1);
    s.queue = lt_graph_alloc(g, (size_t)o->nblocks * sizeof(uint32_t));
    if (!o->native || !s.queue) {
        goto error;
    }
    memset(o->native, 0, (size_t)g->count * sizeof(uint64_t));
    s.lo = o->blocks[0].addr;
    for (uint32_t k = 0; k < o->nblocks; k++) {
        uintptr_t end = o->blocks[k].addr + o->blocks[k].size;
        s.hi = end > s.hi ? end : s.hi;
    }
    for (uint32_t i = 0; i < g->count; i++) {
        PyObject *op = g->objects[i];
        PyTypeObject *type = Py_TYPE(op);
        if (holds_no_native_pointer(type)) {
            continue;
        }
        size_t size = (size_t)type->tp_basicsize;
        if (PyType_Check(op) && !(((PyTypeObject *)op)->tp_flags & Py_TPFLAGS_HEAPTYPE)) {
            /* A static type is a PyTypeObject, not the heap type its
             * metatype's size describes: what follows it is other data. */
            size = sizeof(PyTypeObject);
        }
        if (size > LT_OWNERS_MAX_OBJECT_BYTES) {
            size = LT_OWNERS_MAX_OBJECT_BYTES;
        }
        if (size > sizeof(PyObject)) {
            const uintptr_t *words = (const uintptr_t *)((const char *)op + sizeof(PyObject));
            scan_words(&s, words, (size - sizeof(PyObject)) / sizeof(uintptr_t), i);
        }
    }
    follow_blocks(&s);
    for (uint32_t k = 0; k < o->nblocks; k++) {
        const lt_native_block *b = &o->blocks[k];
        if (b->owner != LT_GRAPH_NONE) {
            o->native[b->owner] += b->size;
            o->owned_bytes += b->size;
        }
        else {
            o->unowned_bytes += b->size;
        }
    }
    lt_graph_free(g, s.queue, (size_t)o->nblocks * sizeof(uint32_t));
    o->duration_ns = now_ns() - start;
    return 0;
error:
    lt_graph_free(g, s.queue, (size_t)o->nblocks * sizeof(uint32_t));
    lt_owners_destroy(o, g);
    return -1;
}

void
lt_owners_destroy(lt_owners *o, lt_graph *g)
{
    lt_graph_free(g, o->blocks, (size_t)o->nblocks * sizeof(lt_native_block) + 1);
    lt_graph_free(g, o->native, o->native ? (size_t)g->count * sizeof(uint64_t) + 1 : 0);
    memset(o, 0, sizeof(*o));
}
