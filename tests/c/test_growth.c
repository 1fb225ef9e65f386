/* test_growth.c - the growth verdict on planted shapes (lt_growth.h). */
#include <math.h>
#include <stdlib.h>

#include "analyze/lt_growth.h"
#include "check.h"

#define N 48

/* A series of N points, x the work (1 MB a point), a second per point. */
typedef struct {
    double xs[N], seconds[N];
    uint64_t live[N], alloc[N];
    double scratch[N * (N - 1) / 2 + N];
} shape;

static uint64_t rng = 88172645463325252ull;

static uint64_t
next_random(void)
{
    rng ^= rng << 13;
    rng ^= rng >> 7;
    rng ^= rng << 17;
    return rng;
}

static void
shape_init(shape *s)
{
    for (size_t i = 0; i < N; i++) {
        s->xs[i] = 1e6 * (double)(i + 1);
        s->seconds[i] = (double)i;
        s->live[i] = s->alloc[i] = 0;
    }
}

static lt_growth
classify_n(shape *s, size_t n, int with_alloc)
{
    lt_growth_series series = {n, s->xs, s->seconds, s->live, with_alloc ? s->alloc : NULL};
    lt_growth g;
    lt_growth_classify(&series, s->scratch, &g);
    return g;
}

static lt_growth
classify(shape *s)
{
    return classify_n(s, N, 1);
}

static void
test_steady_leak(void)
{
    shape s;
    shape_init(&s);
    for (size_t i = 0; i < N; i++) {
        s.live[i] = s.alloc[i] = 1000 * (i + 1);
    }
    lt_growth g = classify(&s);
    CHECK_I64(g.cls, ==, LT_GROWTH_LEAKING);
    CHECK_I64(g.reason, ==, LT_GROWTH_WHY_TAIL_RISES);
    CHECK(fabs(g.rate - 1e-3) < 1e-9);            /* 1000 bytes a MB of work */
    CHECK(fabs(g.rate_per_second - 1000) < 1e-6); /* and a second */
    CHECK(g.confidence > 0.99);
    CHECK_U64(g.points, ==, N);
}

/* A leak under noise: 200 bytes a point under +-2000 of churn. */
static void
test_slow_leak_under_noise(void)
{
    shape s;
    shape_init(&s);
    uint64_t allocated = 0;
    for (size_t i = 0; i < N; i++) {
        allocated += 5000;
        s.live[i] = 10000 + 200 * i + next_random() % 2000;
        s.alloc[i] = allocated;
    }
    CHECK_I64(classify(&s).cls, ==, LT_GROWTH_LEAKING);
}

/* A cache that fills early then evicts as it allocates: bounded. */
static void
test_bounded_cache(void)
{
    shape s;
    shape_init(&s);
    for (size_t i = 0; i < N; i++) {
        s.live[i] = i < 6 ? 4000 * (i + 1) : 24000 - next_random() % 300;
        s.alloc[i] = 4000 * (i + 1);
    }
    lt_growth g = classify(&s);
    CHECK_I64(g.cls, ==, LT_GROWTH_PLATEAUED);
    CHECK_I64(g.reason, ==, LT_GROWTH_WHY_BOUNDED);
}

/* A cache already full at the first point, evicting as it allocates. */
static void
test_full_from_the_start(void)
{
    shape s;
    shape_init(&s);
    for (size_t i = 0; i < N; i++) {
        s.live[i] = 92000 + next_random() % 200;
        s.alloc[i] = 1000000 * (i + 1);
    }
    lt_growth g = classify(&s);
    CHECK_I64(g.cls, ==, LT_GROWTH_PLATEAUED);
    CHECK_I64(g.reason, ==, LT_GROWTH_WHY_BOUNDED);
    /* the same flat level from a site that allocates nothing more: noise */
    for (size_t i = 0; i < N; i++) {
        s.alloc[i] = 93000;
    }
    CHECK_I64(classify(&s).cls, ==, LT_GROWTH_NOISE);
}

/* Memory kept from a burst at the start (a load, an import): one-off. */
static void
test_early_burst(void)
{
    shape s;
    shape_init(&s);
    for (size_t i = 0; i < N; i++) {
        s.live[i] = s.alloc[i] = i < 2 ? 50000 * (i + 1) : 100000;
    }
    lt_growth g = classify(&s);
    CHECK_I64(g.cls, ==, LT_GROWTH_PLATEAUED);
    CHECK_I64(g.reason, ==, LT_GROWTH_WHY_ONE_OFF);
}

/* A leak for the first 40% of the work, then a quiet phase where the site
 * allocates nothing (an export at the end): still a leak. */
static void
test_leak_then_quiet_phase(void)
{
    shape s;
    shape_init(&s);
    size_t stop = N * 2 / 5;
    for (size_t i = 0; i < N; i++) {
        s.live[i] = s.alloc[i] = 1000 * ((i < stop ? i : stop) + 1);
    }
    lt_growth g = classify(&s);
    CHECK_I64(g.cls, ==, LT_GROWTH_LEAKING);
    CHECK_I64(g.reason, ==, LT_GROWTH_WHY_STOPPED);
    CHECK(fabs(g.rate - 1e-3) < 1e-9);
    /* Without the site's allocations there is no telling it from a bound. */
    CHECK_I64(classify_n(&s, N, 0).cls, ==, LT_GROWTH_PLATEAUED);
}

/* A buffer filled and cleared, again and again: transient even when the
 * run ends with it nearly full. */
static void
test_sawtooth(void)
{
    shape s;
    shape_init(&s);
    for (size_t i = 0; i < N; i++) {
        s.live[i] = 100000 * (i % 10 + 1);
        s.alloc[i] = 100000 * (i + 1);
    }
    s.live[N - 1] = 900000;
    lt_growth g = classify(&s);
    CHECK_I64(g.cls, ==, LT_GROWTH_TRANSIENT);
    CHECK_I64(g.reason, ==, LT_GROWTH_WHY_SAWTOOTH);
    /* Released at the end */
    s.live[N - 1] = 1000;
    g = classify(&s);
    CHECK_I64(g.cls, ==, LT_GROWTH_TRANSIENT);
    CHECK_I64(g.reason, ==, LT_GROWTH_WHY_RELEASED);
}

/* An LRU that prunes a third of itself when it overflows (SQLAlchemy's):
 * it never drops below half its peak, and stays bounded. */
static void
test_pruning_lru(void)
{
    shape s;
    shape_init(&s);
    uint64_t size = 0;
    for (size_t i = 0; i < N; i++) {
        size += 3000;
        if (size > 30000) {
            size = 20000;
        }
        s.live[i] = size;
        s.alloc[i] = 3000 * (i + 1);
    }
    CHECK_I64(classify(&s).cls, ==, LT_GROWTH_PLATEAUED);
}

/* Random fluctuation around a level: noise, not a leak, in (nearly) every
 * one of 200 series. */
static void
test_noise(void)
{
    shape s;
    shape_init(&s);
    int leaking = 0;
    for (int round = 0; round < 200; round++) {
        for (size_t i = 0; i < N; i++) {
            s.live[i] = 50000 + next_random() % 5000;
            s.alloc[i] = 10000 * (i + 1);
        }
        leaking += classify(&s).cls == LT_GROWTH_LEAKING;
    }
    CHECK_I64(leaking, <=, 6);
}

static void
test_insufficient(void)
{
    shape s;
    shape_init(&s);
    for (size_t i = 0; i < N; i++) {
        s.live[i] = s.alloc[i] = 1000 * (i + 1);
    }
    lt_growth g = classify_n(&s, 3, 1);
    CHECK_I64(g.cls, ==, LT_GROWTH_INSUFFICIENT);
    CHECK_I64(g.reason, ==, LT_GROWTH_WHY_FEW_POINTS);
    CHECK_U64(g.points, ==, 3);
    /* A site that appears at the last two of many points */
    for (size_t i = 0; i < N - 2; i++) {
        s.live[i] = s.alloc[i] = 0;
    }
    g = classify(&s);
    CHECK_I64(g.cls, ==, LT_GROWTH_INSUFFICIENT);
    CHECK_U64(g.points, ==, 2);
    /* No work between the points */
    for (size_t i = 0; i < N; i++) {
        s.xs[i] = 5;
        s.live[i] = s.alloc[i] = 1000 * (i + 1);
    }
    g = classify(&s);
    CHECK_I64(g.cls, ==, LT_GROWTH_INSUFFICIENT);
    CHECK_I64(g.reason, ==, LT_GROWTH_WHY_NO_WORK);
}

/* A site born late in the run in one burst, flat since: its step lies in the
 * tail, but a step is no trend. Born late and rising all its life: a leak. */
static void
test_born_late_in_one_burst(void)
{
    shape s;
    shape_init(&s);
    for (size_t i = 36; i < N; i++) {
        s.live[i] = s.alloc[i] = 312;
    }
    CHECK(classify(&s).cls != LT_GROWTH_LEAKING);
    for (size_t i = 36; i < N; i++) {
        s.live[i] = s.alloc[i] = 312 * (i - 35);
    }
    CHECK_I64(classify(&s).cls, ==, LT_GROWTH_LEAKING);
}

/* The fewest points that can show a leak: 4, strictly rising. */
static void
test_four_points(void)
{
    shape s;
    shape_init(&s);
    for (size_t i = 0; i < 4; i++) {
        s.live[i] = s.alloc[i] = 100 * (i + 1);
    }
    CHECK_I64(classify_n(&s, 4, 1).cls, ==, LT_GROWTH_LEAKING);
    s.live[3] = 300; /* flat at the end: not enough to tell a trend */
    CHECK(classify_n(&s, 4, 1).cls != LT_GROWTH_LEAKING);
}

/* A site flat since its first point: its rates are exactly +0.0, as the
 * pairwise slopes give (the flat run skips them). */
static void
test_flat_rates_are_zero(void)
{
    shape s;
    shape_init(&s);
    for (size_t i = 0; i < N; i++) {
        s.live[i] = 5000;
        s.alloc[i] = 5000;
    }
    lt_growth g = classify(&s);
    CHECK_I64(g.cls, ==, LT_GROWTH_NOISE);
    CHECK(g.rate == 0.0 && !signbit(g.rate));
    CHECK(g.rate_per_second == 0.0 && !signbit(g.rate_per_second));
    /* the last point a byte higher: the slopes are taken, and the median of
     * those in the tail (mostly flat pairs) is still +0.0 */
    s.live[N - 1] = 5001;
    g = classify(&s);
    CHECK(g.rate == 0.0 && !signbit(g.rate));
    /* rising through the tail: a positive rate */
    for (size_t i = N / 2; i < N; i++) {
        s.live[i] = 5000 + 100 * (i - N / 2 + 1);
    }
    CHECK(classify(&s).rate > 0.0);
}

static int
compare_doubles(const void *pa, const void *pb)
{
    double a = *(const double *)pa, b = *(const double *)pb;
    return (a > b) - (a < b);
}

/* Theil-Sen as defined: the median of every pairwise slope with distinct x,
 * sorted. */
static double
reference_theil_sen(const double *xs, const uint64_t *ys, size_t from, size_t to, double *slopes)
{
    size_t count = 0;
    for (size_t i = from; i < to; i++) {
        for (size_t j = i + 1; j < to; j++) {
            if (xs[j] != xs[i]) {
                slopes[count++] = ((double)ys[j] - (double)ys[i]) / (xs[j] - xs[i]);
            }
        }
    }
    if (!count) {
        return 0.0;
    }
    qsort(slopes, count, sizeof(double), compare_doubles);
    return count % 2 ? slopes[count / 2] : (slopes[count / 2 - 1] + slopes[count / 2]) / 2;
}

/* The rates of random tails (steps, noise, falls; x increasing, or with
 * repeats) are the reference's to the bit. */
static void
test_rates_are_theil_sen(void)
{
    static double slopes[N * (N - 1) / 2];
    for (int round = 0; round < 2000; round++) {
        shape s;
        shape_init(&s);
        size_t n = LT_GROWTH_MIN_POINTS + next_random() % (N - LT_GROWTH_MIN_POINTS + 1);
        uint64_t level = 1 + next_random() % 1000;
        for (size_t i = 0; i < n; i++) {
            uint64_t r = next_random() % 8;
            level = r == 0                  ? level + next_random() % 5000
                    : r == 1 && level > 100 ? level - 100
                                            : level;
            s.live[i] = level;
            if (round % 4 == 0 && i > 0 && r == 2) {
                s.seconds[i] = s.seconds[i - 1]; /* two points in one second */
            }
        }
        lt_growth g = classify_n(&s, n, 0);
        double middle = s.xs[0] + (s.xs[n - 1] - s.xs[0]) / 2;
        size_t start = n - LT_GROWTH_MIN_TAIL;
        while (start > 0 && s.xs[start - 1] >= middle) {
            start--;
        }
        double rate = reference_theil_sen(s.xs, s.live, start, n, slopes);
        double per_second = reference_theil_sen(s.seconds, s.live, start, n, slopes);
        CHECK(memcmp(&g.rate, &rate, sizeof(double)) == 0);
        CHECK(memcmp(&g.rate_per_second, &per_second, sizeof(double)) == 0);
    }
}

static void
test_names(void)
{
    CHECK(strcmp(lt_growth_class_name(LT_GROWTH_PLATEAUED), "plateaued") == 0);
    CHECK(strcmp(lt_growth_class_name(LT_GROWTH_CLASS_COUNT), "?") == 0);
    CHECK(strcmp(lt_growth_reason_name(LT_GROWTH_WHY_NO_WORK), "no-work") == 0);
}

const test_case growth_tests[] = {
    {"growth: steady leak", test_steady_leak},
    {"growth: slow leak under noise", test_slow_leak_under_noise},
    {"growth: bounded cache", test_bounded_cache},
    {"growth: early burst", test_early_burst},
    {"growth: full from the start", test_full_from_the_start},
    {"growth: leak then a quiet phase", test_leak_then_quiet_phase},
    {"growth: sawtooth buffer", test_sawtooth},
    {"growth: pruning LRU", test_pruning_lru},
    {"growth: noise", test_noise},
    {"growth: insufficient evidence", test_insufficient},
    {"growth: four points", test_four_points},
    {"growth: born late in one burst", test_born_late_in_one_burst},
    {"growth: flat rates are zero", test_flat_rates_are_zero},
    {"growth: rates are Theil-Sen's", test_rates_are_theil_sen},
    {"growth: names", test_names},
    {NULL, NULL},
};
