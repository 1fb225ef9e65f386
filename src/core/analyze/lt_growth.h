/* lt_growth.h - the verdict on one site's series: leaking, plateaued,
 * transient, noise, or not enough evidence to tell.
 *
 * The one growth classifier of leaktrace (docs/growth.md gives the method,
 * its thresholds and its measured accuracy). A series is a site's live bytes
 * at n points, placed on an x axis of work: the bytes the whole program had
 * allocated by then (a run's snapshots), or the iteration number (check(),
 * the pytest plugin); the seconds of each point give a second rate. The
 * site's own cumulative allocated bytes at each point, when known, tell a
 * site that stopped allocating (a leak whose work ended, a one-off load)
 * from one that still allocates under a bound (a cache that evicts).
 *
 * The tail (the points in the later half of the work, at least
 * LT_GROWTH_MIN_TAIL of them) is tested with a one-sided Mann-Kendall test
 * and its rate measured with a Theil-Sen slope, both robust to a spike, a
 * staircase of reallocations and an early burst (which the tail leaves out).
 *
 * Pure C, no allocation: the caller passes scratch room. Reentrant.
 */
#ifndef LT_GROWTH_H
#define LT_GROWTH_H

#include <stddef.h>
#include <stdint.h>

#define LT_GROWTH_MIN_POINTS 4 /* a site seen at fewer points: INSUFFICIENT */
#define LT_GROWTH_MIN_TAIL 4   /* the tail has at least this many points */
/* A rising tail rose at this many of its points at least: one or two steps
 * (a site born late in one burst) are no trend, whatever the test says. */
#define LT_GROWTH_MIN_RISES 3
/* The tail's rise must be this unlikely without a trend; the stricter
 * threshold applies from LT_GROWTH_STRICT_TAIL tail points on, where a
 * random walk would otherwise make 1 site in 20 "leak". */
#define LT_GROWTH_MAX_P 0.05
#define LT_GROWTH_MAX_P_STRICT 0.01
#define LT_GROWTH_STRICT_TAIL 8
/* A leak that stopped: it rose with its own allocations over at least this
 * share of the work, at this significance, before the site went quiet. */
#define LT_GROWTH_STOPPED_SHARE 0.2
#define LT_GROWTH_STOPPED_MAX_P 0.01
/* Transient: the site ends below this share of its peak, or dropped below it
 * at least LT_GROWTH_SAWTOOTH_DROPS times after rising above it. */
#define LT_GROWTH_RELEASED_SHARE 0.5
#define LT_GROWTH_SAWTOOTH_DROPS 2
/* Bounded from the start: a flat tail (within a quarter of the peak) that
 * never empties, while the site allocated this many times its peak. */
#define LT_GROWTH_CHURN 2.0

typedef enum {
    LT_GROWTH_LEAKING = 0,      /* keeps what it allocates, in proportion to the work */
    LT_GROWTH_PLATEAUED = 1,    /* grew, then stopped: bounded, or a one-off */
    LT_GROWTH_TRANSIENT = 2,    /* in use and released: the end keeps no peak */
    LT_GROWTH_NOISE = 3,        /* no trend */
    LT_GROWTH_INSUFFICIENT = 4, /* not enough evidence: too few points, no work */
    LT_GROWTH_CLASS_COUNT
} lt_growth_class;

/* Why: one reason per class, in the order of the tests. */
typedef enum {
    LT_GROWTH_WHY_TAIL_RISES = 0, /* leaking: the later half of the work keeps rising */
    LT_GROWTH_WHY_STOPPED = 1,    /* leaking: rose with its allocations, then went quiet */
    LT_GROWTH_WHY_BOUNDED = 2,    /* plateaued: still allocates, live stays flat */
    LT_GROWTH_WHY_ONE_OFF = 3,    /* plateaued: grew in a burst, then allocated no more */
    LT_GROWTH_WHY_RELEASED = 4,   /* transient: ends below half its peak */
    LT_GROWTH_WHY_SAWTOOTH = 5,   /* transient: released again and again */
    LT_GROWTH_WHY_FLAT = 6,       /* noise: no significant trend */
    LT_GROWTH_WHY_FEW_POINTS = 7, /* insufficient: seen at fewer than MIN_POINTS points */
    LT_GROWTH_WHY_NO_WORK = 8,    /* insufficient: x does not advance over the series */
    /* plateaued: held by a structure with a bound (heap/lt_holder.h). Not a
     * rule of the series: the reports set it, from the retention records,
     * on a site lt_growth_classify() found leaking or noise. */
    LT_GROWTH_WHY_BOUNDED_HOLDER = 9,
    LT_GROWTH_WHY_COUNT
} lt_growth_reason;

typedef struct {
    size_t n;
    const double *xs;      /* work at each point, non-decreasing */
    const double *seconds; /* time of each point in seconds, or NULL */
    const uint64_t *live;  /* the site's live bytes at each point */
    const uint64_t *alloc; /* the site's cumulative allocated bytes, or NULL */
} lt_growth_series;

typedef struct {
    lt_growth_class cls;
    lt_growth_reason reason;
    double rate;            /* Theil-Sen slope of the stretch judged: bytes per unit of x */
    double rate_per_second; /* the same stretch against seconds; 0 without them */
    double confidence;      /* 0..1, the strength of the evidence for cls */
    uint32_t points;        /* the points at which the site was seen (allocated) */
} lt_growth;

/* The scratch doubles lt_growth_classify() needs for n points. */
static inline size_t
lt_growth_scratch(size_t n)
{
    return n * (n - 1) / 2 + n;
}

/* Classes one series; scratch holds lt_growth_scratch(s->n) doubles. */
void lt_growth_classify(const lt_growth_series *s, double *scratch, lt_growth *out);

/* "leaking", "plateaued", ...; "?" out of range. */
const char *lt_growth_class_name(lt_growth_class cls);

/* "tail-rises", "stopped", ...; "?" out of range. */
const char *lt_growth_reason_name(lt_growth_reason reason);

#endif /* LT_GROWTH_H */
