/* lt_sites.h - the sites of a report, as a capture's snapshots are applied.
 *
 * A site is a node of the trimmed tree (lt_trim). lt_sites keeps, per site,
 * the values every report needs and follows the snapshots of a capture as
 * changes of its nodes' counters (lt_decode hands them out for both format
 * versions), so the work is per change, never per snapshot x stack:
 * - the live and allocated counters at the last snapshot applied, the live
 *   counters at the peak snapshot and at up to LT_SITES_MAX_PICKS picked ones
 *   (a diff's two sides), and the live bytes at the series points (growth),
 *   with the bytes the whole program had allocated at each point (its work);
 * - the live counters of what the trimming policy sums up instead of
 *   listing, by reason;
 * - at the end, the ranking of the live sites and the capture nodes of each.
 * Block counts of a sampled capture (count_scale > 0) are unscaled to whole
 * blocks per capture node before they are added up.
 *
 * Memory: 56 bytes a site, 32 more per pick, 16 per series point of a site that
 * ever held memory (live and allocated bytes) and 16 more per such site, 4 per
 * capture node listed. Functions returning int return 0 or -1 (memory, unless
 * stated). Not thread-safe; one capture per lt_sites.
 */
#ifndef LT_SITES_H
#define LT_SITES_H

#include <stddef.h>
#include <stdint.h>

#include "analyze/lt_trim.h"
#include "capture/lt_decode.h"

#define LT_SITES_MAX_PICKS 2
#define LT_NO_ROW UINT32_MAX
/* Rows of the series written together at a point: 512 contiguous bytes of
 * uint64 (a cache line, or a page, per site and point cost 1.4-1.6 times as
 * much in all on a 200k-stack capture: misses, or a transposition at the end
 * that no longer fits the cache). */
#define LT_SITES_TILE 64

/* A site: the values of one trimmed node (its stack exactly, not its
 * subtree). */
typedef struct {
    uint64_t live_count, live_bytes, alloc_count, alloc_bytes; /* at the last snapshot */
    uint64_t peak_count, peak_bytes;                           /* at the peak snapshot */
    uint32_t first_node; /* the lowest capture node shown here, UINT32_MAX for none */
    uint32_t row;        /* of the growth series, LT_NO_ROW for none */
} lt_asite;

/* A site's live and allocated counters at one snapshot. */
typedef struct {
    uint64_t count, bytes, alloc_count, alloc_bytes;
} lt_alive;

/* A site's bytes as of the last snapshot applied, by series row: what a
 * series point copies, read in row order rather than gathered from sites. */
typedef struct {
    uint64_t live_bytes, alloc_bytes;
} lt_arow;

/* The sites at one picked snapshot. */
typedef struct {
    uint64_t index;  /* into snapshots */
    lt_alive *sites; /* by trimmed node, nsites of them (every site at the end) */
    size_t nsites;
    lt_alive excluded[LT_TRIM_REASON_COUNT]; /* by reason, there */
    uint32_t *ranked; /* trimmed nodes alive there, ranked as lt_analysis.ranked */
    size_t nranked;
} lt_apick;

typedef struct {
    lt_asite *site; /* by trimmed node; nsites of them */
    size_t nsites, cap;
    uint64_t count_scale; /* of a sampled capture's block counts; 0 when not sampled */
    lt_alive excluded[LT_TRIM_REASON_COUNT]; /* by reason, as of the last snapshot */
    lt_apick picks[LT_SITES_MAX_PICKS];
    size_t npicks;
    uint64_t *points; /* snapshot indexes of the series, increasing */
    uint64_t *work;   /* at each point: bytes allocated so far, every node's added up */
    size_t npoints, next_point;
    uint64_t allocated; /* bytes allocated so far, as of the last snapshot applied */
    /* After lt_sites_finish(), at row * npoints + point: a site's live bytes,
     * and its cumulative allocated bytes. Until then rows are kept in tiles of
     * LT_SITES_TILE rows, point-major within a tile (lt_sites.c). Both arrays
     * have room for nrows rounded up to a whole tile. */
    uint64_t *series;
    uint64_t *alloc_series;
    lt_arow *row_now; /* by row, nrows of them */
    size_t nrows, series_cap, alloc_series_cap, row_now_cap;
    size_t series_zeroed; /* leading elements of both series known zero when made */
    /* By tile: the first point that wrote it (earlier ones hold zeros that
     * lt_sites_finish writes without reading them). */
    size_t *tile_from;
    size_t tile_from_cap;
    /* After lt_sites_finish(): the sites alive at the last snapshot, most
     * bytes first, then most blocks, then the lowest capture node; and the
     * capture nodes each site holds (those a snapshot listed), increasing:
     * site g has nodes[nodes_start[g] .. nodes_start[g + 1]). */
    uint32_t *ranked;
    size_t nranked;
    uint32_t *nodes, *nodes_start;
} lt_sites;

/* Starts with no site. Returns 0 or -1. */
int lt_sites_init(lt_sites *s);

/* Resolves picks (negative ones count from the end) and the series points
 * (increasing, or evenly spaced over every snapshot when points is NULL)
 * against nsnapshots. Returns 0, or -1 with a one-line message in error
 * (ERROR_MAX bytes): a pick or a point out of range, or memory. */
int lt_sites_plan(lt_sites *s, const int64_t *picks, size_t npicks, const uint64_t *points,
                  size_t npoints, size_t max_points, uint64_t nsnapshots, const char *path,
                  char *error, size_t error_size);

/* The snapshot indexes a series of max_points takes out of n snapshots:
 * round(i * (n - 1) / (max_points - 1)) for i in 0..max_points-1, rounding
 * halves to even, without repeats (every index when n <= max_points); out
 * has room for max_points. Returns how many were written. */
size_t lt_sites_thin(uint64_t n, size_t max_points, uint64_t *out);

/* Sizes the arrays once, after lt_sites_plan, for a capture of nnodes
 * capture nodes (the first pass counts them), which bounds the trimmed nodes
 * and so the series rows: growth then copies nothing, and the series come
 * from calloc, whose pages the kernel zeroes on first touch, so no tile is
 * zeroed twice. Pages of rows never given are never touched. Only a hint:
 * when memory is short for it, or the capture has more nodes, the arrays
 * grow as sites and rows come. */
void lt_sites_expect(lt_sites *s, uint64_t nnodes);

/* Makes a site for every node of the trimmed tree. */
int lt_sites_grow(lt_sites *s, const lt_trim *t);

/* Applies one snapshot, its changes then what its index means for the peak,
 * the picks and the series. */
int lt_sites_apply(lt_sites *s, const lt_trim *t, const lt_decoder *d, const lt_dsnapshot *snap,
                   uint64_t peak_index);

/* Ranks the sites and lists their nodes, once every snapshot is applied. */
int lt_sites_finish(lt_sites *s, const lt_trim *t, const lt_decoder *d);

void lt_sites_free(lt_sites *s);

#endif /* LT_SITES_H */
