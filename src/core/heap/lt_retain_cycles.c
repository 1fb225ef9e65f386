/* lt_retain_cycles.c - see lt_retain_cycles.h. */
#include "compat/lt_compat.h"

#include "heap/lt_retain_cycles.h"

#include <stdlib.h>
#include <string.h>

#include "heap/lt_edges.h"

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

/* Finds a way from start back to start inside its cluster; fills ids with the
 * cycle (start first) and returns its length, or 0. */
static size_t
find_cycle(lt_retain *r, uint32_t *set, uint32_t start, uint32_t *queue, uint32_t *ids, size_t cap)
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
            if (r->via[v] == LT_GRAPH_NONE && lt_retain_is_garbage(g, v) &&
                find_set(set, v) == cluster) {
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
emit_cycle(lt_retain *r, uint32_t *set, uint32_t *queue, const cycle_group *grp,
           lt_retain_emitter *em)
{
    lt_graph *g = &r->graph;
    uint32_t ids[LT_MAX_PATH_EDGES + 1];
    PyObject *chain[LT_MAX_PATH_EDGES + 2];
    size_t len = 0;
    int tries = 0;
    for (uint32_t u = 0; u < g->count && !len && tries < 8; u++) {
        if (lt_retain_is_garbage(g, u) && (g->flags[u] & LT_NODE_GC_LISTED) &&
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
    lt_edges_encode_head(&b, LT_ROOT_GARBAGE, tn, tl, g->objects[first], g->sizes[first],
                         grp->bytes);
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
    int result = lt_retain_emit(em, &b);
    lt_bytes_free(&b);
    return result;
}

/* Unreachable objects fall into clusters (connected through references among
 * them). Clusters made by the same code look alike: the same types.
 * They are grouped by a signature summed over their members, and the largest
 * groups are reported with one sample cycle each. */
int
lt_retain_cycles_report(lt_retain *r, lt_retain_emitter *em)
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
        if (!lt_retain_is_garbage(g, u)) {
            continue;
        }
        for (uint32_t e = g->out_start[u]; e < g->out_start[u + 1]; e++) {
            uint32_t v = g->out_edges[e];
            if (lt_retain_is_garbage(g, v)) {
                uint32_t a = find_set(set, u), c = find_set(set, v);
                if (a != c) {
                    set[a] = c;
                }
            }
        }
    }
    for (uint32_t u = 0; u < n; u++) {
        if (lt_retain_is_garbage(g, u)) {
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
        if (lt_retain_is_garbage(g, u) && s != LT_GRAPH_NONE && (k = members[find_set(set, u)])) {
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
