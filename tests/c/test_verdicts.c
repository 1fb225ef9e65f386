/* test_verdicts.c - the verdict of every site and the leak list's order
 * (lt_verdicts.h), on sites set up by hand. */
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

const test_case verdicts_tests[] = {
    {"verdicts: by site, and the leak list's order", test_verdicts_by_site_and_order},
    {"verdicts: a capture without a series", test_verdicts_without_series},
    {NULL, NULL},
};
