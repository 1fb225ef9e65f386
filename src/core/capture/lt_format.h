/* lt_format.h - the leaktrace capture format, in one place.
 *
 * This header is the contract between the writer (lt_writer.c) and the reader
 * (lt_reader.c); docs/capture-format.md describes the same layout for people.
 *
 *   file    := header record*
 *   header  := magic[8] major:u16le minor:u16le flags:u32le          (16 bytes)
 *   record  := type:u8 length:varint payload[length]
 *
 * Integers inside payloads are unsigned LEB128 varints (at most 10 bytes,
 * value < 2^64) unless stated otherwise; signed values use zigzag encoding.
 * Strings, frames and stack nodes get sequential ids in the order their
 * records appear; a record may only refer to ids defined before it.
 *
 * Record types below LT_REC_FIRST_OPTIONAL must be understood by a reader of
 * the same major version; types at or above it may be skipped by readers that
 * do not know them. A capture is complete when it ends with LT_REC_END;
 * anything else is a partial capture (the process died before stopping).
 */
#ifndef LT_FORMAT_H
#define LT_FORMAT_H

#include <stddef.h>
#include <stdint.h>

#define LT_MAGIC "\x89LTCAP\r\n"
#define LT_MAGIC_SIZE 8
#define LT_HEADER_SIZE 16
/* Version 2 made snapshots deltas (LT_REC_SNAPSHOT below). Readers read
 * every major version from LT_FORMAT_MAJOR_OLDEST to LT_FORMAT_MAJOR. */
#define LT_FORMAT_MAJOR 2
/* Minor 1 added the retention record's HOLDER (readers of 2.0 skip it). */
#define LT_FORMAT_MINOR 1
#define LT_FORMAT_MAJOR_OLDEST 1
#define LT_FORMAT_DELTA_MAJOR 2 /* the first version whose snapshots are deltas */

#define LT_VARINT_MAX_BYTES 10

/* The most frames a recorded stack may have (plus the truncation marker);
 * readers reject deeper node chains. */
#define LT_MAX_STACK_DEPTH 1024

typedef enum {
    /* key:str value:str - facts about the run (python_version, command, ...) */
    LT_REC_META = 0x01,
    /* the payload is the UTF-8 string; ids count from 0 */
    LT_REC_STRING = 0x02,
    /* function:string-id file:string-id line:zigzag; ids count from 0, and
     * frame 0 is always the truncation marker (function "<truncated>") */
    LT_REC_FRAME = 0x03,
    /* parent:node-id frame:frame-id; node 0 is the implicit root (the empty
     * stack) and defined nodes count from 1; parent < own id */
    LT_REC_NODE = 0x04,
    /* seq kind:u8 time_ns label:(string-id + 1, 0 for none)
     * heap_bytes heap_count nsites, then nsites times:
     * node-delta live_count live_bytes alloc_count alloc_bytes
     * (sites sorted by node id; node-delta is the difference to the previous
     * site's node id, the first one counted from 0).
     * Version 2: the sites are the nodes whose counters changed since the
     * previous snapshot of the file (every node that allocated, for the
     * first); a node not listed keeps its counters. Version 1: every node
     * that has allocated; a node not listed has none. */
    LT_REC_SNAPSHOT = 0x05,
    /* nfields, then nfields varints in the order of lt_stat_field */
    LT_REC_STATS = 0x06,
    /* nstrings nframes nnodes nsnapshots: the totals, for verification */
    LT_REC_END = 0x07,
    LT_REC_FIRST_OPTIONAL = 0x40,
    /* optional records, in numeric order: 0x40 LT_REC_RETENTION (below) */
    /* a loaded object, for symbolizing native frames:
     * base:varint start:varint end:varint path:str build_id:str, where str is
     * length:varint bytes. base is the object's load bias (a return address
     * minus base is an address in the ELF file), [start, end) its mapped
     * range, build_id the raw bytes of its GNU build-id note (may be empty).
     * Written at start and at stop; a later record for the same range
     * replaces an earlier one. Optional. */
    LT_REC_NATIVE_MAP = 0x41,
    /* seq rss_bytes: facts about snapshot `seq` beyond the tracked heap; it
     * follows that snapshot's record. rss_bytes is the process's resident
     * set size (/proc/self/statm) when the snapshot was taken. Optional. */
    LT_REC_SNAPSHOT_EXTRA = 0x42,
    /* 0x43 LT_REC_PROCESS (below) */
} lt_record_type;

/* Native frames (leaktrace run --native) are ordinary FRAME records whose
 * file is LT_NATIVE_FILE, whose function is the return address in lowercase
 * hexadecimal with a 0x prefix, and whose line is 0; reports symbolize them
 * with the LT_REC_NATIVE_MAP records. */
#define LT_NATIVE_FILE "<native>"

typedef enum {
    LT_SNAP_INTERVAL = 0, /* taken by a timer */
    LT_SNAP_MARK = 1,     /* taken by the program (leaktrace.mark / snapshot) */
    LT_SNAP_FINAL = 2,    /* taken when tracking stopped */
    LT_SNAP_KIND_COUNT = 3,
} lt_snapshot_kind;

/* Fields of LT_REC_STATS, in encoding order. New fields are appended. */
typedef enum {
    LT_STAT_PEAK_BYTES,         /* highest tracked live heap */
    LT_STAT_TOTAL_BYTES,        /* sum of the sizes of every allocation */
    LT_STAT_TOTAL_ALLOCS,       /* number of allocations (reallocs count) */
    LT_STAT_TOTAL_FREES,        /* frees of tracked blocks */
    LT_STAT_TRACKER_PEAK_BYTES, /* the tracker's own memory at its peak */
    LT_STAT_DROPPED_ALLOCS,     /* allocations not recorded (tracker OOM) */
    LT_STAT_NO_STACK_ALLOCS,    /* allocations made without the GIL */
    LT_STAT_DURATION_NS,        /* from start to stop */
    LT_STAT_MAX_DEPTH,          /* stack depth limit in force */
    LT_STAT_COUNT
} lt_stat_field;

/* Varint encoding, shared by writer, reader and the unit tests. */

/* Writes v at out (room for LT_VARINT_MAX_BYTES); returns bytes written. */
static inline size_t
lt_varint_encode(uint64_t v, uint8_t *out)
{
    size_t n = 0;
    while (v >= 0x80) {
        out[n++] = (uint8_t)(v | 0x80);
        v >>= 7;
    }
    out[n++] = (uint8_t)v;
    return n;
}

/* Reads a varint from [*pos, end). Returns 0 and advances *pos, or -1 when the
 * input ends inside the varint or it does not fit 64 bits. */
static inline int
lt_varint_decode(const uint8_t **pos, const uint8_t *end, uint64_t *v)
{
    const uint8_t *p = *pos;
    uint64_t result = 0;
    for (unsigned shift = 0; shift < 64; shift += 7) {
        if (p >= end) {
            return -1;
        }
        uint8_t byte = *p++;
        if (shift == 63 && byte > 1) {
            return -1;
        }
        result |= (uint64_t)(byte & 0x7f) << shift;
        if (!(byte & 0x80)) {
            *pos = p;
            *v = result;
            return 0;
        }
    }
    return -1;
}

static inline uint64_t
lt_zigzag_encode(int64_t v)
{
    return ((uint64_t)v << 1) ^ (uint64_t)(v >> 63);
}

static inline int64_t
lt_zigzag_decode(uint64_t v)
{
    return (int64_t)(v >> 1) ^ -(int64_t)(v & 1);
}

/* ---- optional record 0x40: retention (why objects are still alive) ----
 *
 *   payload := what:varint body
 *   what 0 SITE     node:node-id path        a surviving object of a site
 *   what 1 SUSPECT  leaked_bytes path        an object retaining leaked memory
 *   what 2 CYCLE    clusters objects bytes nsites (node-id bytes)*nsites path
 *                   unreachable cyclic garbage: `clusters` look-alike groups
 *                   of objects (the same types) with their totals; the sites
 *                   are the few holding the most bytes, most first;
 *                   the path goes once around a cycle of the largest, from
 *                   its first object back to it
 *   what 3 SUMMARY  the varints of lt_retention_summary, in order (a count
 *                   first; later versions append)
 *   what 4 HOLDER   node:node-id kind:varint bound:varint entries:varint path
 *                   what holds the sample object of the SITE record just
 *                   before it (same node): the container on that record's
 *                   path holding the most items (lt_holder.h), of kind
 *                   lt_holder_kind, with its bound when one was read (0:
 *                   none, or unbounded) and the items it held; the path goes
 *                   from the same root to the holder. Written since 2.1;
 *                   readers of 2.0 skip it.
 *
 *   path := root_kind:varint root:string target:string object_bytes
 *           retained_bytes nedges:varint (edge_kind:varint text:string)*nedges
 *
 * root is what holds the path (a module name, a class, a frame); target is the
 * type of the object the path ends at; retained_bytes is what would be freed
 * with it (its subtree in the dominator tree). Edges are in order from the
 * root; nedges is at most LT_MAX_PATH_EDGES. Readers that know this record
 * still skip `what` values they do not know. */
#define LT_REC_RETENTION 0x40
#define LT_MAX_PATH_EDGES 64
#define LT_MAX_PATH_TEXT 256 /* bytes of a root, target or edge text */

typedef enum {
    LT_RET_SITE = 0,
    LT_RET_SUSPECT = 1,
    LT_RET_CYCLE = 2,
    LT_RET_SUMMARY = 3,
    LT_RET_HOLDER = 4,
} lt_retention_what;

/* What holds a site's objects (HOLDER records). The bounded kinds carry the
 * bound read from the structure itself; 0 when it has none. */
typedef enum {
    LT_HOLD_REFERENCE = 0, /* no container on the path: the referrer holds it */
    LT_HOLD_DICT = 1,      /* a dict (or a subclass, OrderedDict...) */
    LT_HOLD_SEQUENCE = 2,  /* a list or tuple */
    LT_HOLD_SET = 3,       /* a set or frozenset */
    LT_HOLD_DEQUE = 4,     /* collections.deque; bound: its maxlen */
    LT_HOLD_LRU_CACHE = 5, /* functools.lru_cache; bound: its maxsize */
    LT_HOLD_RE_CACHE = 6,  /* re's compiled-pattern cache; bound: re._MAXCACHE */
    LT_HOLD_CAPACITY = 7,  /* an object with an int capacity, maxsize or maxlen
                            * keeping the dict; bound: that attribute */
    LT_HOLD_KIND_COUNT = 8,
} lt_holder_kind;

typedef enum {
    LT_ROOT_MODULE = 0,    /* root: the module's name; the path starts in its globals */
    LT_ROOT_CLASS = 1,     /* root: module.qualname of a class; starts in its attributes */
    LT_ROOT_FRAME = 2,     /* root: "function (file:line)" of a live frame; first edge: a local */
    LT_ROOT_EXCEPTION = 3, /* root: the exception a thread is handling (sys.exc_info()) */
    LT_ROOT_EXTERNAL = 4,  /* held from C or by an untracked object; root: its type */
    LT_ROOT_GARBAGE = 5,   /* unreachable cyclic garbage (or retained only by it) */
    LT_ROOT_KIND_COUNT = 6,
} lt_root_kind;

typedef enum {
    LT_EDGE_ATTR = 0,     /* .name: instance or class attribute, slot, module global */
    LT_EDGE_KEY = 1,      /* [key]: the text is the key's repr ('x', 42) or <type> */
    LT_EDGE_INDEX = 2,    /* [i] of a list or tuple */
    LT_EDGE_SET_ITEM = 3, /* an item of a set */
    LT_EDGE_DICT_KEY = 4, /* a key of a dict */
    LT_EDGE_CLOSURE = 5,  /* a closure cell: the text is the free variable's name */
    LT_EDGE_LOCAL = 6,    /* a frame's local variable */
    LT_EDGE_OTHER = 7,    /* described by its text (lru_cache key, __traceback__, ...) */
    LT_EDGE_KIND_COUNT = 8,
} lt_edge_kind;

/* Fields of the SUMMARY record, in encoding order. */
typedef enum {
    LT_RSUM_OBJECTS,        /* nodes of the graph */
    LT_RSUM_EDGES,          /* references between them */
    LT_RSUM_ANALYSIS_BYTES, /* peak memory of the analysis */
    LT_RSUM_DURATION_NS,    /* time of the analysis */
    LT_RSUM_ROOT_BYTES,     /* bytes of objects reachable from a named root */
    LT_RSUM_EXTERNAL_BYTES, /* bytes reachable only from objects held from C */
    LT_RSUM_GARBAGE_BYTES,  /* bytes of unreachable cyclic garbage */
    LT_RSUM_COUNT
} lt_retention_summary;

/* ---- optional record 0x43: process (how this process was tracked) ----
 *
 * Facts about how this process was tracked.
 *   kind:varint, then by kind (readers skip kinds they do not know):
 *   LT_PROC_SAMPLING     rate:varint count_scale:varint seed:varint
 *       allocations were sampled every `rate` bytes on average (lt_sampler.h);
 *       every byte and block counter of the capture holds estimates, block
 *       counts in units of 1/count_scale block.
 *   LT_PROC_PARENT       how:varint (lt_parent_link) pid:varint capture:string
 *       this process is a child of process `pid`, whose capture is `capture`
 *       (as that process named it); `pid` is this capture's parent's pid.
 *   LT_PROC_ATTACHED     (no fields) tracking started in a running process:
 *       blocks allocated before then are not in the capture.
 */
#define LT_REC_PROCESS 0x43

typedef enum {
    LT_PROC_SAMPLING = 0,
    LT_PROC_PARENT = 1,
    LT_PROC_ATTACHED = 2,
} lt_process_fact;

typedef enum {
    LT_LINK_FORK = 0, /* os.fork() and what uses it (multiprocessing fork, forkserver) */
    LT_LINK_EXEC = 1, /* a new interpreter started by the tracked program */
    LT_LINK_KIND_COUNT = 2,
} lt_parent_link;

#endif /* LT_FORMAT_H */
