/* lt_retain.c - see lt_retain.h. */
#include "compat/lt_compat.h"

#include "heap/lt_retain.h"

#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

#include "heap/lt_edges.h"
#include "record/lt_tracker.h"

/* Flags of the analysis, above lt_graph's own. */
enum {
    FROM_ROOT = 4,     /* reached from a named root */
    FROM_EXTERNAL = 8, /* reached only from an object held from outside */
    SEED = 16,         /* joined to the super-root */
    FROM_CALLER = 32,  /* reached only from the caller's own frames (tier 1) */
    SEEN = 64,         /* visited by the depth-first search of the dominators */
};

/* via[i] for a node the search reached: its parent, below count; a root's own
 * node: count + root id; an object held from outside: EXTERNAL_MARK(g). */
#define EXTERNAL_MARK(r) ((r)->graph.count + (r)->nroots)
#define IGNORED_MARK(r) (EXTERNAL_MARK(r) + 1)

static uint64_t
now_ns(void)
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
    PyObject *list = gc && PyModule_Check(gc) ? lt_edges_str_entry(PyModule_GetDict(gc), "garbage") : NULL;
    return list && PyList_CheckExact(list) ? list : NULL;
}

static int
add_root(lt_retain *r, PyObject *obj, lt_root_kind kind, int tier, PyObject *name,
         PyObject *local, int line)
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
    uint64_t start = now_ns();
    if (lt_graph_begin(&r->graph) < 0 || add_module_roots(r) < 0 ||
        add_thread_roots(r, caller_frames) < 0 || lt_graph_finish(&r->graph) < 0 ||
        add_class_roots(r) < 0) {
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
    r->duration_ns = now_ns() - start;
    return 0;
}

/* ---- dominators ---- */

static uint32_t
intersect(const lt_retain *r, const uint32_t *rpo, uint32_t a, uint32_t b)
{
    while (a != b) {
        while (rpo[a] > rpo[b]) {
            a = r->idom[a];
        }
        while (rpo[b] > rpo[a]) {
            b = r->idom[b];
        }
    }
    return a;
}

/* Depth-first from the super-root: roots by tier, then objects held from
 * outside, then whatever is left (cycle entries), each joined to the
 * super-root. Fills r->postorder; cursor is scratch of count entries. */
static void
depth_first(lt_retain *r, uint32_t *stack, uint32_t *cursor)
{
    lt_graph *g = &r->graph;
    size_t npost = 0;
    for (int pass = 0; pass < 4; pass++) {
        uint32_t limit = pass < 2 ? r->nroots : g->count;
        for (uint32_t k = 0; k < limit; k++) {
            uint32_t s;
            if (pass < 2) {
                if (r->roots[k].tier != pass) {
                    continue;
                }
                s = r->roots[k].node;
            }
            else {
                s = k;
                if (pass == 2 && !(g->flags[s] & FROM_EXTERNAL)) {
                    continue;
                }
            }
            if (g->flags[s] & SEEN) {
                continue;
            }
            g->flags[s] |= SEED | SEEN;
            size_t top = 0;
            stack[top++] = s;
            cursor[s] = g->out_start[s];
            while (top) {
                uint32_t u = stack[top - 1];
                if (cursor[u] < g->out_start[u + 1]) {
                    uint32_t v = g->out_edges[cursor[u]++];
                    if (!(g->flags[v] & SEEN)) {
                        g->flags[v] |= SEEN;
                        cursor[v] = g->out_start[v];
                        stack[top++] = v;
                    }
                }
                else {
                    top--;
                    r->postorder[npost++] = u;
                }
            }
        }
    }
}

int
lt_retain_dominators(lt_retain *r)
{
    lt_graph *g = &r->graph;
    size_t n = g->count;
    uint32_t super = (uint32_t)n;
    if (r->idom) {
        return 0;
    }
    r->idom = lt_graph_alloc(g, (n + 1) * sizeof(uint32_t));
    r->postorder = lt_graph_alloc(g, n * sizeof(uint32_t) + 1);
    r->retained = lt_graph_alloc(g, (n + 1) * sizeof(uint64_t));
    if (!r->idom || !r->postorder || !r->retained) {
        return -1;
    }
    /* Until the sizes are summed, retained's memory serves as the DFS stack,
     * then as the reverse post-order numbers (2n + 2 uint32 of room); idom
     * doubles as the DFS edge cursor. */
    uint32_t *scratch = (uint32_t *)r->retained;
    depth_first(r, scratch, r->idom);
    uint32_t *rpo = scratch;
    for (size_t i = 0; i < n; i++) {
        rpo[r->postorder[i]] = (uint32_t)(n - i);
    }
    rpo[super] = 0;
    memset(r->idom, 0xff, (n + 1) * sizeof(uint32_t));
    r->idom[super] = super;
    for (int changed = 1; changed;) {
        changed = 0;
        for (size_t k = n; k-- > 0;) {
            uint32_t b = r->postorder[k];
            uint32_t best = (g->flags[b] & SEED) ? super : LT_GRAPH_NONE;
            for (uint32_t e = g->in_start[b]; e < g->in_start[b + 1] && best != super; e++) {
                uint32_t p = g->in_edges[e];
                if (r->idom[p] == LT_GRAPH_NONE) {
                    continue;
                }
                best = best == LT_GRAPH_NONE ? p : intersect(r, rpo, p, best);
            }
            if (best != LT_GRAPH_NONE && r->idom[b] != best) {
                r->idom[b] = best;
                changed = 1;
            }
        }
    }
    for (size_t i = 0; i < n; i++) {
        r->retained[i] = g->sizes[i];
    }
    for (size_t i = 0; i < n; i++) {
        uint32_t u = r->postorder[i];
        if (r->idom[u] != super) {
            r->retained[r->idom[u]] += r->retained[u];
        }
    }
    return 0;
}

static void
root_text(const lt_retain *r, uint32_t root, char *buf, size_t size)
{
    const lt_root *rt = &r->roots[root];
    size_t len = 0, len2 = 0;
    const char *a;
    switch (rt->kind) {
    case LT_ROOT_MODULE:
        a = lt_edges_str_text(rt->name, &len);
        snprintf(buf, size, "%.*s", (int)len, a ? a : "?");
        break;
    case LT_ROOT_CLASS: {
        PyTypeObject *t = (PyTypeObject *)rt->name;
        PyObject *dict = lt_compat_type_dict(t);
        PyObject *module = dict ? lt_edges_str_entry(dict, "__module__") : NULL;
        const char *m = lt_edges_str_text(module, &len2);
        a = lt_edges_type_name(t, &len);
        snprintf(buf, size, "%.*s%s%.*s", (int)len2, m ? m : "", m ? "." : "", (int)len, a);
        break;
    }
    case LT_ROOT_FRAME: {
        PyCodeObject *code = (PyCodeObject *)rt->name;
        a = lt_edges_str_text(lt_compat_code_name(code), &len);
        const char *file = lt_edges_str_text(code->co_filename, &len2);
        snprintf(buf, size, "%.*s (%.*s:%d)", (int)len, a ? a : "?", (int)len2,
                 file ? file : "?", rt->line);
        break;
    }
    default:
        snprintf(buf, size, "sys.exc_info()");
        break;
    }
}

/* The chain of objects from the search's root to node, root first, in
 * chain[0..] (at most cap); returns its length (0 when cap is too small). */
static size_t
chain_to(const lt_retain *r, uint32_t node, uint32_t *ids, size_t cap)
{
    size_t n = 0;
    uint32_t u = node;
    while (n < cap) {
        ids[n++] = u;
        if (r->via[u] >= r->graph.count) {
            break;
        }
        u = r->via[u];
    }
    if (r->via[u] < r->graph.count) {
        return 0;
    }
    for (size_t a = 0, b = n - 1; a < b; a++, b--) {
        uint32_t t = ids[a];
        ids[a] = ids[b];
        ids[b] = t;
    }
    return n;
}

/* Encodes the path to node; extra, when not LT_GRAPH_NONE, is appended as one
 * more hop (a path to a referrer, then the reference to node). */
static int
encode_path(lt_retain *r, uint32_t node, uint32_t extra, lt_bytes *out)
{
    lt_graph *g = &r->graph;
    size_t cap = 1024;
    uint32_t *ids = NULL;
    PyObject **chain = NULL;
    size_t n = 0;
    for (;; cap *= 4) {
        ids = lt_graph_alloc(g, (cap + 1) * sizeof(uint32_t));
        if (!ids) {
            return -1;
        }
        if (r->via[node] == LT_GRAPH_NONE || (n = chain_to(r, node, ids, cap)) != 0) {
            break;
        }
        lt_graph_free(g, ids, (cap + 1) * sizeof(uint32_t));
    }
    uint32_t last = extra != LT_GRAPH_NONE ? extra : node;
    uint64_t retained = r->retained ? r->retained[last] : 0;
    char buf[LT_MAX_PATH_TEXT];
    int result = -1;
    if (n == 0) {
        lt_edges_encode_head(out, LT_ROOT_GARBAGE, "unreachable cyclic garbage", 26, g->objects[last],
                    g->sizes[last], retained);
        lt_bytes_varint(out, 0);
        result = 0;
        goto done;
    }
    if (extra != LT_GRAPH_NONE) {
        ids[n++] = extra;
    }
    chain = lt_graph_alloc(g, n * sizeof(PyObject *));
    if (!chain) {
        goto done;
    }
    for (size_t i = 0; i < n; i++) {
        chain[i] = g->objects[ids[i]];
    }
    uint32_t seed_mark = r->via[ids[0]];
    int namespace_root = 0;
    const char *local = NULL;
    size_t local_len = 0;
    if (seed_mark >= EXTERNAL_MARK(r)) {
        size_t len;
        const char *tn = lt_edges_type_name(Py_TYPE(chain[0]), &len);
        lt_edges_encode_head(out, LT_ROOT_EXTERNAL, tn, len, chain[n - 1], g->sizes[last], retained);
    }
    else {
        const lt_root *rt = &r->roots[seed_mark - g->count];
        root_text(r, seed_mark - g->count, buf, sizeof(buf));
        lt_edges_encode_head(out, (lt_root_kind)rt->kind, buf, strlen(buf), chain[n - 1],
                    g->sizes[last], retained);
        namespace_root = rt->kind == LT_ROOT_MODULE || rt->kind == LT_ROOT_CLASS;
        if (rt->kind == LT_ROOT_FRAME) {
            local = lt_edges_str_text(rt->local, &local_len);
            if (!local) {
                local = "?";
                local_len = 1;
            }
        }
    }
    lt_edges_encode(chain, n, namespace_root, local, local_len, out);
    result = out->failed ? -1 : 0;
done:
    lt_graph_free(g, chain, n * sizeof(PyObject *));
    lt_graph_free(g, ids, (cap + 1) * sizeof(uint32_t));
    return result;
}

/* Whether t, reached only from the caller's frames, lies on a cycle of such
 * objects: then only the caller's own references keep it from being cyclic
 * garbage. */
static int
caller_cycle(lt_retain *r, uint32_t t)
{
    lt_graph *g = &r->graph;
    size_t n = g->count;
    uint32_t *queue = lt_graph_alloc(g, n * sizeof(uint32_t) + 1);
    uint8_t *seen = lt_graph_alloc(g, n + 1);
    int found = -1;
    if (queue && seen) {
        memset(seen, 0, n);
        size_t head = 0, tail = 0;
        queue[tail++] = t;
        found = 0;
        while (head < tail && !found) {
            uint32_t u = queue[head++];
            for (uint32_t e = g->out_start[u]; e < g->out_start[u + 1] && !found; e++) {
                uint32_t v = g->out_edges[e];
                found = v == t;
                if (!seen[v] && (g->flags[v] & FROM_CALLER)) {
                    seen[v] = 1;
                    queue[tail++] = v;
                }
            }
        }
    }
    lt_graph_free(g, queue, n * sizeof(uint32_t) + 1);
    lt_graph_free(g, seen, n + 1);
    return found;
}

int
lt_retain_why(lt_retain *r, PyObject *obj, int max_paths, lt_bytes *out)
{
    lt_graph *g = &r->graph;
    uint32_t t = lt_graph_find(g, obj);
    if (t == LT_GRAPH_NONE || max_paths <= 0) {
        return 0;
    }
    if (g->flags[t] & FROM_CALLER) {
        int cyclic = caller_cycle(r, t);
        if (cyclic < 0) {
            return -1;
        }
        if (cyclic) {
            uint64_t retained = r->retained ? r->retained[t] : 0;
            lt_edges_encode_head(out, LT_ROOT_GARBAGE, "unreachable cyclic garbage", 26, obj, g->sizes[t],
                        retained);
            lt_bytes_varint(out, 0);
            return out->failed ? -1 : 1;
        }
    }
    if (encode_path(r, t, LT_GRAPH_NONE, out) < 0) {
        return -1;
    }
    int npaths = 1;
    /* Then one path through each other referrer the search reached. */
    for (uint32_t e = g->in_start[t]; e < g->in_start[t + 1] && npaths < max_paths; e++) {
        uint32_t p = g->in_edges[e];
        int seen = p == r->via[t];
        for (uint32_t d = g->in_start[t]; d < e && !seen; d++) {
            seen = g->in_edges[d] == p;
        }
        if (seen || r->via[p] == LT_GRAPH_NONE || r->via[p] == IGNORED_MARK(r)) {
            continue;
        }
        if (encode_path(r, p, t, out) < 0) {
            return -1;
        }
        npaths++;
    }
    return npaths;
}

/* ---- the report of a run ---- */

typedef struct {
    int (*emit)(void *ctx, const uint8_t *payload, size_t len);
    void *ctx;
} emitter;

static int
emit_bytes(emitter *em, lt_bytes *b)
{
    int result = b->failed ? -1 : em->emit(em->ctx, b->data, b->len);
    b->len = 0;
    return result;
}

typedef struct {
    uint32_t site;
    uint64_t bytes;
    uint32_t samples[8];
    int nsamples;
    int owners_only; /* set after the first pass when the site has no object */
} site_pick;

/* Keeps the sample objects of a site with the largest retained sizes,
 * largest first. */
static void
offer_sample(const lt_retain *r, site_pick *pick, int per_site, uint32_t node)
{
    int k;
    if (pick->nsamples < per_site) {
        k = pick->nsamples++;
    }
    else if (r->retained[node] > r->retained[pick->samples[per_site - 1]]) {
        k = per_site - 1;
    }
    else {
        return;
    }
    pick->samples[k] = node;
    for (; k > 0 && r->retained[pick->samples[k - 1]] < r->retained[node]; k--) {
        pick->samples[k] = pick->samples[k - 1];
        pick->samples[k - 1] = node;
    }
}

static int
report_sites(lt_retain *r, int max_sites, int per_site, const char *skip_prefix,
             uint8_t *site_kind, uint32_t nsites, emitter *em)
{
    lt_graph *g = &r->graph;
    int result = -1;
    uint64_t *bytes = lt_graph_alloc(g, (size_t)nsites * sizeof(uint64_t));
    uint32_t *slot = lt_graph_alloc(g, (size_t)nsites * sizeof(uint32_t));
    site_pick *picks = lt_graph_alloc(g, (size_t)max_sites * sizeof(site_pick));
    lt_bytes b = {0};
    if (!bytes || !slot || !picks) {
        goto done;
    }
    memset(bytes, 0, (size_t)nsites * sizeof(uint64_t));
    memset(slot, 0xff, (size_t)nsites * sizeof(uint32_t));
    for (uint32_t i = 0; i < g->count; i++) {
        if (g->sites[i] < nsites) {
            bytes[g->sites[i]] += g->sizes[i];
        }
    }
    /* A site that allocated the items of lists (or tables of dicts and sets)
     * is represented by the owners of those buffers. */
    for (uint32_t i = 0; i < g->count; i++) {
        uint32_t s = lt_graph_buffer_site(g->objects[i]);
        if (s < nsites && s != g->sites[i]) {
            bytes[s] += g->sizes[i];
        }
    }
    /* The sites holding the most bytes of objects, leaving out the import
     * machinery's (as the report does). */
    int npicks = 0;
    for (uint32_t s = 1; s < nsites; s++) {
        if (!bytes[s]) {
            continue;
        }
        if (!site_kind[s]) {
            site_kind[s] = skip_prefix && lt_tracker_node_in_file(s, skip_prefix) ? 2 : 1;
        }
        if (site_kind[s] == 2) {
            continue;
        }
        int k;
        if (npicks < max_sites) {
            k = npicks++;
        }
        else if (bytes[s] > picks[max_sites - 1].bytes) {
            k = max_sites - 1;
        }
        else {
            continue;
        }
        picks[k] = (site_pick){s, bytes[s], {0}, 0, 0};
        for (; k > 0 && picks[k - 1].bytes < picks[k].bytes; k--) {
            site_pick t = picks[k];
            picks[k] = picks[k - 1];
            picks[k - 1] = t;
        }
    }
    for (int k = 0; k < npicks; k++) {
        slot[picks[k].site] = (uint32_t)k;
    }
    /* Objects allocated at the site first; the owners of buffers allocated
     * there only for sites that have no object of their own. */
    for (uint32_t i = 0; i < g->count; i++) {
        uint32_t s = g->sites[i];
        if (s < nsites && slot[s] != LT_GRAPH_NONE) {
            offer_sample(r, &picks[slot[s]], per_site, i);
        }
    }
    for (int k = 0; k < npicks; k++) {
        picks[k].owners_only = picks[k].nsamples == 0;
    }
    for (uint32_t i = 0; i < g->count; i++) {
        uint32_t b = lt_graph_buffer_site(g->objects[i]);
        if (b < nsites && slot[b] != LT_GRAPH_NONE && picks[slot[b]].owners_only) {
            offer_sample(r, &picks[slot[b]], per_site, i);
        }
    }
    for (int k = 0; k < npicks; k++) {
        for (int j = 0; j < picks[k].nsamples; j++) {
            lt_bytes_varint(&b, LT_RET_SITE);
            lt_bytes_varint(&b, picks[k].site);
            if (encode_path(r, picks[k].samples[j], LT_GRAPH_NONE, &b) < 0 ||
                emit_bytes(em, &b) < 0) {
                goto done;
            }
        }
    }
    result = 0;
done:
    lt_bytes_free(&b);
    lt_graph_free(g, bytes, (size_t)nsites * sizeof(uint64_t));
    lt_graph_free(g, slot, (size_t)nsites * sizeof(uint32_t));
    lt_graph_free(g, picks, (size_t)max_sites * sizeof(site_pick));
    return result;
}

/* Whether a node is worth naming as a suspect: a container that is neither
 * a root's own namespace nor part of the program's structure. */
static int
suspect_candidate(const lt_retain *r, uint32_t u)
{
    PyObject *op = r->graph.objects[u];
    if (r->via[u] == LT_GRAPH_NONE || r->via[u] >= r->graph.count) {
        return 0;
    }
    return PyObject_IS_GC(op) && !PyModule_Check(op) && !PyType_Check(op) &&
           !PyFunction_Check(op) && !PyCode_Check(op) && !PyFrame_Check(op);
}

#define MAX_SUSPECTS 5

static int
report_suspects(lt_retain *r, const uint8_t *site_kind, uint32_t nsites, emitter *em)
{
    lt_graph *g = &r->graph;
    uint32_t super = g->count;
    /* Retained leaked bytes: only objects of sites the report shows. */
    for (uint32_t i = 0; i < g->count; i++) {
        uint32_t s = g->sites[i];
        r->retained[i] = s < nsites && site_kind[s] == 1 ? g->sizes[i] : 0;
    }
    for (uint32_t i = 0; i < g->count; i++) {
        uint32_t u = r->postorder[i];
        if (r->idom[u] != super) {
            r->retained[r->idom[u]] += r->retained[u];
        }
    }
    uint32_t chosen[MAX_SUSPECTS];
    uint64_t amounts[MAX_SUSPECTS];
    int nchosen = 0;
    /* Greedy: the largest holder, then the largest that is neither inside
     * nor above one chosen already (what a chosen one retains is taken out
     * of its dominators). Rejections are bounded. */
    for (int rounds = 0; nchosen < MAX_SUSPECTS && rounds < 1000; rounds++) {
        uint32_t best = LT_GRAPH_NONE;
        for (uint32_t u = 0; u < g->count; u++) {
            if (r->retained[u] && (best == LT_GRAPH_NONE || r->retained[u] > r->retained[best]) &&
                suspect_candidate(r, u)) {
                best = u;
            }
        }
        if (best == LT_GRAPH_NONE) {
            break;
        }
        uint64_t amount = r->retained[best];
        r->retained[best] = 0;
        int inside = 0;
        for (uint32_t d = r->idom[best]; d != super && !inside; d = r->idom[d]) {
            for (int k = 0; k < nchosen && !inside; k++) {
                inside = chosen[k] == d;
            }
        }
        if (inside) {
            continue;
        }
        for (uint32_t d = r->idom[best]; d != super; d = r->idom[d]) {
            r->retained[d] -= amount < r->retained[d] ? amount : r->retained[d];
        }
        chosen[nchosen] = best;
        amounts[nchosen++] = amount;
    }
    lt_bytes b = {0};
    int result = 0;
    for (int k = 0; k < nchosen && result == 0; k++) {
        lt_bytes_varint(&b, LT_RET_SUSPECT);
        lt_bytes_varint(&b, amounts[k]);
        r->retained[chosen[k]] = amounts[k];
        result = encode_path(r, chosen[k], LT_GRAPH_NONE, &b) < 0 ? -1 : emit_bytes(em, &b);
    }
    lt_bytes_free(&b);
    return result;
}

/* ---- cycles ---- */

static uint32_t
find_set(uint32_t *parent, uint32_t u)
{
    while (parent[u] != u) {
        parent[u] = parent[parent[u]];
        u = parent[u];
    }
    return u;
}

#define MAX_CYCLES 10
#define CYCLE_SITES 3

static int
is_garbage(const lt_graph *g, uint32_t u)
{
    return !(g->flags[u] & (FROM_ROOT | FROM_EXTERNAL | FROM_CALLER));
}

/* Finds a way from start back to start inside its cluster; fills ids with the
 * cycle (start first) and returns its length, or 0. */
static size_t
find_cycle(lt_retain *r, uint32_t *set, uint32_t start, uint32_t *queue, uint32_t *ids,
           size_t cap)
{
    lt_graph *g = &r->graph;
    uint32_t cluster = find_set(set, start);
    size_t head = 0, tail = 0, n = 0;
    queue[tail++] = start;
    r->via[start] = start;
    uint32_t closing = LT_GRAPH_NONE;
    while (head < tail && closing == LT_GRAPH_NONE) {
        uint32_t u = queue[head++];
        for (uint32_t e = g->out_start[u]; e < g->out_start[u + 1]; e++) {
            uint32_t v = g->out_edges[e];
            if (v == start) {
                closing = u;
                break;
            }
            if (r->via[v] == LT_GRAPH_NONE && is_garbage(g, v) && find_set(set, v) == cluster) {
                r->via[v] = u;
                queue[tail++] = v;
            }
        }
    }
    if (closing != LT_GRAPH_NONE) {
        for (uint32_t u = closing; n < cap; u = r->via[u]) {
            ids[n++] = u;
            if (u == start) {
                break;
            }
        }
        if (ids[n - 1] != start) {
            n = 0;
        }
    }
    for (size_t k = 0; k < tail; k++) {
        r->via[queue[k]] = LT_GRAPH_NONE;
    }
    for (size_t a = 0, b = n ? n - 1 : 0; a < b; a++, b--) {
        uint32_t t = ids[a];
        ids[a] = ids[b];
        ids[b] = t;
    }
    return n;
}

static uint64_t
mix64(uint64_t x)
{
    x ^= x >> 33;
    x *= 0xff51afd7ed558ccdull;
    x ^= x >> 33;
    x *= 0xc4ceb9fe1a85ec53ull;
    return x ^ (x >> 33);
}

typedef struct {
    uint64_t signature;
    uint32_t cluster;
} cluster_key;

static int
compare_keys(const void *a, const void *b)
{
    const cluster_key *x = a, *y = b;
    return x->signature < y->signature ? -1 : x->signature > y->signature;
}

typedef struct {
    uint64_t bytes, objects;
    uint32_t clusters, sample; /* sample: the group's largest cluster */
    uint32_t site[CYCLE_SITES];
    uint64_t site_bytes[CYCLE_SITES];
    int nsites;
} cycle_group;

/* The bytes one object of a reported cycle group holds at its site. */
typedef struct {
    uint32_t group, site;
    uint64_t bytes;
} site_sum;

static int
compare_site_sums(const void *x, const void *y)
{
    const site_sum *a = x, *b = y;
    if (a->group != b->group) {
        return a->group < b->group ? -1 : 1;
    }
    return a->site < b->site ? -1 : a->site > b->site;
}

/* Keeps the CYCLE_SITES sites with the most bytes, most first (the first
 * site seen wins a tie). */
static void
add_cycle_site(cycle_group *grp, uint32_t site, uint64_t bytes)
{
    int k;
    if (grp->nsites < CYCLE_SITES) {
        k = grp->nsites++;
    }
    else if (bytes > grp->site_bytes[CYCLE_SITES - 1]) {
        k = CYCLE_SITES - 1;
    }
    else {
        return;
    }
    for (; k > 0 && grp->site_bytes[k - 1] < bytes; k--) {
        grp->site[k] = grp->site[k - 1];
        grp->site_bytes[k] = grp->site_bytes[k - 1];
    }
    grp->site[k] = site;
    grp->site_bytes[k] = bytes;
}

static int
emit_cycle(lt_retain *r, uint32_t *set, uint32_t *queue, const cycle_group *grp, emitter *em)
{
    lt_graph *g = &r->graph;
    uint32_t ids[LT_MAX_PATH_EDGES + 1];
    PyObject *chain[LT_MAX_PATH_EDGES + 2];
    size_t len = 0;
    int tries = 0;
    for (uint32_t u = 0; u < g->count && !len && tries < 8; u++) {
        if (is_garbage(g, u) && (g->flags[u] & LT_NODE_GC_LISTED) &&
            find_set(set, u) == grp->sample) {
            tries++;
            len = find_cycle(r, set, u, queue, ids, LT_MAX_PATH_EDGES);
        }
    }
    lt_bytes b = {0};
    lt_bytes_varint(&b, LT_RET_CYCLE);
    lt_bytes_varint(&b, grp->clusters);
    lt_bytes_varint(&b, grp->objects);
    lt_bytes_varint(&b, grp->bytes);
    lt_bytes_varint(&b, (uint64_t)grp->nsites);
    for (int k = 0; k < grp->nsites; k++) {
        lt_bytes_varint(&b, grp->site[k]);
        lt_bytes_varint(&b, grp->site_bytes[k]);
    }
    uint32_t first = len ? ids[0] : grp->sample;
    size_t tl;
    const char *tn = lt_edges_type_name(Py_TYPE(g->objects[first]), &tl);
    lt_edges_encode_head(&b, LT_ROOT_GARBAGE, tn, tl, g->objects[first], g->sizes[first], grp->bytes);
    if (len) {
        for (size_t k = 0; k < len; k++) {
            chain[k] = g->objects[ids[k]];
        }
        chain[len] = chain[0];
        lt_edges_encode(chain, len + 1, 0, NULL, 0, &b);
    }
    else {
        lt_bytes_varint(&b, 0);
    }
    int result = emit_bytes(em, &b);
    lt_bytes_free(&b);
    return result;
}

/* Unreachable objects fall into clusters (connected through references among
 * them). Clusters made by the same code look alike: the same types.
 * They are grouped by a signature summed over their members, and the largest
 * groups are reported with one sample cycle each. */
static int
report_cycles(lt_retain *r, emitter *em)
{
    lt_graph *g = &r->graph;
    size_t n = g->count;
    /* After the dominators: their arrays are free for reuse. */
    uint32_t *set = r->postorder, *members = r->idom;
    uint64_t *bytes = r->retained;
    uint64_t *signature = lt_graph_alloc(g, n * sizeof(uint64_t) + 1);
    uint32_t *queue = lt_graph_alloc(g, n * sizeof(uint32_t) + 1);
    cluster_key *keys = NULL;
    site_sum *sums = NULL;
    size_t nsums = 0;
    cycle_group groups[MAX_CYCLES];
    size_t nkeys = 0;
    int ngroups = 0, result = -1;
    if (!queue || !signature) {
        goto done;
    }
    for (uint32_t u = 0; u < n; u++) {
        set[u] = u;
        bytes[u] = 0;
        members[u] = 0;
        signature[u] = 0;
    }
    for (uint32_t u = 0; u < n; u++) {
        if (!is_garbage(g, u)) {
            continue;
        }
        for (uint32_t e = g->out_start[u]; e < g->out_start[u + 1]; e++) {
            uint32_t v = g->out_edges[e];
            if (is_garbage(g, v)) {
                uint32_t a = find_set(set, u), c = find_set(set, v);
                if (a != c) {
                    set[a] = c;
                }
            }
        }
    }
    for (uint32_t u = 0; u < n; u++) {
        if (is_garbage(g, u)) {
            uint32_t c = find_set(set, u);
            bytes[c] += g->sizes[u];
            members[c]++;
            /* Types only: free lists hand reused objects the site of
             * their first allocation, which would split alike clusters. */
            signature[c] += mix64((uintptr_t)Py_TYPE(g->objects[u]));
        }
    }
    for (uint32_t u = 0; u < n; u++) {
        nkeys += members[u] > 1 && set[u] == u;
    }
    keys = lt_graph_alloc(g, nkeys * sizeof(cluster_key) + 1);
    if (!keys) {
        goto done;
    }
    nkeys = 0;
    for (uint32_t u = 0; u < n; u++) {
        if (members[u] > 1 && set[u] == u) {
            keys[nkeys++] = (cluster_key){signature[u], u};
        }
    }
    qsort(keys, nkeys, sizeof(cluster_key), compare_keys);
    /* The largest groups, kept sorted by bytes. */
    for (size_t a = 0, z; a < nkeys; a = z) {
        cycle_group grp = {0};
        grp.sample = keys[a].cluster;
        for (z = a; z < nkeys && keys[z].signature == keys[a].signature; z++) {
            uint32_t c = keys[z].cluster;
            grp.bytes += bytes[c];
            grp.objects += members[c];
            grp.clusters++;
            if (bytes[c] > bytes[grp.sample]) {
                grp.sample = c;
            }
        }
        int k;
        if (ngroups < MAX_CYCLES) {
            k = ngroups++;
        }
        else if (grp.bytes > groups[MAX_CYCLES - 1].bytes) {
            k = MAX_CYCLES - 1;
        }
        else {
            continue;
        }
        groups[k] = grp;
        for (; k > 0 && groups[k - 1].bytes < groups[k].bytes; k--) {
            cycle_group t = groups[k];
            groups[k] = groups[k - 1];
            groups[k - 1] = t;
        }
    }
    /* The sites of each reported group, over all its clusters. From here on
     * members[c] is cluster c's group plus one, or 0: every cluster is reset,
     * single-object ones (not among the keys) included. */
    for (uint32_t u = 0; u < n; u++) {
        members[u] = 0;
    }
    for (size_t a = 0; a < nkeys; a++) {
        for (int k = 0; k < ngroups; k++) {
            if (keys[a].signature == signature[groups[k].sample]) {
                members[keys[a].cluster] = (uint32_t)k + 1;
            }
        }
    }
    /* Bytes per (group, site), summed over every object of the group's
     * clusters; each group names the CYCLE_SITES sites holding the most. */
    if (g->sites) {
        sums = lt_graph_alloc(g, n * sizeof(site_sum) + 1);
        if (!sums) {
            goto done;
        }
    }
    for (uint32_t u = 0; sums && u < n; u++) {
        uint32_t k, s = g->sites[u];
        if (is_garbage(g, u) && s != LT_GRAPH_NONE && (k = members[find_set(set, u)])) {
            sums[nsums++] = (site_sum){k - 1, s, g->sizes[u]};
        }
    }
    if (nsums) {
        qsort(sums, nsums, sizeof(site_sum), compare_site_sums);
    }
    for (size_t a = 0, z; a < nsums; a = z) {
        uint64_t total = 0;
        for (z = a; z < nsums && sums[z].group == sums[a].group && sums[z].site == sums[a].site;
             z++) {
            total += sums[z].bytes;
        }
        add_cycle_site(&groups[sums[a].group], sums[a].site, total);
    }
    for (int k = 0; k < ngroups; k++) {
        if (emit_cycle(r, set, queue, &groups[k], em) < 0) {
            goto done;
        }
    }
    result = 0;
done:
    lt_graph_free(g, sums, n * sizeof(site_sum) + 1);
    lt_graph_free(g, keys, nkeys * sizeof(cluster_key) + 1);
    lt_graph_free(g, signature, n * sizeof(uint64_t) + 1);
    lt_graph_free(g, queue, n * sizeof(uint32_t) + 1);
    return result;
}

static int
report_summary(lt_retain *r, emitter *em)
{
    lt_graph *g = &r->graph;
    uint64_t fields[LT_RSUM_COUNT] = {0};
    for (uint32_t u = 0; u < g->count; u++) {
        int k = (g->flags[u] & (FROM_ROOT | FROM_CALLER)) ? LT_RSUM_ROOT_BYTES
                : (g->flags[u] & FROM_EXTERNAL) ? LT_RSUM_EXTERNAL_BYTES
                                                : LT_RSUM_GARBAGE_BYTES;
        fields[k] += g->sizes[u];
    }
    fields[LT_RSUM_OBJECTS] = g->count;
    fields[LT_RSUM_EDGES] = g->nedges;
    fields[LT_RSUM_ANALYSIS_BYTES] = g->peak_memory;
    fields[LT_RSUM_DURATION_NS] = r->duration_ns;
    lt_bytes b = {0};
    lt_bytes_varint(&b, LT_RET_SUMMARY);
    lt_bytes_varint(&b, LT_RSUM_COUNT);
    for (int k = 0; k < LT_RSUM_COUNT; k++) {
        lt_bytes_varint(&b, fields[k]);
    }
    int result = emit_bytes(em, &b);
    lt_bytes_free(&b);
    return result;
}

int
lt_retain_report(lt_retain *r, int max_sites, int per_site, const char *skip_prefix,
                 int (*emit)(void *ctx, const uint8_t *payload, size_t len), void *ctx)
{
    lt_graph *g = &r->graph;
    if (!g->sites || max_sites <= 0 || per_site <= 0 || per_site > 8) {
        return -1;
    }
    uint64_t start = now_ns();
    emitter em = {emit, ctx};
    lt_tracker_stats stats;
    lt_tracker_get_stats(&stats);
    uint32_t nsites = stats.nodes > UINT32_MAX - 1 ? UINT32_MAX - 1 : (uint32_t)stats.nodes;
    uint8_t *site_kind = lt_graph_alloc(g, (size_t)nsites + 1);
    int result = -1;
    if (!site_kind) {
        return -1;
    }
    memset(site_kind, 0, (size_t)nsites + 1);
    if (lt_retain_dominators(r) == 0 &&
        report_sites(r, max_sites, per_site, skip_prefix, site_kind, nsites, &em) == 0 &&
        report_suspects(r, site_kind, nsites, &em) == 0 && report_cycles(r, &em) == 0) {
        r->duration_ns += now_ns() - start;
        result = report_summary(r, &em);
    }
    lt_graph_free(g, site_kind, (size_t)nsites + 1);
    return result;
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
    lt_graph_destroy(g);
    memset(r, 0, sizeof(*r));
}
