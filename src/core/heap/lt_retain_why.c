/* lt_retain_why.c - see lt_retain_why.h. */
#include "compat/lt_compat.h"

#include "heap/lt_retain_why.h"

#include <stdio.h>
#include <string.h>

#include "heap/lt_edges.h"
#include "heap/lt_hidden.h"
#include "heap/lt_holder.h"
#include "heap/lt_retain_internal.h"

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
        snprintf(buf, size, "%.*s (%.*s:%d)", (int)len, a ? a : "?", (int)len2, file ? file : "?",
                 rt->line);
        break;
    }
    default: snprintf(buf, size, "sys.exc_info()"); break;
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

/* The search's chain of graph ids from a root to node, in *ids (room for
 * *cap + 1, from the graph's allocator): its length, 0 when no root reaches
 * node, or -1 for memory. */
static int64_t
root_chain(lt_retain *r, uint32_t node, uint32_t **ids, size_t *cap)
{
    lt_graph *g = &r->graph;
    for (*cap = 1024;; *cap *= 4) {
        *ids = lt_graph_alloc(g, (*cap + 1) * sizeof(uint32_t));
        if (!*ids) {
            return -1;
        }
        size_t n = r->via[node] == LT_GRAPH_NONE ? 0 : chain_to(r, node, *ids, *cap);
        if (n || r->via[node] == LT_GRAPH_NONE) {
            return (int64_t)n;
        }
        lt_graph_free(g, *ids, (*cap + 1) * sizeof(uint32_t));
    }
}

/* The objects of ids[0..n), from the graph's allocator, or NULL. */
static PyObject **
objects_of(lt_graph *g, const uint32_t *ids, size_t n)
{
    PyObject **chain = lt_graph_alloc(g, n * sizeof(PyObject *));
    for (size_t i = 0; chain && i < n; i++) {
        chain[i] = g->objects[ids[i]];
    }
    return chain;
}

/* Whether the chain's root is a module's or class's namespace. */
static int
namespace_root(const lt_retain *r, uint32_t first)
{
    uint32_t seed_mark = r->via[first];
    if (seed_mark >= EXTERNAL_MARK(r)) {
        return 0;
    }
    uint8_t kind = r->roots[seed_mark - r->graph.count].kind;
    return kind == LT_ROOT_MODULE || kind == LT_ROOT_CLASS;
}

/* Encodes the path along ids[0..n) (n >= 1) to its last object; a chain
 * held from outside whose first object lies on a cycle through `hidden`, an
 * object the collector cannot traverse, is rooted at that cycle. */
static int
encode_along(lt_retain *r, const uint32_t *ids, size_t n, PyObject *hidden, lt_bytes *out)
{
    lt_graph *g = &r->graph;
    uint32_t last = ids[n - 1];
    uint64_t retained = r->retained ? r->retained[last] : 0;
    PyObject **chain = objects_of(g, ids, n);
    if (!chain) {
        return -1;
    }
    uint32_t seed_mark = r->via[ids[0]];
    const char *local = NULL;
    size_t local_len = 0;
    char buf[LT_MAX_PATH_TEXT];
    if (seed_mark >= EXTERNAL_MARK(r)) {
        size_t len, hlen;
        const char *tn = lt_edges_type_name(Py_TYPE(chain[0]), &len);
        if (hidden) {
            const char *hn = lt_edges_type_name(Py_TYPE(hidden), &hlen);
            snprintf(buf, sizeof(buf),
                     "a cycle through %.*s, which the collector cannot traverse: %.*s",
                     (int)(hlen > 100 ? 100 : hlen), hn, (int)(len > 100 ? 100 : len), tn);
            tn = buf;
            len = strlen(buf);
        }
        lt_edges_encode_head(out, LT_ROOT_EXTERNAL, tn, len, chain[n - 1], g->sizes[last],
                             retained);
    }
    else {
        const lt_root *rt = &r->roots[seed_mark - g->count];
        root_text(r, seed_mark - g->count, buf, sizeof(buf));
        lt_edges_encode_head(out, (lt_root_kind)rt->kind, buf, strlen(buf), chain[n - 1],
                             g->sizes[last], retained);
        if (rt->kind == LT_ROOT_FRAME) {
            local = lt_edges_str_text(rt->local, &local_len);
            if (!local) {
                local = "?";
                local_len = 1;
            }
        }
    }
    lt_edges_encode(chain, n, namespace_root(r, ids[0]), local, local_len, out);
    lt_graph_free(g, chain, n * sizeof(PyObject *));
    return out->failed ? -1 : 0;
}

/* A chain held from outside (ids[0..n), room for *cap + 1) continued
 * backwards through the hidden referrer of its first object (lt_hidden.h):
 * that referrer's own chain is put in front, or, when the first object
 * reaches the referrer (a cycle the collector cannot see), *cycle is set to
 * it. Returns the new length (ids and cap replaced), or -1 for memory. */
static int64_t
through_hidden(lt_retain *r, uint32_t **ids, size_t *cap, int64_t n, PyObject **cycle)
{
    lt_graph *g = &r->graph;
    uint32_t first = (*ids)[0];
    uint32_t u = r->via[first] == EXTERNAL_MARK(r) ? lt_hidden_referrer(g, first) : LT_GRAPH_NONE;
    if (u == LT_GRAPH_NONE || r->via[u] == LT_GRAPH_NONE || r->via[u] == IGNORED_MARK(r)) {
        return n;
    }
    uint32_t *front;
    size_t front_cap;
    int64_t m = root_chain(r, u, &front, &front_cap);
    if (m < 0) {
        return -1;
    }
    int64_t result = n;
    if (m > 0 && front[0] == first) {
        *cycle = g->objects[u];
    }
    else if (m > 0) {
        size_t joined_cap = (size_t)(m + n);
        uint32_t *joined = lt_graph_alloc(g, (joined_cap + 1) * sizeof(uint32_t));
        if (!joined) {
            result = -1;
        }
        else {
            memcpy(joined, front, (size_t)m * sizeof(uint32_t));
            memcpy(joined + m, *ids, (size_t)n * sizeof(uint32_t));
            lt_graph_free(g, *ids, (*cap + 1) * sizeof(uint32_t));
            *ids = joined;
            *cap = joined_cap;
            result = m + n;
        }
    }
    lt_graph_free(g, front, (front_cap + 1) * sizeof(uint32_t));
    return result;
}

int
lt_retain_encode_path(lt_retain *r, uint32_t node, uint32_t extra, lt_bytes *out)
{
    lt_graph *g = &r->graph;
    uint32_t *ids;
    size_t cap;
    PyObject *cycle = NULL;
    int64_t n = root_chain(r, node, &ids, &cap);
    if (n > 0) {
        int64_t joined = through_hidden(r, &ids, &cap, n, &cycle);
        if (joined < 0) {
            lt_graph_free(g, ids, (cap + 1) * sizeof(uint32_t));
            return -1;
        }
        n = joined;
    }
    if (n < 0) {
        return -1;
    }
    int result = 0;
    if (n == 0) {
        uint32_t last = extra != LT_GRAPH_NONE ? extra : node;
        uint64_t retained = r->retained ? r->retained[last] : 0;
        lt_edges_encode_head(out, LT_ROOT_GARBAGE, "unreachable cyclic garbage", 26,
                             g->objects[last], g->sizes[last], retained);
        lt_bytes_varint(out, 0);
    }
    else {
        if (extra != LT_GRAPH_NONE) {
            ids[n++] = extra;
        }
        result = encode_along(r, ids, (size_t)n, cycle, out);
    }
    lt_graph_free(g, ids, (cap + 1) * sizeof(uint32_t));
    return out->failed ? -1 : result;
}

int
lt_retain_encode_holder(lt_retain *r, uint32_t node, lt_bytes *out)
{
    lt_graph *g = &r->graph;
    uint32_t *ids;
    size_t cap;
    int64_t n = root_chain(r, node, &ids, &cap);
    int result = n < 0 ? -1 : 0;
    if (n >= 2) {
        PyObject **chain = objects_of(g, ids, (size_t)n);
        result = -1;
        if (chain) {
            lt_holder h;
            lt_holder_find(chain, (size_t)n, namespace_root(r, ids[0]), &h);
            lt_graph_free(g, chain, (size_t)n * sizeof(PyObject *));
            lt_bytes_varint(out, h.kind);
            lt_bytes_varint(out, h.bound);
            lt_bytes_varint(out, h.entries);
            result = encode_along(r, ids, h.at + 1, NULL, out) < 0 ? -1 : 1;
        }
    }
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
            lt_edges_encode_head(out, LT_ROOT_GARBAGE, "unreachable cyclic garbage", 26, obj,
                                 g->sizes[t], retained);
            lt_bytes_varint(out, 0);
            return out->failed ? -1 : 1;
        }
    }
    if (lt_retain_encode_path(r, t, LT_GRAPH_NONE, out) < 0) {
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
        if (lt_retain_encode_path(r, p, t, out) < 0) {
            return -1;
        }
        npaths++;
    }
    return npaths;
}

void
lt_retain_encode_unowned(lt_bytes *out, uint64_t bytes)
{
    static const char root[] = "native code, no Python object points to it";
    static const char target[] = "native memory";
    lt_bytes_varint(out, LT_ROOT_EXTERNAL);
    lt_bytes_str(out, root, sizeof(root) - 1);
    lt_bytes_str(out, target, sizeof(target) - 1);
    lt_bytes_varint(out, bytes);
    lt_bytes_varint(out, bytes);
    lt_bytes_varint(out, 0);
}
