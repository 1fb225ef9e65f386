/* lt_retain_report.c - see lt_retain_report.h. */
#include "compat/lt_compat.h"

#include "heap/lt_retain_report.h"

#include <string.h>

#include "heap/lt_retain_cycles.h"
#include "heap/lt_retain_dom.h"
#include "heap/lt_retain_internal.h"
#include "heap/lt_retain_why.h"
#include "record/lt_tracker.h"

typedef struct {
    uint32_t site;
    uint64_t bytes;
    uint32_t samples[8];
    int nsamples;
    int owners_only;  /* set after the first pass when the site has no object */
    uint64_t unowned; /* bytes of the site's native blocks that no object owns */
} site_pick;

/* Keeps the sample objects of a site with the largest retained sizes,
 * largest first. */
static void
offer_sample(const lt_retain *r, site_pick *pick, int per_site, uint32_t node)
{
    int k;
    for (k = 0; k < pick->nsamples; k++) {
        if (pick->samples[k] == node) {
            return; /* the owner of several native blocks of the site */
        }
    }
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
             uint8_t *site_kind, uint32_t nsites, lt_retain_emitter *em)
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
    /* Native blocks count at their own site, owned or not. */
    const lt_owners *own = &r->owners;
    for (uint32_t k = 0; k < own->nblocks; k++) {
        if (own->blocks[k].site < nsites) {
            bytes[own->blocks[k].site] += own->blocks[k].size;
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
        picks[k] = (site_pick){s, bytes[s], {0}, 0, 0, 0};
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
    /* A site of native blocks is represented by their owners; what no object
     * owns is reported as such. */
    for (uint32_t k = 0; k < own->nblocks; k++) {
        const lt_native_block *nb = &own->blocks[k];
        if (nb->site >= nsites || slot[nb->site] == LT_GRAPH_NONE) {
            continue;
        }
        if (nb->owner != LT_GRAPH_NONE) {
            offer_sample(r, &picks[slot[nb->site]], per_site, nb->owner);
        }
        else {
            picks[slot[nb->site]].unowned += nb->size;
        }
    }
    for (int k = 0; k < npicks; k++) {
        if (picks[k].unowned && picks[k].nsamples < per_site) {
            lt_bytes_varint(&b, LT_RET_SITE);
            lt_bytes_varint(&b, picks[k].site);
            lt_retain_encode_unowned(&b, picks[k].unowned);
            if (lt_retain_emit(em, &b) < 0) {
                goto done;
            }
        }
        for (int j = 0; j < picks[k].nsamples; j++) {
            lt_bytes_varint(&b, LT_RET_SITE);
            lt_bytes_varint(&b, picks[k].site);
            if (lt_retain_encode_path(r, picks[k].samples[j], LT_GRAPH_NONE, &b) < 0 ||
                lt_retain_emit(em, &b) < 0) {
                goto done;
            }
            lt_bytes_varint(&b, LT_RET_HOLDER);
            lt_bytes_varint(&b, picks[k].site);
            int held = lt_retain_encode_holder(r, picks[k].samples[j], &b);
            if (held < 0 || (held > 0 && lt_retain_emit(em, &b) < 0)) {
                goto done;
            }
            b.len = 0;
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
report_suspects(lt_retain *r, const uint8_t *site_kind, uint32_t nsites, lt_retain_emitter *em)
{
    lt_graph *g = &r->graph;
    uint32_t super = g->count;
    /* Retained leaked bytes: only objects of sites the report shows. */
    for (uint32_t i = 0; i < g->count; i++) {
        uint32_t s = g->sites[i];
        r->retained[i] = s < nsites && site_kind[s] == 1 ? g->sizes[i] : 0;
    }
    for (uint32_t k = 0; k < r->owners.nblocks; k++) {
        const lt_native_block *nb = &r->owners.blocks[k];
        if (nb->owner != LT_GRAPH_NONE && nb->site < nsites && site_kind[nb->site] == 1) {
            r->retained[nb->owner] += nb->size;
        }
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
        result = lt_retain_encode_path(r, chosen[k], LT_GRAPH_NONE, &b) < 0
                     ? -1
                     : lt_retain_emit(em, &b);
    }
    lt_bytes_free(&b);
    return result;
}

static int
report_summary(lt_retain *r, lt_retain_emitter *em)
{
    lt_graph *g = &r->graph;
    uint64_t fields[LT_RSUM_COUNT] = {0};
    for (uint32_t u = 0; u < g->count; u++) {
        int k = (g->flags[u] & (FROM_ROOT | FROM_CALLER)) ? LT_RSUM_ROOT_BYTES
                : (g->flags[u] & FROM_EXTERNAL)           ? LT_RSUM_EXTERNAL_BYTES
                                                          : LT_RSUM_GARBAGE_BYTES;
        fields[k] += g->sizes[u] + (r->owners.native ? r->owners.native[u] : 0);
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
    int result = lt_retain_emit(em, &b);
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
    uint64_t start = lt_retain_now_ns();
    lt_retain_emitter em = {emit, ctx};
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
        report_suspects(r, site_kind, nsites, &em) == 0 && lt_retain_cycles_report(r, &em) == 0) {
        r->duration_ns += lt_retain_now_ns() - start;
        result = report_summary(r, &em);
    }
    lt_graph_free(g, site_kind, (size_t)nsites + 1);
    return result;
}
