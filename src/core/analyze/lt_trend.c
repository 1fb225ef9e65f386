/* lt_trend.c - see lt_trend.h. */
#include "analyze/lt_trend.h"

#include <math.h>
#include <stddef.h>
#include <stdlib.h>

static int
compare_doubles(const void *a, const void *b)
{
    double x = *(const double *)a, y = *(const double *)b;
    return (x > y) - (x < y);
}

/* The k-th smallest of v[0..n), k < n, by selection (Hoare's partition):
 * v is reordered so that v[k] holds it and nothing before it is larger. The
 * value is that of a full sort's v[k], in O(n) on average rather than
 * O(n log n): the series of a capture with 100,000 sites have that many
 * medians to take. */
static double
select_kth(double *v, size_t n, size_t k)
{
    ptrdiff_t lo = 0, hi = (ptrdiff_t)n - 1, want = (ptrdiff_t)k;
    while (lo < hi) {
        double pivot = v[lo + (hi - lo) / 2];
        ptrdiff_t i = lo, j = hi;
        while (i <= j) {
            while (v[i] < pivot) {
                i++;
            }
            while (v[j] > pivot) {
                j--;
            }
            if (i <= j) {
                double t = v[i];
                v[i++] = v[j];
                v[j--] = t;
            }
        }
        /* v[lo..j] <= pivot <= v[i..hi]; what lies between equals pivot */
        if (want <= j) {
            hi = j;
        }
        else if (want >= i) {
            lo = i;
        }
        else {
            break;
        }
    }
    return v[want];
}

/* The median of the slopes between every pair of points with distinct x. */
static double
theil_sen(const double *xs, const uint64_t *ys, size_t n, double *slopes)
{
    size_t count = 0;
    for (size_t i = 0; i < n; i++) {
        for (size_t j = i + 1; j < n; j++) {
            if (xs[j] != xs[i]) {
                double dy = (double)((int64_t)ys[j] - (int64_t)ys[i]);
                slopes[count++] = dy / (xs[j] - xs[i]);
            }
        }
    }
    if (count == 0) {
        return 0.0;
    }
    size_t mid = count / 2;
    double upper = select_kth(slopes, count, mid);
    if (count % 2) {
        return upper;
    }
    double lower = slopes[0]; /* the largest of those below mid */
    for (size_t i = 1; i < mid; i++) {
        lower = slopes[i] > lower ? slopes[i] : lower;
    }
    return (lower + upper) / 2;
}

/* One-sided p-value of the Mann-Kendall test for an upward trend, with the tie
 * correction of the variance and a continuity correction. */
static double
mann_kendall_p(const uint64_t *ys, size_t n, double *sorted)
{
    int64_t s = 0;
    for (size_t i = 0; i < n; i++) {
        for (size_t j = i + 1; j < n; j++) {
            s += (ys[j] > ys[i]) - (ys[j] < ys[i]);
        }
    }
    for (size_t i = 0; i < n; i++) {
        sorted[i] = (double)ys[i];
    }
    qsort(sorted, n, sizeof(double), compare_doubles);
    int64_t nn = (int64_t)n, ties = 0;
    for (size_t i = 0; i < n;) {
        size_t k = i;
        while (k < n && sorted[k] == sorted[i]) {
            k++;
        }
        int64_t t = (int64_t)(k - i);
        ties += t * (t - 1) * (2 * t + 5);
        i = k;
    }
    double var = (double)(nn * (nn - 1) * (2 * nn + 5) - ties) / 18;
    if (var <= 0 || s <= 0) {
        return 1.0;
    }
    double z = (double)(s - 1) / sqrt(var);
    return 0.5 * erfc(z / sqrt(2.0));
}

void
lt_trend_classify(const double *xs, const uint64_t *ys, size_t n, double *scratch, lt_trend *out)
{
    if (n < LT_TREND_MIN_POINTS) {
        *out = (lt_trend){LT_TREND_NOISE, 0.0, 0.0};
        return;
    }
    size_t half = (n + 1) / 2;
    size_t start = n - (half > LT_TREND_MIN_POINTS ? half : LT_TREND_MIN_POINTS);
    const double *tx = xs + start;
    const uint64_t *ty = ys + start;
    size_t tn = n - start;
    int flat_tail = 1;
    for (size_t i = 1; i < tn; i++) {
        flat_tail &= ty[i] == ty[0];
    }
    double rate = 0.0, p = 1.0; /* what both give a flat tail */
    if (!flat_tail) {
        rate = theil_sen(tx, ty, tn, scratch);
        p = mann_kendall_p(ty, tn, scratch);
    }
    double tail_rise = rate * (tx[tn - 1] - tx[0]);
    if (rate > 0 && p <= LT_TREND_MAX_P && ty[tn - 1] > ty[0]) {
        *out = (lt_trend){LT_TREND_LEAKING, rate, 1.0 - p};
        return;
    }
    uint64_t most = ys[0], least_tail = ty[0];
    for (size_t i = 0; i < n; i++) {
        most = ys[i] > most ? ys[i] : most;
    }
    for (size_t i = 0; i < tn; i++) {
        least_tail = ty[i] < least_tail ? ty[i] : least_tail;
    }
    uint64_t rise = most - ys[0];
    if (rise > 0 && ys[n - 1] > ys[0] && (double)(ty[tn - 1] - least_tail) <= (double)rise / 2) {
        double share = fabs(tail_rise) / (double)rise;
        *out = (lt_trend){LT_TREND_PLATEAUED, rate, 1.0 - (share < 1.0 ? share : 1.0)};
        return;
    }
    *out = (lt_trend){LT_TREND_NOISE, rate, p};
}
