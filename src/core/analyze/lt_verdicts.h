/* lt_verdicts.h - the growth verdict of every site of an analysis, and the
 * order of the leak list the text, JSON and HTML reports show.
 *
 * Made once, after the snapshots of a capture are applied (lt_sites), in one
 * pass over the sites' series: each site with a series row gets
 * lt_growth_classify()'s verdict of that row, on the work axis (megabytes
 * the whole program had allocated at each point) with the points' seconds;
 * a site without a row (it never held memory at a point) is insufficient,
 * for few points, seen at 0 of them. The reports read these columns as they
 * are (by site), or gathered in the leak list's order.
 *
 * The leak list is the leaking sites alive at the last snapshot, fastest
 * first, then the other sites alive then in lt_sites.ranked's order (most
 * bytes first), whatever their class: reading/growth.py's rank_key.
 *
 * The sites are classified in parts on up to LT_VERDICTS_MAX_THREADS threads
 * (one per usable processor, each with at least LT_VERDICTS_SITES_PER_THREAD
 * sites): the verdicts do not depend on the split. The threads live only
 * inside lt_verdicts_make() and block every signal.
 *
 * Memory: 38 bytes a site, 4 a listed site. No Python; not thread-safe, one
 * lt_sites per lt_verdicts. Functions returning int return 0 or -1 (memory).
 */
#ifndef LT_VERDICTS_H
#define LT_VERDICTS_H

#include <stddef.h>
#include <stdint.h>

#include "analyze/lt_sites.h"

#define LT_VERDICTS_MAX_THREADS 4
#define LT_VERDICTS_SITES_PER_THREAD 8192

typedef struct {
    size_t nsites;
    /* By site: */
    uint8_t *cls;            /* lt_growth_class */
    uint8_t *reason;         /* lt_growth_reason */
    double *rate;            /* bytes per MB allocated over the stretch judged */
    double *rate_per_second; /* the same stretch against time */
    double *confidence;      /* 0..1 */
    uint32_t *points;        /* series points at which the site was seen */
    int64_t *total;          /* live bytes at the last point minus at the first */
    uint32_t *order;         /* the leak list: sites, norder of them */
    size_t norder;
} lt_verdicts;

/* Classes every site of s (after lt_sites_finish()) and orders the leak
 * list; seconds holds the time of each of s->npoints series points. */
int lt_verdicts_make(lt_verdicts *v, const lt_sites *s, const double *seconds);

/* lt_verdicts_make() with the sites classified in exactly nparts parts
 * (clamped to 1..LT_VERDICTS_MAX_THREADS), whatever their number: for tests. */
int lt_verdicts_make_split(lt_verdicts *v, const lt_sites *s, const double *seconds,
                           size_t nparts);

void lt_verdicts_free(lt_verdicts *v);

#endif /* LT_VERDICTS_H */
