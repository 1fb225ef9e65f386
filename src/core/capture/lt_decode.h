/* lt_decode.h - decodes and validates the records of a capture (lt_format.h).
 *
 * The one place that knows the payload of every record type: the whole-file
 * reader (lt_reader) and the streaming analyser (lt_analysis) both feed their
 * records, in file order, to an lt_decoder and store what it returns. A new
 * record type is added here (and in lt_format.h), once.
 *
 * The decoder trusts nothing: every count and id is checked against the
 * payload's bytes and against the ids defined by earlier records, node chains
 * may not be deeper than LT_MAX_STACK_DEPTH + 1, snapshots come in order, a
 * snapshot extra follows its snapshot, the END record's totals match, and
 * nothing follows END.
 *
 * Snapshots: version 2 captures list only the nodes whose counters changed
 * since the previous snapshot, version 1 captures every node that has
 * allocated. The decoder hides the difference: it keeps every node's counters
 * as of the last snapshot decoded (`sites`, `listed`) and hands out the
 * changes of each snapshot with the counters before and after, whatever the
 * version. Its memory is about 40 bytes a node (the depth, the counters, the
 * listed mark) plus the entries of the largest snapshot record.
 *
 * Decoded records point into the payload they were decoded from (strings,
 * paths) or into the decoder (snapshot sites, valid until the next call):
 * callers copy what they keep beyond that. Not thread-safe; one capture per
 * lt_decoder.
 */
#ifndef LT_DECODE_H
#define LT_DECODE_H

#include <stddef.h>
#include <stdint.h>

#include "capture/lt_format.h"

#define LT_DECODE_ERROR_MAX 256

typedef struct {
    const char *ptr;
    size_t len;
} lt_rstring;

typedef struct {
    uint32_t function, file; /* string ids */
    int64_t line;
} lt_rframe;

typedef struct {
    uint32_t parent, frame; /* node 0 (the root) has frame UINT32_MAX */
    uint32_t depth;         /* frames from the root; 0 for the root */
} lt_rnode;

typedef struct {
    uint32_t node;
    uint64_t live_count, live_bytes, alloc_count, alloc_bytes;
} lt_rsite;

/* An LT_REC_SNAPSHOT record. changed[i] and before[i] are the counters of
 * one node after and before this snapshot, for every node whose counters
 * changed (or that the snapshot lists for the first time), in increasing node
 * order; both point into the decoder. nlisted counts the nodes the snapshot
 * holds in all (lt_decoder.listed). */
typedef struct {
    uint64_t seq;
    uint32_t kind;  /* lt_snapshot_kind */
    uint32_t label; /* string id, or UINT32_MAX */
    uint64_t time_ns;
    uint64_t heap_bytes, heap_count;
    const lt_rsite *changed, *before;
    size_t nchanged;
    size_t nlisted;
} lt_dsnapshot;

/* An LT_REC_NATIVE_MAP record. */
typedef struct {
    uint64_t base, start, end;
    lt_rstring path, build_id;
} lt_rnative_map;

/* A retention record (0x40), validated; its variable parts are decoded again
 * from the pointers below (lt_path_decode for the path). */
typedef struct {
    uint32_t what;        /* lt_retention_what */
    uint32_t node;        /* SITE, HOLDER: the site's node */
    uint32_t kind;        /* HOLDER: lt_holder_kind */
    uint64_t bound;       /* HOLDER: the bound read, 0 for none */
    uint64_t amount;      /* SUSPECT: leaked bytes retained; CYCLE: bytes; HOLDER: entries */
    uint64_t objects;     /* CYCLE: objects */
    uint64_t clusters;    /* CYCLE: look-alike clusters */
    uint32_t nsites;      /* CYCLE: (node, bytes) pairs at sites */
    const uint8_t *sites; /* CYCLE: the pairs */
    const uint8_t *body;  /* the path, or SUMMARY's field count and fields */
    const uint8_t *end;
} lt_rretention;

/* One decoded record: `type` tells which member is set. Types the decoder
 * skips (optional records it does not know, retention kinds it does not know)
 * come back with skipped set and nothing else. */
typedef struct {
    unsigned type;
    int skipped;
    union {
        struct {
            lt_rstring key, value;
        } meta;
        lt_rstring string;
        lt_rframe frame;
        lt_rnode node;
        lt_dsnapshot snapshot;
        struct {
            uint64_t seq, rss_bytes;
        } extra;
        struct {
            uint64_t fields[LT_STAT_COUNT]; /* fields a writer did not write are 0 */
        } stats;
        lt_rnative_map native_map;
        lt_rretention retention;
        struct {
            unsigned kind;                    /* lt_process_fact; a later kind is skipped */
            uint64_t rate, count_scale, seed; /* LT_PROC_SAMPLING */
            unsigned link;                    /* LT_PROC_PARENT: lt_parent_link */
            uint64_t pid;                     /* LT_PROC_PARENT */
            lt_rstring capture;               /* LT_PROC_PARENT */
        } process;
    } u;
} lt_drecord;

typedef struct {
    unsigned major; /* of the capture: how its snapshots are encoded */
    uint64_t nstrings, nframes, nnodes, nsnapshots;
    int last_has_rss; /* the last snapshot already has its extra record */
    int complete;     /* an END record was decoded */
    uint16_t *depths; /* of each node */
    size_t depths_cap;
    /* Per node, as of the last snapshot decoded: its counters (sites[n].node
     * is n) and whether the snapshot holds it (listed[n]); nlisted of them. */
    lt_rsite *sites;
    uint8_t *listed;
    size_t nodes_cap, nlisted;
    /* The entries of the snapshot being decoded and the changes handed out. */
    lt_rsite *entries, *changed, *before;
    size_t entries_cap, changes_cap;
    uint32_t *previous; /* version 1: the nodes the previous snapshot listed */
    size_t nprevious, previous_cap;
    char error[LT_DECODE_ERROR_MAX];
} lt_decoder;

/* Starts with the implicit root node, for a capture of format version major
 * (LT_FORMAT_MAJOR_OLDEST to LT_FORMAT_MAJOR, checked by the caller).
 * Returns 0, or -1 with d->error set. */
int lt_decoder_init(lt_decoder *d, unsigned major);

/* Decodes the record of `type` at file offset `offset`. Returns 0 with *out
 * filled, or -1 with d->error set to a one-line message; the decoder must not
 * be fed after an error. */
int lt_decode_record(lt_decoder *d, unsigned type, const uint8_t *payload, size_t len,
                     uint64_t offset, lt_drecord *out);

void lt_decoder_free(lt_decoder *d);

#endif /* LT_DECODE_H */
