/* lt_trend.h - the growth class of one site's series of live bytes.
 *
 * The method of docs/growth.md, as leaktrace/reading/growth.py states it in
 * Python (its reference, which the tests compare this with on random series,
 * to the bit): the series is cut to its tail (the later half, at least
 * LT_TREND_MIN_POINTS points); a one-sided Mann-Kendall test says whether
 * the tail keeps rising and a Theil-Sen slope how fast. A site is LEAKING
 * when the rise is significant, PLATEAUED when it grew earlier but its tail
 * no longer does, NOISE otherwise. Every floating-point step is the one the
 * Python code takes (the same operations on the same doubles, erfc from the
 * C library as Python's math.erfc), so both give the same figures.
 *
 * Pure C, no allocation: the caller passes scratch room. Reentrant.
 */
#ifndef LT_TREND_H
#define LT_TREND_H

#include <stddef.h>
#include <stdint.h>

#define LT_TREND_MIN_POINTS 4 /* fewer points than this: NOISE */
#define LT_TREND_MAX_P 0.05   /* the tail's rise must be this unlikely without a trend */

typedef enum {
    LT_TREND_LEAKING = 0,
    LT_TREND_PLATEAUED = 1,
    LT_TREND_NOISE = 2,
} lt_trend_class;

typedef struct {
    lt_trend_class cls;
    double rate;       /* Theil-Sen slope of the tail: bytes per unit of x */
    double confidence; /* 0..1, the strength of the evidence for cls */
} lt_trend;

/* The scratch doubles lt_trend_classify() needs for n points. */
static inline size_t
lt_trend_scratch(size_t n)
{
    return n * (n - 1) / 2 + n;
}

/* Classes ys[0..n) at xs[0..n) (increasing); scratch holds
 * lt_trend_scratch(n) doubles. */
void lt_trend_classify(const double *xs, const uint64_t *ys, size_t n, double *scratch,
                       lt_trend *out);

#endif /* LT_TREND_H */
