/* lt_growth.c - see lt_growth.h. */
#include "analyze/lt_growth.h"

#include <math.h>
#include <stddef.h>

/* Moves the k-th smallest of v[0, n) to v[k], with none larger before it
 * and none smaller after (Hoare's selection, as Wirth writes it): linear on
 * average where a sort is O(n log n), and no comparison callback. v holds no
 * NaN. */
static void
select_nth(double *v, size_t n, size_t k)
{
    ptrdiff_t lo = 0, hi = (ptrdiff_t)n - 1, at = (ptrdiff_t)k;
    while (lo < hi) {
        double pivot = v[at];
        ptrdiff_t i = lo, j = hi;
        do {
            while (v[i] < pivot) {
                i++;
            }
            while (pivot < v[j]) {
                j--;
            }
            if (i <= j) {
                double t = v[i];
                v[i] = v[j];
                v[j] = t;
                i++;
                j--;
            }
        } while (i <= j);
        /* v[lo, j] <= pivot <= v[i, hi], and what lies between is pivot. */
        if (j < at) {
            lo = i;
        }
        if (at < i) {
            hi = j;
        }
    }
}

/* The median of v[0, n), n > 0, as the middle of the sorted values (the mean
 * of the two middle ones for an even n); reorders v. */
static double
median(double *v, size_t n)
{
    size_t mid = n / 2;
    select_nth(v, n, mid);
    if (n % 2) {
        return v[mid];
    }
    /* The other middle value is the largest of those before v[mid]. */
    double below = v[0];
    for (size_t i = 1; i < mid; i++) {
        below = v[i] > below ? v[i] : below;
    }
    return (below + v[mid]) / 2;
}

/* The rank-th smallest of `pairs` slopes, nneg negative ones at slopes[0,
 * nneg), npos positive ones at the end, zeros for the others; reorders the
 * group it picks from. */
static double
ranked_slope(double *slopes, size_t pairs, size_t nneg, size_t npos, size_t rank)
{
    if (rank < nneg) {
        select_nth(slopes, nneg, rank);
        return slopes[rank];
    }
    size_t zeros = pairs - nneg - npos;
    if (rank < nneg + zeros) {
        return 0.0;
    }
    double *pos = slopes + pairs - npos;
    select_nth(pos, npos, rank - nneg - zeros);
    return pos[rank - nneg - zeros];
}

/* The median of the slopes between every pair of points [from, to) with
 * distinct x; slopes has room for the pairs. */
static double
theil_sen(const double *xs, const uint64_t *ys, size_t from, size_t to, double *slopes)
{
    /* A flat run (most sites' tails) has only zero slopes, each +0.0 as the
     * pairs would give: neither the work nor the (monotonic) time decreases. */
    size_t flat = from;
    while (flat < to && ys[flat] == ys[from]) {
        flat++;
    }
    if (flat == to) {
        return 0.0;
    }
    int increasing = 1;
    for (size_t i = from; i + 1 < to; i++) {
        increasing &= xs[i + 1] > xs[i];
    }
    if (!increasing) {
        size_t count = 0;
        for (size_t i = from; i < to; i++) {
            for (size_t j = i + 1; j < to; j++) {
                if (xs[j] != xs[i]) {
                    double dy = (double)ys[j] - (double)ys[i];
                    slopes[count++] = dy / (xs[j] - xs[i]);
                }
            }
        }
        return count ? median(slopes, count) : 0.0;
    }
    /* With x increasing, a pair of equal y has the slope +0.0 and any other
     * a slope of its sign (|dy| >= 1): the zeros, most pairs of a series
     * that steps, are counted, not stored, and the middle values picked
     * from the negatives (stored from the start of slopes) or the positives
     * (from the end). The values are those of the sort of every slope. */
    size_t pairs = (to - from) * (to - from - 1) / 2, nneg = 0, npos = 0;
    for (size_t i = from; i < to; i++) {
        for (size_t j = i + 1; j < to; j++) {
            double dy = (double)ys[j] - (double)ys[i];
            if (dy < 0) {
                slopes[nneg++] = dy / (xs[j] - xs[i]);
            }
            else if (dy > 0) {
                slopes[pairs - ++npos] = dy / (xs[j] - xs[i]);
            }
        }
    }
    size_t mid = pairs / 2;
    double at_mid = ranked_slope(slopes, pairs, nneg, npos, mid);
    if (pairs % 2) {
        return at_mid;
    }
    return (ranked_slope(slopes, pairs, nneg, npos, mid - 1) + at_mid) / 2;
}

/* One-sided p-value of the Mann-Kendall test for an upward trend of
 * ys[from, to), with the tie correction of the variance and a continuity
 * correction; 1.0 for a constant run. sorted has room for to - from. */
static double
mann_kendall_p(const uint64_t *ys, size_t from, size_t to, double *sorted)
{
    size_t same = from;
    while (same < to && ys[same] == ys[from]) {
        same++;
    }
    if (same == to) {
        return 1.0; /* a constant run (most sites' tails): S is 0 */
    }
    int64_t s = 0;
    for (size_t i = from; i < to; i++) {
        for (size_t j = i + 1; j < to; j++) {
            s += (ys[j] > ys[i]) - (ys[j] < ys[i]);
        }
    }
    if (s <= 0) {
        return 1.0; /* no upward trend, whatever the variance */
    }
    /* The ties, counted on the values as doubles (two large counters may
     * round to one), sorted by insertion: no worse than the O(n^2) loop above,
     * and linear on the rising runs that get here. */
    size_t n = to - from;
    for (size_t i = 0; i < n; i++) {
        double v = (double)ys[from + i];
        size_t k = i;
        for (; k > 0 && sorted[k - 1] > v; k--) {
            sorted[k] = sorted[k - 1];
        }
        sorted[k] = v;
    }
    double nn = (double)n, ties = 0;
    for (size_t i = 0; i < n;) {
        size_t k = i;
        while (k < n && sorted[k] == sorted[i]) {
            k++;
        }
        double t = (double)(k - i);
        ties += t * (t - 1) * (2 * t + 5);
        i = k;
    }
    double var = (nn * (nn - 1) * (2 * nn + 5) - ties) / 18;
    if (var <= 0) {
        return 1.0;
    }
    double z = (double)(s - 1) / sqrt(var);
    return 0.5 * erfc(z / sqrt(2.0));
}

static double
clamp01(double v)
{
    return v < 0 ? 0 : v > 1 ? 1 : v;
}

/* The rates of [from, to): per unit of x, and per second when known. */
static void
rates(const lt_growth_series *s, size_t from, size_t to, double *scratch, lt_growth *out)
{
    out->rate = theil_sen(s->xs, s->live, from, to, scratch);
    out->rate_per_second = s->seconds ? theil_sen(s->seconds, s->live, from, to, scratch) : 0.0;
}

/* How many times the series fell below `low` after having been above it. */
static size_t
drops_below(const uint64_t *ys, size_t n, double low)
{
    size_t drops = 0;
    int above = 0;
    for (size_t i = 0; i < n; i++) {
        if ((double)ys[i] > low) {
            above = 1;
        }
        else if (above) {
            drops++;
            above = 0;
        }
    }
    return drops;
}

/* Whether ys[start, n) stays within a quarter of peak. */
static int
flat_tail_of(const uint64_t *ys, size_t start, size_t n, uint64_t peak)
{
    uint64_t low = ys[start], high = ys[start];
    for (size_t i = start; i < n; i++) {
        low = ys[i] < low ? ys[i] : low;
        high = ys[i] > high ? ys[i] : high;
    }
    return (double)(high - low) <= (double)peak / 4;
}

/* A leak whose work ended: the site allocated over [first, last] and stayed
 * quiet after; its live bytes rose significantly over that stretch, which
 * spans a good share of the work. Sets out and returns 1 when it is one. */
static int
stopped_leak(const lt_growth_series *s, double *scratch, lt_growth *out)
{
    size_t n = s->n, first = n, last = 0;
    for (size_t i = 1; i < n; i++) {
        if (s->alloc[i] > s->alloc[i - 1]) {
            first = first < n ? first : i - 1;
            last = i;
        }
    }
    if (first >= n || last + 1 >= n || last - first + 1 < LT_GROWTH_MIN_POINTS + 2) {
        return 0; /* never allocated, still allocating at the end, or a burst */
    }
    double span = s->xs[n - 1] - s->xs[0];
    if ((s->xs[last] - s->xs[first]) < LT_GROWTH_STOPPED_SHARE * span) {
        return 0;
    }
    double p = mann_kendall_p(s->live, first, last + 1, scratch);
    if (p > LT_GROWTH_STOPPED_MAX_P || s->live[last] <= s->live[first]) {
        return 0;
    }
    rates(s, first, last + 1, scratch, out);
    if (out->rate <= 0) {
        return 0;
    }
    out->cls = LT_GROWTH_LEAKING;
    out->reason = LT_GROWTH_WHY_STOPPED;
    out->confidence = 1.0 - p;
    return 1;
}

void
lt_growth_classify(const lt_growth_series *s, double *scratch, lt_growth *out)
{
    size_t n = s->n;
    *out = (lt_growth){LT_GROWTH_INSUFFICIENT, LT_GROWTH_WHY_FEW_POINTS, 0.0, 0.0, 0.0, 0};
    size_t seen = 0;
    for (size_t i = 0; i < n && !seen; i++) {
        if (s->alloc ? s->alloc[i] > 0 : s->live[i] > 0) {
            seen = n - i;
        }
    }
    out->points = (uint32_t)seen;
    if (seen < LT_GROWTH_MIN_POINTS) {
        return;
    }
    if (!(s->xs[n - 1] > s->xs[0])) {
        out->reason = LT_GROWTH_WHY_NO_WORK;
        return;
    }
    const uint64_t *ys = s->live;
    uint64_t peak = 0;
    for (size_t i = 0; i < n; i++) {
        peak = ys[i] > peak ? ys[i] : peak;
    }
    /* The tail: the points in the later half of the work. */
    double middle = s->xs[0] + (s->xs[n - 1] - s->xs[0]) / 2;
    size_t start = n - LT_GROWTH_MIN_TAIL;
    while (start > 0 && s->xs[start - 1] >= middle) {
        start--;
    }
    size_t tn = n - start, rises = 0;
    for (size_t i = start + 1; i < n; i++) {
        rises += ys[i] > ys[i - 1];
    }
    double p = mann_kendall_p(ys, start, n, scratch);
    rates(s, start, n, scratch, out);
    double max_p = tn >= LT_GROWTH_STRICT_TAIL ? LT_GROWTH_MAX_P_STRICT : LT_GROWTH_MAX_P;
    if (out->rate > 0 && p <= max_p && ys[n - 1] > ys[start] && rises >= LT_GROWTH_MIN_RISES) {
        out->cls = LT_GROWTH_LEAKING;
        out->reason = LT_GROWTH_WHY_TAIL_RISES;
        out->confidence = 1.0 - p;
        return;
    }
    double low = LT_GROWTH_RELEASED_SHARE * (double)peak;
    if (peak > 0 && (double)ys[n - 1] < low) {
        out->cls = LT_GROWTH_TRANSIENT;
        out->reason = LT_GROWTH_WHY_RELEASED;
        out->confidence = 1.0 - (double)ys[n - 1] / (double)peak;
        return;
    }
    if (peak > 0 && drops_below(ys, n, low) >= LT_GROWTH_SAWTOOTH_DROPS) {
        out->cls = LT_GROWTH_TRANSIENT;
        out->reason = LT_GROWTH_WHY_SAWTOOTH;
        out->confidence = clamp01((double)drops_below(ys, n, low) / (double)(n / 2));
        return;
    }
    uint64_t least_tail = ys[start];
    for (size_t i = start; i < n; i++) {
        least_tail = ys[i] < least_tail ? ys[i] : least_tail;
    }
    uint64_t rise = peak - ys[0];
    int flat_tail = (double)(ys[n - 1] - least_tail) <= (double)rise / 2;
    if (rise > 0 && ys[n - 1] > ys[0] && flat_tail) {
        if (s->alloc && stopped_leak(s, scratch, out)) {
            return;
        }
        double tail_rise = out->rate * (s->xs[n - 1] - s->xs[start]);
        out->cls = LT_GROWTH_PLATEAUED;
        /* Still allocating in the tail and not keeping it: a bound. */
        out->reason = !s->alloc || s->alloc[n - 1] > s->alloc[start] ? LT_GROWTH_WHY_BOUNDED
                                                                     : LT_GROWTH_WHY_ONE_OFF;
        out->confidence = 1.0 - clamp01(fabs(tail_rise) / (double)rise);
        return;
    }
    /* Full before the first point, and churning under its bound since: the
     * tail holds memory throughout and allocated several times its peak. */
    if (s->alloc && least_tail > 0 && flat_tail_of(ys, start, n, peak) &&
        (double)(s->alloc[n - 1] - s->alloc[start]) >= LT_GROWTH_CHURN * (double)peak) {
        out->cls = LT_GROWTH_PLATEAUED;
        out->reason = LT_GROWTH_WHY_BOUNDED;
        double tail_rise = out->rate * (s->xs[n - 1] - s->xs[start]);
        out->confidence = 1.0 - clamp01(fabs(tail_rise) / (double)peak);
        return;
    }
    out->cls = LT_GROWTH_NOISE;
    out->reason = LT_GROWTH_WHY_FLAT;
    out->confidence = p;
}

const char *
lt_growth_class_name(lt_growth_class cls)
{
    static const char *const names[LT_GROWTH_CLASS_COUNT] = {
        "leaking", "plateaued", "transient", "noise", "insufficient",
    };
    return (unsigned)cls < LT_GROWTH_CLASS_COUNT ? names[cls] : "?";
}

const char *
lt_growth_reason_name(lt_growth_reason reason)
{
    static const char *const names[LT_GROWTH_WHY_COUNT] = {
        "tail-rises", "stopped", "bounded",    "one-off", "released",
        "sawtooth",   "flat",    "few-points", "no-work", "bounded-holder",
    };
    return (unsigned)reason < LT_GROWTH_WHY_COUNT ? names[reason] : "?";
}
