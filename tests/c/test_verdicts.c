/* test_verdicts.c - the verdict of every site and the leak list's order
 * (lt_verdicts.h), on sites set up by hand. */
#include <stdlib.h>
#include <string.h>

#include "analyze/lt_verdicts.h"
#include "analyze/lt_growth.h"
#include "check.h"

#define POINTS 12
#define SITES 6

/* Site 0 is the root; 1 and 4 leak (4 faster), 2 is flat, 3 has no series,
 * 5 is not alive at the end (not listed). */
static void
test_verdicts_by_site_and_order(void)
{
    lt_asite site[SITES];
    memset(site, 0, sizeof(site));
    uint64_t points[POINTS], work[POINTS];
    uint64_t series[4 * POINTS], alloc[4 * POINTS];
    double seconds[POINTS];
    for (size_t i = 0; i < POINTS; i++) {
        points[i] = i;
        work[i] = 1000000 * (i + 1);
        seconds[i] = (double)i;
        series[0 * POINTS + i] = 100 * (i + 1); /* site 1: +100 B a point */
        series[1 * POINTS + i] = 5000;          /* site 2: flat */
        series[2 * POINTS + i] = 300 * (i + 1); /* site 4: +300 B a point */
        series[3 * POINTS + i] = 0;             /* site 5 */
        alloc[0 * POINTS + i] = series[0 * POINTS + i];
        alloc[1 * POINTS + i] = 5000 * (i + 1);
        alloc[2 * POINTS + i] = series[2 * POINTS + i];
        alloc[3 * POINTS + i] = 64 * (i + 1);
    }
    site[0].row = site[3].row = LT_NO_ROW;
    site[1].row = 0;
    site[2].row = 1;
    site[4].row = 2;
    site[5].row = 3;
    /* lt_sites ranks by live bytes: 3 (no series, the largest), 2 (5000),
     * 4 (3600), 1 (1200) */
    uint32_t ranked[] = {3, 2, 4, 1};
    lt_sites s;
    memset(&s, 0, sizeof(s));
    s.site = site;
    s.nsites = SITES;
    s.points = points;
    s.work = work;
    s.npoints = POINTS;
    s.series = series;
    s.alloc_series = alloc;
    s.nrows = 4;
    s.ranked = ranked;
    s.nranked = 4;

    lt_verdicts v;
    CHECK(lt_verdicts_make(&v, &s, seconds) == 0);
    CHECK_U64(v.nsites, ==, SITES);
    CHECK_U64(v.cls[1], ==, LT_GROWTH_LEAKING);
    CHECK_U64(v.cls[4], ==, LT_GROWTH_LEAKING);
    CHECK(v.rate[4] > 299.0 && v.rate[4] < 301.0); /* bytes per MB allocated */
    CHECK(v.rate_per_second[4] > 299.0 && v.rate_per_second[4] < 301.0);
    CHECK_I64(v.total[4], ==, 300 * (POINTS - 1));
    CHECK_U64(v.points[4], ==, POINTS);
    CHECK(v.cls[2] != LT_GROWTH_LEAKING);
    CHECK_I64(v.total[2], ==, 0);
    for (size_t g = 0; g < SITES; g += 3) { /* 0 and 3: no series */
        CHECK_U64(v.cls[g], ==, LT_GROWTH_INSUFFICIENT);
        CHECK_U64(v.reason[g], ==, LT_GROWTH_WHY_FEW_POINTS);
        CHECK_U64(v.points[g], ==, 0);
        CHECK(v.rate[g] == 0.0 && v.confidence[g] == 0.0);
    }
    /* Leaking first, fastest first; then the others in lt_sites' rank, whatever
     * their class (insufficient 3 before noise 2). */
    CHECK_U64(v.norder, ==, 4);
    CHECK_U64(v.order[0], ==, 4);
    CHECK_U64(v.order[1], ==, 1);
    CHECK_U64(v.order[2], ==, 3);
    CHECK_U64(v.order[3], ==, 2);
    lt_verdicts_free(&v);
    CHECK(v.cls == NULL && v.order == NULL);
}

/* A capture without a series: every site insufficient, the rank kept. */
static void
test_verdicts_without_series(void)
{
    lt_asite site[3];
    memset(site, 0, sizeof(site));
    site[0].row = site[1].row = site[2].row = LT_NO_ROW;
    uint32_t ranked[] = {2, 1};
    lt_sites s;
    memset(&s, 0, sizeof(s));
    s.site = site;
    s.nsites = 3;
    s.ranked = ranked;
    s.nranked = 2;
    lt_verdicts v;
    CHECK(lt_verdicts_make(&v, &s, NULL) == 0);
    for (size_t g = 0; g < 3; g++) {
        CHECK_U64(v.cls[g], ==, LT_GROWTH_INSUFFICIENT);
    }
    CHECK_U64(v.order[0], ==, 2);
    CHECK_U64(v.order[1], ==, 1);
    lt_verdicts_free(&v);
}

/* Many sites of every shape, classified in one part and in several: the same
 * verdicts, column by column, and the same leak list. */
static void
test_verdicts_split(void)
{
    enum { N = 5000, P = 20 };
    lt_asite *site = calloc(N, sizeof(lt_asite));
    uint64_t *series = malloc(N * P * sizeof(uint64_t));
    uint64_t *alloc = malloc(N * P * sizeof(uint64_t));
    uint32_t *ranked = malloc(N * sizeof(uint32_t));
    uint64_t points[P], work[P];
    double seconds[P];
    CHECK(site && series && alloc && ranked);
    if (!site || !series || !alloc || !ranked) {
        free(site), free(series), free(alloc), free(ranked);
        return;
    }
    uint64_t state = 12345;
    for (size_t i = 0; i < P; i++) {
        points[i] = i;
        work[i] = 1000000 * (i + 1);
        seconds[i] = 0.5 * (double)i;
    }
    for (size_t g = 0; g < N; g++) {
        site[g].row = g % 7 == 3 ? LT_NO_ROW : (uint32_t)g;
        uint64_t live = 0, total = 0;
        for (size_t i = 0; i < P; i++) {
            state = state * 6364136223846793005ull + 1442695040888963407ull;
            uint64_t r = state >> 33;
            switch (g % 5) {
            case 0: live += 64 * (r % 3); break;                  /* rises */
            case 1: live = i < 5 ? 100 * i : 400; break;          /* plateaus */
            case 2: live = (r % 4) * 32; break;                   /* noise */
            case 3: live = i == P - 1 ? 0 : 100 * (i % 4); break; /* released */
            default: live = i > P - 3 ? 64 : 0; break;            /* few points */
            }
            total += live + 16 * (r % 5);
            series[g * P + i] = live;
            alloc[g * P + i] = total;
        }
        ranked[g] = (uint32_t)(N - 1 - g);
    }
    lt_sites s = {.site = site,
                  .nsites = N,
                  .points = points,
                  .work = work,
                  .npoints = P,
                  .series = series,
                  .alloc_series = alloc,
                  .nrows = N,
                  .ranked = ranked,
                  .nranked = N};
    lt_verdicts one, split;
    CHECK(lt_verdicts_make_split(&one, &s, seconds, 1) == 0);
    size_t classes[LT_GROWTH_CLASS_COUNT] = {0};
    for (size_t g = 0; g < N; g++) {
        classes[one.cls[g]]++;
    }
    for (int c = 0; c < LT_GROWTH_CLASS_COUNT; c++) {
        CHECK(classes[c] > 0); /* every class is among the sites split */
    }
    for (size_t parts = 2; parts <= LT_VERDICTS_MAX_THREADS + 1; parts++) {
        CHECK(lt_verdicts_make_split(&split, &s, seconds, parts) == 0);
        CHECK(memcmp(one.cls, split.cls, N) == 0);
        CHECK(memcmp(one.reason, split.reason, N) == 0);
        CHECK(memcmp(one.rate, split.rate, N * sizeof(double)) == 0);
        CHECK(memcmp(one.rate_per_second, split.rate_per_second, N * sizeof(double)) == 0);
        CHECK(memcmp(one.confidence, split.confidence, N * sizeof(double)) == 0);
        CHECK(memcmp(one.points, split.points, N * sizeof(uint32_t)) == 0);
        CHECK(memcmp(one.total, split.total, N * sizeof(int64_t)) == 0);
        CHECK_U64(split.norder, ==, one.norder);
        CHECK(memcmp(one.order, split.order, one.norder * sizeof(uint32_t)) == 0);
        lt_verdicts_free(&split);
    }
    lt_verdicts_free(&one);
    free(site), free(series), free(alloc), free(ranked);
}

const test_case verdicts_tests[] = {
    {"verdicts: the same in one part and in several", test_verdicts_split},
    {"verdicts: by site, and the leak list's order", test_verdicts_by_site_and_order},
    {"verdicts: a capture without a series", test_verdicts_without_series},
    {NULL, NULL},
};
