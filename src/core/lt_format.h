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
#define LT_FORMAT_MAJOR 1
#define LT_FORMAT_MINOR 0

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
     * site's node id, the first one counted from 0) */
    LT_REC_SNAPSHOT = 0x05,
    /* nfields, then nfields varints in the order of lt_stat_field */
    LT_REC_STATS = 0x06,
    /* nstrings nframes nnodes nsnapshots: the totals, for verification */
    LT_REC_END = 0x07,
    LT_REC_FIRST_OPTIONAL = 0x40,
} lt_record_type;

typedef enum {
    LT_SNAP_INTERVAL = 0, /* taken by a timer */
    LT_SNAP_MARK = 1,     /* taken by the program (leaktrace.mark / snapshot) */
    LT_SNAP_FINAL = 2,    /* taken when tracking stopped */
    LT_SNAP_KIND_COUNT = 3,
} lt_snapshot_kind;

/* Fields of LT_REC_STATS, in encoding order. New fields are appended. */
typedef enum {
    LT_STAT_PEAK_BYTES,           /* highest tracked live heap */
    LT_STAT_TOTAL_BYTES,          /* sum of the sizes of every allocation */
    LT_STAT_TOTAL_ALLOCS,         /* number of allocations (reallocs count) */
    LT_STAT_TOTAL_FREES,          /* frees of tracked blocks */
    LT_STAT_TRACKER_PEAK_BYTES,   /* the tracker's own memory at its peak */
    LT_STAT_DROPPED_ALLOCS,       /* allocations not recorded (tracker OOM) */
    LT_STAT_NO_STACK_ALLOCS,      /* allocations made without the GIL */
    LT_STAT_DURATION_NS,          /* from start to stop */
    LT_STAT_MAX_DEPTH,            /* stack depth limit in force */
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

/* Optional record 0x43: facts about how this process was tracked.
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
