/* lt_analysis.h - streams through a capture and keeps what the reports need.
 *
 * The reporters (pprof, folded stacks, speedscope, HTML) need the trace tree
 * (strings, frames, nodes), the sites of two snapshots - the last one and the
 * one with the highest tracked heap - and a one-line summary of every
 * snapshot for the timeline. lt_analysis_run() reads the capture through an
 * lt_stream and keeps exactly that: its memory is bounded by the distinct
 * stacks (the tree, and three site arrays of at most one entry per node) plus
 * 64 bytes per snapshot, whatever the size of the file or the number of
 * allocation events the capture represents.
 *
 * Records are validated by lt_decode, the decoder lt_reader uses too, so
 * both accept and reject the same files with the same messages. Native maps
 * (0x41) and each snapshot's RSS (0x42) are kept for the reports; retention
 * records (0x40) are validated and dropped (the JSON report carries them). A capture without its END record analyses as incomplete
 * (complete == 0, valid_size telling how far it reaches).
 *
 * Not thread-safe; one capture per lt_analysis. Runs without Python, so the
 * module may release the GIL around it.
 */
#ifndef LT_ANALYSIS_H
#define LT_ANALYSIS_H

#include <stddef.h>
#include <stdint.h>

#include "capture/lt_format.h"
#include "capture/lt_decode.h"

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

/* Called now and then with the bytes read so far and the file's size. */
typedef void (*lt_progress_fn)(void *ctx, uint64_t done, uint64_t total);

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
    lt_asites last;    /* sites of the last snapshot */
    lt_asites peak;    /* sites of the first snapshot with the highest heap_bytes */
    size_t peak_index; /* into snapshots */
    /* LT_PROC_SAMPLING: sample_rate 0 when every allocation was recorded; the
     * block counts of a sampled capture are in units of 1/sample_count_scale. */
    uint64_t sample_rate, sample_count_scale;
    lt_anative_map *native_maps; /* for symbolizing native frames */
    size_t nnative_maps, native_maps_cap;
    uint64_t stats[LT_STAT_COUNT];
    int has_stats;
    int complete;
    uint64_t valid_size, file_size;
    char error[LT_ANALYSIS_ERROR_MAX];
} lt_analysis;

/* Analyses the capture at path. progress may be NULL. Returns 0, or -1 with
 * a->error set. Either way, lt_analysis_free() releases what was built. */
int lt_analysis_run(lt_analysis *a, const char *path, lt_progress_fn progress,
                    void *progress_ctx);

void lt_analysis_free(lt_analysis *a);

#endif /* LT_ANALYSIS_H */
