/* lt_verdicts.c - see lt_verdicts.h. */
#include "analyze/lt_verdicts.h"

#include <stdlib.h>
#include <string.h>

#include "analyze/lt_growth.h"

/* A leaking site of the list, with its sort key. */
typedef struct {
    double rate;
    uint32_t position; /* in lt_sites.ranked: ties keep it */
    uint32_t site;
} leaking;

static int
compare_leaking(const void *pa, const void *pb)
{
    const leaking *a = pa, *b = pb;
    if (a->rate != b->rate) {
        return a->rate > b->rate ? -1 : 1;
    }
    return (a->position > b->position) - (a->position < b->position);
}

static void
classify(lt_verdicts *v, const lt_sites *s, const double *xs, const double *seconds,
         double *scratch)
{
    size_t n = s->npoints;
    for (size_t g = 0; g < v->nsites; g++) {
        uint32_t row = s->site[g].row;
        if (row == LT_NO_ROW || n == 0) {
            v->cls[g] = LT_GROWTH_INSUFFICIENT;
            v->reason[g] = LT_GROWTH_WHY_FEW_POINTS;
            continue; /* the other columns stay 0 */
        }
        const uint64_t *live = s->series + (size_t)row * n;
        lt_growth_series series = {n, xs, seconds, live, s->alloc_series + (size_t)row * n};
        lt_growth out;
        lt_growth_classify(&series, scratch, &out);
        v->cls[g] = (uint8_t)out.cls;
        v->reason[g] = (uint8_t)out.reason;
        v->rate[g] = out.rate;
        v->rate_per_second[g] = out.rate_per_second;
        v->confidence[g] = out.confidence;
        v->points[g] = out.points;
        v->total[g] = (int64_t)(live[n - 1] - live[0]);
    }
}

/* The leaking sites by rate (they are few), then every other site in
 * lt_sites' rank (by bytes), whatever its class: a large site with too few
 * points to judge must not sink below small plateaued ones. */
static int
order(lt_verdicts *v, const lt_sites *s)
{
    size_t nleaking = 0;
    for (size_t i = 0; i < s->nranked; i++) {
        nleaking += v->cls[s->ranked[i]] == LT_GROWTH_LEAKING;
    }
    leaking *list = malloc((nleaking ? nleaking : 1) * sizeof(leaking));
    v->order = malloc((s->nranked ? s->nranked : 1) * sizeof(uint32_t));
    if (!list || !v->order) {
        free(list);
        return -1;
    }
    size_t n = 0;
    for (size_t i = 0; i < s->nranked; i++) {
        uint32_t g = s->ranked[i];
        if (v->cls[g] == LT_GROWTH_LEAKING) {
            list[n++] = (leaking){v->rate[g], (uint32_t)i, g};
        }
    }
    qsort(list, nleaking, sizeof(leaking), compare_leaking);
    for (size_t i = 0; i < nleaking; i++) {
        v->order[i] = list[i].site;
    }
    free(list);
    n = nleaking;
    for (size_t i = 0; i < s->nranked; i++) {
        if (v->cls[s->ranked[i]] != LT_GROWTH_LEAKING) {
            v->order[n++] = s->ranked[i];
        }
    }
    v->norder = n;
    return 0;
}

int
lt_verdicts_make(lt_verdicts *v, const lt_sites *s, const double *seconds)
{
    memset(v, 0, sizeof(*v));
    size_t n = s->nsites ? s->nsites : 1, npoints = s->npoints;
    v->nsites = s->nsites;
    v->cls = malloc(n);
    v->reason = malloc(n);
    v->rate = calloc(n, sizeof(double));
    v->rate_per_second = calloc(n, sizeof(double));
    v->confidence = calloc(n, sizeof(double));
    v->points = calloc(n, sizeof(uint32_t));
    v->total = calloc(n, sizeof(int64_t));
    double *xs = malloc((npoints ? npoints : 1) * sizeof(double));
    double *scratch = malloc((npoints ? lt_growth_scratch(npoints) : 1) * sizeof(double));
    int r = -1;
    if (v->cls && v->reason && v->rate && v->rate_per_second && v->confidence && v->points &&
        v->total && xs && scratch) {
        for (size_t i = 0; i < npoints; i++) {
            xs[i] = (double)s->work[i] / 1e6; /* reading/growth.py's work_axis */
        }
        classify(v, s, xs, seconds, scratch);
        r = order(v, s);
    }
    free(xs);
    free(scratch);
    if (r < 0) {
        lt_verdicts_free(v);
    }
    return r;
}

void
lt_verdicts_free(lt_verdicts *v)
{
    free(v->cls);
    free(v->reason);
    free(v->rate);
    free(v->rate_per_second);
    free(v->confidence);
    free(v->points);
    free(v->total);
    free(v->order);
    memset(v, 0, sizeof(*v));
}
