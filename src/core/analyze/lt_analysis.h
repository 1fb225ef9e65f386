/* lt_analysis.h - streams through a capture and keeps what every report needs.
 *
 * lt_analysis_run() reads the capture twice through an lt_stream: a first
 * pass reads the snapshot headers only (how many snapshots, which one has
 * the highest tracked heap), the second decodes every record with lt_decode
 * (the decoder lt_reader uses too, so both accept and reject the same files
 * with the same messages) and keeps:
 * - the trace tree (frames, nodes) and its fold into trimmed stacks
 *   (lt_trim: the one trimming policy), each trimmed node being a site;
 * - per site: its live and allocated counters at the last snapshot, its
 *   live counters at the peak snapshot and at up to LT_ANALYSIS_MAX_PICKS
 *   chosen ones (diff), its live bytes at the chosen series points (growth,
 *   with the bytes the whole program had allocated at each point: its work),
 *   and the capture nodes it holds (ties rank by the lowest);
 * - the growth verdict of every site and the leak list (lt_verdicts);
 * - what the policy sums up instead of listing (imports, no Python frame);
 * - one summary per snapshot (the timeline, with the RSS of record 0x42),
 *   meta, stats, process facts, native maps (0x41) and retention (0x40).
 * Its memory is bounded by the distinct stacks (about 150 bytes a capture
 * node with its site, plus 8 bytes a site and series point) and 64 bytes a
 * snapshot, whatever the size of the file or the number of allocation events
 * the capture represents. Snapshots are applied as changes, so a version 2
 * capture costs time in proportion to its size, not to snapshots x stacks.
 *
 * Block counts of a sampled capture are fixed point (docs/sampling.md): they
 * are unscaled to whole blocks per capture node before they are added up,
 * so every report adds the same figures. A capture without its END record
 * analyses as incomplete (complete == 0, valid_size telling how far it
 * reaches). Memory running out is an error like any other ("out of memory
 * while reading the capture").
 *
 * Not thread-safe; one capture per lt_analysis. Runs without Python, so the
 * module may release the GIL around it.
 */
#ifndef LT_ANALYSIS_H
#define LT_ANALYSIS_H

#include <stddef.h>
#include <stdint.h>

#include "analyze/lt_sites.h"
#include "analyze/lt_trim.h"
#include "analyze/lt_verdicts.h"
#include "capture/lt_decode.h"
#include "capture/lt_format.h"

#define LT_ANALYSIS_ERROR_MAX 256

typedef struct {
    size_t offset, len; /* into lt_analysis.text */
} lt_astring;

typedef struct {
    uint64_t seq;
    uint32_t kind;  /* lt_snapshot_kind */
    uint32_t label; /* string id, or UINT32_MAX */
    uint64_t time_ns;
    uint64_t heap_bytes, heap_count;
    int has_rss; /* an LT_REC_SNAPSHOT_EXTRA record followed it */
    uint64_t rss_bytes;
} lt_asnapshot;

/* An LT_REC_NATIVE_MAP record, its bytes in lt_analysis.text. */
typedef struct {
    uint64_t base, start, end;
    lt_astring path, build_id;
} lt_anative_map;

typedef struct {
    lt_rsite *sites;
    size_t nsites, cap;
} lt_asites;

/* Called now and then with the bytes read so far and the bytes to read. */
typedef void (*lt_progress_fn)(void *ctx, uint64_t done, uint64_t total);

typedef struct {
    lt_trim_policy trim;
    /* Snapshots whose site counters to keep (a diff's two sides); negative
     * indexes count from the end. */
    int64_t picks[LT_SITES_MAX_PICKS];
    size_t npicks;
    /* The growth series: live bytes per site at these snapshot indexes
     * (increasing), or, when points is NULL, at max_points snapshots evenly
     * spaced over all of them, the first and the last included (every
     * snapshot when there are no more). max_points 0: no series. */
    const uint64_t *points;
    size_t npoints, max_points;
    /* Keep the sites of snapshot raw_snapshot (negative: from the end) per
     * capture node, untrimmed (`raw`). */
    int raw_pick;
    int64_t raw_snapshot;
    lt_progress_fn progress; /* may be NULL */
    void *progress_ctx;
} lt_analysis_options;

/* A retention record (0x40), with its own copy of the payload. */
typedef struct {
    lt_rretention rec; /* its pointers point into payload */
    uint8_t *payload;
} lt_aretention;

typedef struct {
    unsigned major, minor;
    char *text; /* the bytes of every string and meta entry */
    size_t text_len, text_cap;
    lt_astring *strings;
    size_t nstrings, strings_cap;
    lt_rframe *frames;
    size_t nframes, frames_cap;
    lt_rnode *nodes;
    size_t nnodes, nodes_cap;
    lt_astring *meta; /* key, value, key, value, ... */
    size_t nmeta, meta_cap;
    lt_asnapshot *snapshots;
    size_t nsnapshots, snapshots_cap;
    size_t peak_index; /* into snapshots: the first with the highest heap_bytes */
    lt_asites raw;     /* with raw_pick: sites of snapshot raw_index, per capture node */
    uint64_t raw_index;
    /* LT_PROC_SAMPLING: sample_rate 0 when every allocation was recorded; the
     * block counts of a sampled capture are in units of 1/sample_count_scale. */
    uint64_t sample_rate, sample_count_scale, sample_seed;
    int has_parent;
    unsigned parent_link; /* lt_parent_link */
    uint64_t parent_pid;
    lt_astring parent_capture;
    int attached;
    lt_anative_map *native_maps; /* for symbolizing native frames */
    size_t nnative_maps, native_maps_cap;
    lt_aretention *retention;
    size_t nretention, retention_cap;
    uint64_t stats[LT_STAT_COUNT];
    int has_stats;
    int complete;
    uint64_t valid_size, file_size;

    /* The reports' view: the trimmed tree, a site per trimmed node. */
    lt_trim trim;
    lt_sites sites;
    lt_verdicts verdicts; /* of every site, and the leak list */
    char error[LT_ANALYSIS_ERROR_MAX];
} lt_analysis;

/* Analyses the capture at path. Returns 0, or -1 with a->error set (a pick
 * outside the snapshots is an error too). Either way, lt_analysis_free()
 * releases what was built. */
int lt_analysis_read(lt_analysis *a, const char *path, const lt_analysis_options *options);

void lt_analysis_free(lt_analysis *a);

#endif /* LT_ANALYSIS_H */
