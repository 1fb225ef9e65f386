/* lt_reader.h - reads and validates a capture (lt_format.h).
 *
 * The reader trusts nothing: records are framed here and validated by
 * lt_decode (the decoder shared with lt_analysis), so a corrupt, truncated or
 * hostile file yields an error message, never a crash. Memory use is bounded by a
 * small multiple of the file size (every record costs at least two bytes of
 * input; each snapshot is kept whole, and a capture whose delta snapshots
 * would expand beyond EXPANDED_SITES_PER_BYTE entries a byte is refused).
 *
 * lt_reader_open() reads the file into memory rather than mapping it, so a
 * file truncated by another process meanwhile cannot fault the reader.
 * Strings point into that buffer; everything stays valid until
 * lt_reader_close(). Not thread-safe; one capture per lt_capture.
 */
#ifndef LT_READER_H
#define LT_READER_H

#include <stddef.h>
#include <stdint.h>

#include "capture/lt_decode.h"
#include "capture/lt_format.h"

#define LT_READER_ERROR_MAX 256

/* A snapshot, whole: every node it holds (for version 2 captures, the nodes
 * listed by it or by an earlier snapshot), in increasing node order. */
typedef struct {
    uint64_t seq;
    uint32_t kind;  /* lt_snapshot_kind */
    uint32_t label; /* string id, or UINT32_MAX */
    uint64_t time_ns;
    uint64_t heap_bytes, heap_count;
    lt_rsite *sites;
    size_t nsites;
    int has_rss; /* an LT_REC_SNAPSHOT_EXTRA record followed it */
    uint64_t rss_bytes;
} lt_rsnapshot;

typedef struct {
    lt_rstring key, value;
} lt_rmeta;

typedef struct {
    unsigned major, minor;
    lt_rstring *strings;
    size_t nstrings, strings_cap;
    lt_rframe *frames;
    size_t nframes, frames_cap;
    lt_rnode *nodes;
    size_t nnodes, nodes_cap;
    lt_rsnapshot *snapshots;
    size_t nsnapshots, snapshots_cap;
    lt_rmeta *meta;
    size_t nmeta, meta_cap;
    lt_rnative_map *native_maps;
    size_t nnative_maps, native_maps_cap;
    lt_rretention *retention;
    size_t nretention, retention_cap;
    uint64_t stats[LT_STAT_COUNT];
    int has_stats;
    int complete;          /* ended with a valid END record */
    size_t expanded_sites; /* entries of every snapshot's whole list */
    size_t valid_size;     /* bytes up to the end of the last whole record */
    size_t file_size;
    char error[LT_READER_ERROR_MAX];

    /* LT_REC_PROCESS facts; sample_rate 0 means every allocation was recorded. */
    uint64_t sample_rate, sample_count_scale, sample_seed;
    int has_parent;
    unsigned parent_link; /* lt_parent_link */
    uint64_t parent_pid;
    lt_rstring parent_capture;
    int attached;

    const uint8_t *data; /* the file's bytes: owned by lt_reader_open, else the caller's */
    int owns_data;
} lt_capture;

/* Parses a buffer the caller keeps alive. Returns 0, or -1 with cap->error
 * set. A capture without its END record parses as incomplete (complete == 0,
 * valid_size telling how far it reaches); callers decide whether to accept. */
int lt_reader_parse(lt_capture *cap, const uint8_t *data, size_t size);

/* Reads and parses a file. Returns 0, or -1 with cap->error set. */
int lt_reader_open(lt_capture *cap, const char *path);

void lt_reader_close(lt_capture *cap);

#endif /* LT_READER_H */
