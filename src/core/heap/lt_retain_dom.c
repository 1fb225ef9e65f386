/* lt_retain_dom.c - see lt_retain_dom.h. */
#include "compat/lt_compat.h"

#include "heap/lt_retain_dom.h"

#include <string.h>

#include "heap/lt_retain_internal.h"

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
        r->retained[i] = g->sizes[i] + (r->owners.native ? r->owners.native[i] : 0);
    }
    for (size_t i = 0; i < n; i++) {
        uint32_t u = r->postorder[i];
        if (r->idom[u] != super) {
            r->retained[r->idom[u]] += r->retained[u];
        }
    }
    return 0;
}
