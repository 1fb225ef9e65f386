/* lt_retain.c - see lt_retain.h: the roots, the search from them, and the
 * lifetime of an lt_retain. */
#include "compat/lt_compat.h"

#include "heap/lt_retain.h"

#include <string.h>
#include <time.h>

#include "heap/lt_edges.h"
#include "heap/lt_retain_internal.h"

uint64_t
lt_retain_now_ns(void)
{
    struct timespec ts;
    clock_gettime(CLOCK_MONOTONIC, &ts);
    return (uint64_t)ts.tv_sec * 1000000000ull + (uint64_t)ts.tv_nsec;
}

/* ---- roots ---- */

/* gc.garbage, where the collector puts what it could not free, or NULL. */
static PyObject *
uncollectable_list(void)
{
    PyObject *modules = PyImport_GetModuleDict();
    PyObject *gc = modules && PyDict_Check(modules) ? lt_edges_str_entry(modules, "gc") : NULL;
    PyObject *list = gc && PyModule_Check(gc) ? lt_edges_str_entry(PyModule_GetDict(gc), "garbage")
                                              : NULL;
    return list && PyList_CheckExact(list) ? list : NULL;
}

static int
add_root(lt_retain *r, PyObject *obj, lt_root_kind kind, int tier, PyObject *name, PyObject *local,
         int line)
{
    if (!obj) {
        return 0;
    }
    uint32_t node = lt_graph_add(&r->graph, obj);
    if (node == LT_GRAPH_NONE) {
        return r->graph.finished ? 0 : -1;
    }
    if (r->nroots == r->roots_capacity) {
        size_t old = r->roots_capacity, cap = old ? old * 2 : 256;
        lt_root *bigger = lt_graph_alloc(&r->graph, cap * sizeof(lt_root));
        if (!bigger) {
            return -1;
        }
        if (old) {
            memcpy(bigger, r->roots, old * sizeof(lt_root));
        }
        lt_graph_free(&r->graph, r->roots, old * sizeof(lt_root));
        r->roots = bigger;
        r->roots_capacity = (uint32_t)cap;
    }
    r->roots[r->nroots++] = (lt_root){node, (uint8_t)kind, (uint8_t)tier, line, name, local};
    return 0;
}

static int
add_module_roots(lt_retain *r)
{
    PyObject *modules = PyImport_GetModuleDict();
    if (!modules || !PyDict_Check(modules)) {
        return 0;
    }
    Py_ssize_t pos = 0;
    PyObject *key, *value;
    while (PyDict_Next(modules, &pos, &key, &value)) {
        if (!PyUnicode_CheckExact(key)) {
            continue;
        }
        PyObject *target = PyModule_Check(value) ? PyModule_GetDict(value) : value;
        if (add_root(r, target, LT_ROOT_MODULE, 0, key, NULL, 0) < 0) {
            return -1;
        }
    }
    return 0;
}

static int
add_frame_roots(lt_retain *r, lt_pyframe *frame, int tier)
{
    PyCodeObject *code = lt_compat_frame_code(frame);
    if (!code || lt_compat_frame_incomplete(frame)) {
        return 0;
    }
    int offset = lt_compat_byte_offset(code, lt_compat_frame_position(frame));
    int line = offset >= 0 ? PyCode_Addr2Line(code, offset) : code->co_firstlineno;
    Py_ssize_t count;
    PyObject **locals = lt_compat_frame_locals(frame, code, &count);
    for (Py_ssize_t i = 0; i < count; i++) {
        if (!locals[i]) {
            continue;
        }
        if (add_root(r, locals[i], LT_ROOT_FRAME, tier, (PyObject *)code,
                     lt_compat_local_name(code, i), line) < 0) {
            return -1;
        }
        /* The caller's own references do not make an object held from
         * outside: cyclic garbage passed to why() stays garbage. */
        if (tier == 1 && lt_graph_discount(&r->graph, locals[i]) < 0) {
            return -1;
        }
    }
    return 0;
}

static int
add_thread_roots(lt_retain *r, int caller_frames)
{
    PyThreadState *self = lt_compat_gil_tstate();
    PyInterpreterState *interp = PyInterpreterState_Get();
    for (PyThreadState *ts = PyInterpreterState_ThreadHead(interp); ts;
         ts = PyThreadState_Next(ts)) {
        int depth = 0;
        for (lt_pyframe *f = lt_compat_top_frame(ts); f; f = lt_compat_previous_frame(f)) {
            int demoted = ts == self && (caller_frames < 0 || depth < caller_frames);
            if (add_frame_roots(r, f, demoted ? 1 : 0) < 0) {
                return -1;
            }
            depth += lt_compat_frame_code(f) != NULL;
        }
        PyObject *exc = lt_compat_handled_exception(ts);
        if (exc && exc != Py_None && add_root(r, exc, LT_ROOT_EXCEPTION, 0, NULL, NULL, 0) < 0) {
            return -1;
        }
    }
    return 0;
}

static int
add_class_roots(lt_retain *r)
{
    lt_graph *g = &r->graph;
    for (uint32_t i = 0; i < g->count; i++) {
        PyObject *op = g->objects[i];
        if (PyType_Check(op) && (((PyTypeObject *)op)->tp_flags & Py_TPFLAGS_HEAPTYPE)) {
            PyObject *dict = lt_compat_type_dict((PyTypeObject *)op);
            if (dict && add_root(r, dict, LT_ROOT_CLASS, 0, op, NULL, 0) < 0) {
                return -1;
            }
        }
    }
    return 0;
}

/* ---- the search ---- */

static void
bfs_run(lt_retain *r, uint32_t *queue, size_t head, size_t tail)
{
    lt_graph *g = &r->graph;
    while (head < tail) {
        uint32_t u = queue[head++];
        uint8_t from = g->flags[u] & (FROM_ROOT | FROM_EXTERNAL | FROM_CALLER);
        for (uint32_t e = g->out_start[u]; e < g->out_start[u + 1]; e++) {
            uint32_t v = g->out_edges[e];
            if (r->via[v] == LT_GRAPH_NONE) {
                r->via[v] = u;
                g->flags[v] |= from;
                queue[tail++] = v;
            }
        }
    }
}

static int
search(lt_retain *r, uint32_t ignore, uint32_t uncollectable)
{
    lt_graph *g = &r->graph;
    size_t n = g->count;
    r->via = lt_graph_alloc(g, n * sizeof(uint32_t) + 1);
    uint32_t *queue = lt_graph_alloc(g, n * sizeof(uint32_t) + 1);
    if (!r->via || !queue) {
        lt_graph_free(g, queue, n * sizeof(uint32_t) + 1);
        return -1;
    }
    memset(r->via, 0xff, n * sizeof(uint32_t));
    /* Visited but never expanded: the caller's container of objects to look
     * at, and gc.garbage, whose uncollectable objects are to be reported as
     * the cycles they are, not as held by the gc module. */
    if (ignore != LT_GRAPH_NONE) {
        r->via[ignore] = IGNORED_MARK(r);
        g->flags[ignore] |= FROM_CALLER;
    }
    if (uncollectable != LT_GRAPH_NONE) {
        r->via[uncollectable] = IGNORED_MARK(r);
        g->flags[uncollectable] |= FROM_ROOT;
    }
    size_t tail = 0;
    for (int tier = 0; tier < 2; tier++) {
        size_t head = tail;
        for (uint32_t j = 0; j < r->nroots; j++) {
            /* Tier 1 holds the caller's frames, innermost first: the
             * outermost of them (the code that asked) is seeded first. */
            uint32_t k = tier == 1 ? r->nroots - 1 - j : j;
            uint32_t u = r->roots[k].node;
            if (r->roots[k].tier == tier && r->via[u] == LT_GRAPH_NONE) {
                r->via[u] = g->count + k;
                g->flags[u] |= (tier == 0 ? FROM_ROOT : FROM_CALLER) | SEED;
                queue[tail++] = u;
            }
        }
        bfs_run(r, queue, head, tail);
        tail = 0;
    }
    for (uint32_t u = 0; u < n; u++) {
        if ((g->flags[u] & LT_NODE_EXTERNAL) && r->via[u] == LT_GRAPH_NONE) {
            r->via[u] = EXTERNAL_MARK(r);
            g->flags[u] |= FROM_EXTERNAL | SEED;
            queue[0] = u;
            bfs_run(r, queue, 0, 1);
        }
    }
    lt_graph_free(g, queue, n * sizeof(uint32_t) + 1);
    return 0;
}

int
lt_retain_build(lt_retain *r, int caller_frames, PyObject *ignore)
{
    memset(r, 0, sizeof(*r));
    uint64_t start = lt_retain_now_ns();
    if (lt_graph_begin(&r->graph) < 0 || add_module_roots(r) < 0 ||
        add_thread_roots(r, caller_frames) < 0 || lt_graph_finish(&r->graph) < 0 ||
        add_class_roots(r) < 0 || lt_owners_find(&r->owners, &r->graph) < 0) {
        return -1;
    }
    uint32_t ignored = ignore ? lt_graph_find(&r->graph, ignore) : LT_GRAPH_NONE;
    PyObject *gc_garbage = uncollectable_list();
    uint32_t uncollectable = gc_garbage ? lt_graph_find(&r->graph, gc_garbage) : LT_GRAPH_NONE;
    lt_graph_release_map(&r->graph);
    /* via[] holds root ids above count. */
    if ((uint64_t)r->graph.count + r->nroots + 2 >= LT_GRAPH_NONE) {
        return -1;
    }
    if (search(r, ignored, uncollectable) < 0) {
        return -1;
    }
    r->duration_ns = lt_retain_now_ns() - start;
    return 0;
}

void
lt_retain_destroy(lt_retain *r)
{
    lt_graph *g = &r->graph;
    size_t n = g->count;
    lt_graph_free(g, r->roots, (size_t)r->roots_capacity * sizeof(lt_root));
    lt_graph_free(g, r->via, n * sizeof(uint32_t) + 1);
    lt_graph_free(g, r->idom, (n + 1) * sizeof(uint32_t));
    lt_graph_free(g, r->postorder, n * sizeof(uint32_t) + 1);
    lt_graph_free(g, r->retained, (n + 1) * sizeof(uint64_t));
    lt_owners_destroy(&r->owners, g);
    lt_graph_destroy(g);
    memset(r, 0, sizeof(*r));
}
