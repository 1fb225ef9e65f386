/* lt_verdicts.c - see lt_verdicts.h. */
#define _GNU_SOURCE /* sched_getaffinity */
#include "analyze/lt_verdicts.h"

#include <pthread.h>
#include <sched.h>
#include <signal.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

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

/* The sites [from, to) of one classifying thread, with scratch of its own. */
typedef struct {
    lt_verdicts *v;
    const lt_sites *s;
    const double *xs, *seconds;
    double *scratch;
    size_t from, to;
} classify_part;

static void *
classify(void *arg)
{
    const classify_part *part = arg;
    lt_verdicts *v = part->v;
    const lt_sites *s = part->s;
    const double *xs = part->xs, *seconds = part->seconds;
    double *scratch = part->scratch;
    size_t n = s->npoints;
    for (size_t g = part->from; g < part->to; g++) {
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
    return NULL;
}

/* The processors this process may run on, at most `most`. */
static size_t
usable_cpus(size_t most)
{
    long n = 0;
#ifdef __linux__
    cpu_set_t set;
    if (sched_getaffinity(0, sizeof(set), &set) == 0) {
        n = CPU_COUNT(&set);
    }
#endif
    if (n <= 0) {
        n = sysconf(_SC_NPROCESSORS_ONLN);
    }
    return n < 1 ? 1 : (size_t)n < most ? (size_t)n : most;
}

/* Classifies every site in nparts parts (1..LT_VERDICTS_MAX_THREADS), run
 * side by side: each site's verdict depends on its own series only, and each
 * part writes the columns of its own sites, so the result is the same however
 * the work is split. The helper threads block every signal (a Ctrl-C is the
 * calling thread's) and touch no Python; a part whose thread cannot start
 * runs on the calling thread. Returns 0 or -1 (memory for the scratch). */
static int
classify_all(lt_verdicts *v, const lt_sites *s, const double *xs, const double *seconds,
             size_t nparts)
{
    size_t room = s->npoints ? lt_growth_scratch(s->npoints) : 1;
    double *scratch = malloc(nparts * room * sizeof(double));
    if (!scratch) {
        return -1;
    }
    classify_part parts[LT_VERDICTS_MAX_THREADS];
    pthread_t threads[LT_VERDICTS_MAX_THREADS];
    int started[LT_VERDICTS_MAX_THREADS] = {0};
    for (size_t p = 0; p < nparts; p++) {
        parts[p] = (classify_part){v,
                                   s,
                                   xs,
                                   seconds,
                                   scratch + p * room,
                                   v->nsites * p / nparts,
                                   v->nsites * (p + 1) / nparts};
    }
    sigset_t all, old;
    sigfillset(&all);
    int masked = nparts > 1 && pthread_sigmask(SIG_SETMASK, &all, &old) == 0;
    for (size_t p = 1; p < nparts && masked; p++) {
        started[p] = pthread_create(&threads[p], NULL, classify, &parts[p]) == 0;
    }
    if (masked) {
        pthread_sigmask(SIG_SETMASK, &old, NULL);
    }
    for (size_t p = 0; p < nparts; p++) {
        if (!started[p]) {
            classify(&parts[p]);
        }
    }
    for (size_t p = 1; p < nparts; p++) {
        if (started[p]) {
            pthread_join(threads[p], NULL);
        }
    }
    free(scratch);
    return 0;
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
    size_t nparts = usable_cpus(LT_VERDICTS_MAX_THREADS);
    size_t most = s->nsites / LT_VERDICTS_SITES_PER_THREAD;
    return lt_verdicts_make_split(v, s, seconds, nparts < most ? nparts : most ? most : 1);
}

int
lt_verdicts_make_split(lt_verdicts *v, const lt_sites *s, const double *seconds, size_t nparts)
{
    if (nparts < 1) {
        nparts = 1;
    }
    if (nparts > LT_VERDICTS_MAX_THREADS) {
        nparts = LT_VERDICTS_MAX_THREADS;
    }
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
    int r = -1;
    if (v->cls && v->reason && v->rate && v->rate_per_second && v->confidence && v->points &&
        v->total && xs) {
        for (size_t i = 0; i < npoints; i++) {
            xs[i] = (double)s->work[i] / 1e6; /* reading/growth.py's work_axis */
        }
        if (classify_all(v, s, xs, seconds, nparts) == 0) {
            r = order(v, s);
        }
    }
    free(xs);
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
