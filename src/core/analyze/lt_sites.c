/* lt_sites.c - see lt_sites.h. */
#include "analyze/lt_sites.h"

#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "base/lt_array.h"
#include "base/lt_sort.h"

/* Block counts of a sampled capture, in whole blocks (rounded half up). */
static uint64_t
unscale(const lt_sites *s, uint64_t count)
{
    uint64_t scale = s->count_scale;
    return scale ? count / scale + (count % scale >= (scale + 1) / 2) : count;
}

int
lt_sites_init(lt_sites *s)
{
    memset(s, 0, sizeof(*s));
    return 0;
}

size_t
lt_sites_thin(uint64_t n, size_t max_points, uint64_t *out)
{
    if (n == 0 || max_points == 0) {
        return 0;
    }
    if (n <= max_points || max_points == 1) {
        size_t count = n <= max_points ? (size_t)n : 1;
        for (size_t i = 0; i < count; i++) {
            out[i] = i;
        }
        return count;
    }
    size_t count = 0;
    for (size_t i = 0; i < max_points; i++) {
        /* As Python's round(i * (n - 1) / (max_points - 1)): the quotient is
         * the same correctly rounded double, rounded half to even. */
        double x = (double)((uint64_t)i * (n - 1)) / (double)(max_points - 1);
        uint64_t k = (uint64_t)nearbyint(x);
        if (count == 0 || out[count - 1] != k) {
            out[count++] = k;
        }
    }
    return count;
}

int
lt_sites_plan(lt_sites *s, const int64_t *picks, size_t npicks, const uint64_t *points,
              size_t npoints, size_t max_points, uint64_t nsnapshots, const char *path,
              char *error, size_t error_size)
{
    if (npicks > LT_SITES_MAX_PICKS) {
        snprintf(error, error_size, "at most %d snapshots can be picked", LT_SITES_MAX_PICKS);
        return -1;
    }
    for (size_t i = 0; i < npicks; i++) {
        int64_t index = picks[i] < 0 ? (int64_t)nsnapshots + picks[i] : picks[i];
        if (index < 0 || (uint64_t)index >= nsnapshots) {
            snprintf(error, error_size, "%s has snapshots 0 to %lld, not %lld", path,
                     (long long)nsnapshots - 1, (long long)picks[i]);
            return -1;
        }
        s->picks[i].index = (uint64_t)index;
    }
    s->npicks = npicks;
    size_t most = points ? npoints : max_points;
    if (most && (!(s->points = malloc(most * sizeof(uint64_t))) ||
                 !(s->work = malloc(most * sizeof(uint64_t))))) {
        snprintf(error, error_size, "out of memory while reading the capture");
        return -1;
    }
    if (!points) {
        s->npoints = lt_sites_thin(nsnapshots, max_points, s->points);
        return 0;
    }
    for (size_t i = 0; i < npoints; i++) {
        if (points[i] >= nsnapshots || (i && points[i] <= points[i - 1])) {
            snprintf(error, error_size, "series points must increase and be below %llu",
                     (unsigned long long)nsnapshots);
            return -1;
        }
        s->points[i] = points[i];
    }
    s->npoints = npoints;
    return 0;
}

void
lt_sites_expect(lt_sites *s, uint64_t nnodes)
{
    if (nnodes >= UINT32_MAX || s->nrows) {
        return;
    }
    /* The trimmed root, and at most one trimmed node per capture node. */
    size_t most = (size_t)nnodes + 1;
    if (lt_array_reserve((void **)&s->site, &s->cap, most, sizeof(lt_asite)) < 0 || !s->npoints ||
        lt_array_reserve((void **)&s->row_now, &s->row_now_cap, most, sizeof(lt_arow)) < 0) {
        return;
    }
    size_t rows = (most + LT_SITES_TILE - 1) / LT_SITES_TILE * LT_SITES_TILE;
    if (rows > SIZE_MAX / sizeof(uint64_t) / s->npoints) {
        return;
    }
    uint64_t *series = calloc(rows * s->npoints, sizeof(uint64_t));
    uint64_t *alloc_series = calloc(rows * s->npoints, sizeof(uint64_t));
    if (!series || !alloc_series) {
        free(series);
        free(alloc_series);
        return;
    }
    free(s->series);
    free(s->alloc_series);
    s->series = series;
    s->alloc_series = alloc_series;
    s->series_cap = s->alloc_series_cap = s->series_zeroed = rows * s->npoints;
}

int
lt_sites_grow(lt_sites *s, const lt_trim *t)
{
    if (lt_array_reserve((void **)&s->site, &s->cap, t->ntree, sizeof(lt_asite)) < 0) {
        return -1;
    }
    for (size_t g = s->nsites; g < t->ntree; g++) {
        s->site[g] = (lt_asite){.first_node = UINT32_MAX, .row = LT_NO_ROW};
    }
    s->nsites = t->ntree > s->nsites ? t->ntree : s->nsites;
    return 0;
}

/* Where the series hold row's value at point p while snapshots are applied:
 * rows in tiles of LT_SITES_TILE, each tile point-major, so that the values
 * of one point fill contiguous cache lines, not a line per site. */
static size_t
tiled_at(const lt_sites *s, size_t row, size_t p)
{
    size_t tile = row / LT_SITES_TILE;
    return (tile * s->npoints + p) * LT_SITES_TILE + row % LT_SITES_TILE;
}

/* A series row for a site that holds memory for the first time: zero before.
 * Room is made a tile at a time, zeroed unless calloc did (lt_sites_expect). */
static int
give_row(lt_sites *s, lt_asite *site)
{
    if (s->nrows % LT_SITES_TILE == 0) {
        size_t at = s->nrows * s->npoints, tile = LT_SITES_TILE * s->npoints;
        if (lt_array_reserve((void **)&s->series, &s->series_cap, at + tile, sizeof(uint64_t)) <
                0 ||
            lt_array_reserve((void **)&s->alloc_series, &s->alloc_series_cap, at + tile,
                             sizeof(uint64_t)) < 0) {
            return -1;
        }
        size_t ntiles = s->nrows / LT_SITES_TILE;
        if (lt_array_reserve((void **)&s->tile_from, &s->tile_from_cap, ntiles + 1,
                             sizeof(size_t)) < 0) {
            return -1;
        }
        s->tile_from[ntiles] = s->next_point;
        if (at + tile > s->series_zeroed) {
            memset(s->series + at, 0, tile * sizeof(uint64_t));
            memset(s->alloc_series + at, 0, tile * sizeof(uint64_t));
        }
    }
    if (lt_array_reserve((void **)&s->row_now, &s->row_now_cap, s->nrows + 1, sizeof(lt_arow)) <
        0) {
        return -1;
    }
    site->row = (uint32_t)s->nrows++;
    return 0;
}

/* Turns each tile of `series` from point-major to row-major in place, which
 * makes the whole row * npoints + point; scratch holds a tile. The points
 * before a tile's first are zeros not read: from calloc, their pages were
 * never touched, and reading them would fault each in twice. */
static void
untile(const lt_sites *s, uint64_t *series, uint64_t *scratch)
{
    size_t n = s->npoints, size = LT_SITES_TILE * n;
    for (size_t tile = 0, base = 0; base < s->nrows * n; tile++, base += size) {
        size_t from = s->tile_from[tile];
        memcpy(scratch + from * LT_SITES_TILE, series + base + from * LT_SITES_TILE,
               (n - from) * LT_SITES_TILE * sizeof(uint64_t));
        for (size_t r = 0; r < LT_SITES_TILE; r++) {
            uint64_t *row = series + base + r * n;
            memset(row, 0, from * sizeof(uint64_t));
            for (size_t p = from; p < n; p++) {
                row[p] = scratch[p * LT_SITES_TILE + r];
            }
        }
    }
}

static int
apply_changes(lt_sites *s, const lt_trim *t, const lt_decoder *d, const lt_dsnapshot *snap)
{
    for (size_t i = 0; i < snap->nchanged; i++) {
        const lt_rsite *now = &snap->changed[i], *was = &snap->before[i];
        uint32_t node = now->node;
        lt_trim_reason reason = (lt_trim_reason)t->reason[node];
        /* Counters only move up from the zero a node starts at, so the
         * differences add up to the current values whatever their sign. */
        uint64_t dcount = unscale(s, now->live_count) - unscale(s, was->live_count);
        uint64_t dbytes = now->live_bytes - was->live_bytes;
        s->allocated += now->alloc_bytes - was->alloc_bytes;
        if (reason != LT_TRIM_SHOWN) {
            s->excluded[reason].count += dcount;
            s->excluded[reason].bytes += dbytes;
            continue;
        }
        lt_asite *site = &s->site[t->target[node]];
        site->live_count += dcount;
        site->live_bytes += dbytes;
        site->alloc_count += unscale(s, now->alloc_count) - unscale(s, was->alloc_count);
        site->alloc_bytes += now->alloc_bytes - was->alloc_bytes;
        if (d->listed[node] && node < site->first_node) {
            site->first_node = node;
        }
        if (site->row == LT_NO_ROW && s->npoints && give_row(s, site) < 0) {
            return -1;
        }
        if (site->row != LT_NO_ROW) {
            s->row_now[site->row] = (lt_arow){site->live_bytes, site->alloc_bytes};
        }
    }
    return 0;
}

int
lt_sites_apply(lt_sites *s, const lt_trim *t, const lt_decoder *d, const lt_dsnapshot *snap,
               uint64_t peak_index)
{
    if (apply_changes(s, t, d, snap) < 0) {
        return -1;
    }
    uint64_t index = snap->seq;
    if (index == peak_index) {
        for (size_t g = 0; g < s->nsites; g++) {
            s->site[g].peak_count = s->site[g].live_count;
            s->site[g].peak_bytes = s->site[g].live_bytes;
        }
    }
    for (size_t p = 0; p < s->npicks; p++) {
        lt_apick *pick = &s->picks[p];
        if (pick->index != index) {
            continue;
        }
        lt_alive *alive = malloc((s->nsites ? s->nsites : 1) * sizeof(lt_alive));
        if (!alive) {
            return -1;
        }
        for (size_t g = 0; g < s->nsites; g++) {
            const lt_asite *site = &s->site[g];
            alive[g] = (lt_alive){site->live_count, site->live_bytes, site->alloc_count,
                                  site->alloc_bytes};
        }
        free(pick->sites);
        pick->sites = alive;
        pick->nsites = s->nsites;
        memcpy(pick->excluded, s->excluded, sizeof(pick->excluded));
    }
    if (s->next_point < s->npoints && s->points[s->next_point] == index) {
        s->work[s->next_point] = s->allocated;
        for (size_t row = 0; row < s->nrows; row++) {
            size_t at = tiled_at(s, row, s->next_point);
            s->series[at] = s->row_now[row].live_bytes;
            s->alloc_series[at] = s->row_now[row].alloc_bytes;
        }
        s->next_point++;
    }
    return 0;
}

typedef struct {
    uint64_t bytes, count;
    uint32_t first, site;
} rank_entry;

/* Whether a ranks before b: most bytes, then most blocks, then the lowest
 * capture node, then the lowest site (a total order: the ranking does not
 * depend on the sort). */
static inline int
ranks_before(const rank_entry *a, const rank_entry *b)
{
    if (a->bytes != b->bytes) {
        return a->bytes > b->bytes;
    }
    if (a->count != b->count) {
        return a->count > b->count;
    }
    if (a->first != b->first) {
        return a->first < b->first;
    }
    return a->site < b->site;
}

LT_SORT_DEFINE(sort_ranked, rank_entry, ranks_before)

/* The sites alive in `alive` (NULL: at the last snapshot), ranked. */
static int
rank(const lt_sites *s, const lt_alive *alive, size_t nalive, uint32_t **out, size_t *nout)
{
    size_t n = 0;
    rank_entry *entries = malloc((s->nsites ? s->nsites : 1) * 2 * sizeof(rank_entry));
    *out = malloc((s->nsites ? s->nsites : 1) * sizeof(uint32_t));
    if (!entries || !*out) {
        free(entries);
        free(*out);
        *out = NULL;
        return -1;
    }
    for (size_t g = 0; g < s->nsites; g++) {
        const lt_asite *site = &s->site[g];
        uint64_t count = alive ? (g < nalive ? alive[g].count : 0) : site->live_count;
        uint64_t bytes = alive ? (g < nalive ? alive[g].bytes : 0) : site->live_bytes;
        if (count) {
            entries[n++] = (rank_entry){bytes, count, site->first_node, (uint32_t)g};
        }
    }
    const rank_entry *sorted = sort_ranked(entries, entries + n, n);
    for (size_t i = 0; i < n; i++) {
        (*out)[i] = sorted[i].site;
    }
    *nout = n;
    free(entries);
    return 0;
}

/* Groups the listed, shown capture nodes by site (a counting sort). */
static int
list_nodes(lt_sites *s, const lt_trim *t, const lt_decoder *d)
{
    s->nodes_start = calloc(s->nsites + 1, sizeof(uint32_t));
    s->nodes = malloc((d->nlisted ? d->nlisted : 1) * sizeof(uint32_t));
    if (!s->nodes_start || !s->nodes) {
        return -1;
    }
    for (size_t n = 0; n < d->nnodes; n++) {
        if (d->listed[n] && t->reason[n] == LT_TRIM_SHOWN) {
            s->nodes_start[t->target[n] + 1]++;
        }
    }
    for (size_t g = 0; g < s->nsites; g++) {
        s->nodes_start[g + 1] += s->nodes_start[g];
    }
    /* Fill each site's range from its start, then shift the starts back. */
    for (size_t n = 0; n < d->nnodes; n++) {
        if (d->listed[n] && t->reason[n] == LT_TRIM_SHOWN) {
            s->nodes[s->nodes_start[t->target[n]]++] = (uint32_t)n;
        }
    }
    for (size_t g = s->nsites; g > 0; g--) {
        s->nodes_start[g] = s->nodes_start[g - 1];
    }
    s->nodes_start[0] = 0;
    return 0;
}

int
lt_sites_finish(lt_sites *s, const lt_trim *t, const lt_decoder *d)
{
    if (lt_sites_grow(s, t) < 0 || list_nodes(s, t, d) < 0 ||
        rank(s, NULL, 0, &s->ranked, &s->nranked) < 0) {
        return -1;
    }
    if (s->nrows) {
        uint64_t *scratch = malloc(LT_SITES_TILE * s->npoints * sizeof(uint64_t));
        if (!scratch) {
            return -1;
        }
        untile(s, s->series, scratch);
        untile(s, s->alloc_series, scratch);
        free(scratch);
    }
    for (size_t p = 0; p < s->npicks; p++) {
        lt_apick *pick = &s->picks[p];
        if (rank(s, pick->sites, pick->nsites, &pick->ranked, &pick->nranked) < 0) {
            return -1;
        }
        lt_alive *all = realloc(pick->sites, (s->nsites ? s->nsites : 1) * sizeof(lt_alive));
        if (!all) {
            return -1;
        }
        for (size_t g = pick->nsites; g < s->nsites; g++) {
            all[g] = (lt_alive){0, 0, 0, 0};
        }
        pick->sites = all;
        pick->nsites = s->nsites;
    }
    return 0;
}

void
lt_sites_free(lt_sites *s)
{
    free(s->site);
    for (size_t p = 0; p < LT_SITES_MAX_PICKS; p++) {
        free(s->picks[p].sites);
        free(s->picks[p].ranked);
    }
    free(s->points);
    free(s->work);
    free(s->series);
    free(s->alloc_series);
    free(s->row_now);
    free(s->tile_from);
    free(s->ranked);
    free(s->nodes);
    free(s->nodes_start);
    memset(s, 0, sizeof(*s));
}
