/* lt_writer.h - encodes records of the capture format (lt_format.h) into a
 * buffer and writes them to a file.
 *
 * Encoding functions append to the buffer only; lt_writer_flush() performs the
 * write(2) calls, so the tracker can encode under its lock and write outside
 * it. After the first I/O error the writer keeps the errno in `error` and
 * discards further output; the caller reports it once.
 *
 * A writer belongs to the process that opened it: after fork(), a child's
 * flushes are no-ops, so parent and child never interleave in one file.
 * Not thread-safe; the Python module calls it with the GIL held.
 */
#ifndef LT_WRITER_H
#define LT_WRITER_H

#include <stddef.h>
#include <stdint.h>
#include <sys/types.h>

#include "capture/lt_format.h"
#include "record/lt_intern.h"

/* A node's counters as the last snapshot wrote them. */
typedef struct {
    uint64_t live_bytes, live_count, alloc_bytes, alloc_count;
} lt_written_counters;

typedef struct {
    int fd;
    pid_t owner;
    uint8_t *buf;
    size_t len, cap;
    uint32_t strings_done, frames_done, nodes_done; /* definitions already encoded */
    /* Snapshots are deltas: each node's counters as last written (zero for a
     * node never written), 32 bytes a node, compared at snapshot time so that
     * the hooks need not mark what changed. */
    lt_written_counters *written;
    uint32_t written_cap;
    uint64_t snapshots;
    uint64_t bytes_written;
    int error; /* errno of the first failure; 0 while all is well */
} lt_writer;

typedef struct {
    lt_snapshot_kind kind;
    uint64_t time_ns;
    uint32_t label; /* string id, or LT_NO_ID */
    uint64_t heap_bytes;
    uint64_t heap_count;
} lt_snapshot_info;

/* Creates (truncates) the file and encodes the header. Returns 0, or -1 with
 * errno set. */
int lt_writer_open(lt_writer *w, const char *path);

int lt_writer_meta(lt_writer *w, const char *key, size_t key_len, const char *value,
                   size_t value_len);

/* Encodes the strings, frames and nodes defined since the previous call, then
 * a snapshot of the nodes whose counters changed since the previous snapshot
 * (every node that has allocated, for the first one). Call with the tracker's
 * lock held (it reads the node counters). Returns 0 or -1 (memory). */
int lt_writer_snapshot(lt_writer *w, const lt_intern *in, const lt_snapshot_info *info);

/* Encodes an LT_REC_SNAPSHOT_EXTRA record for the last snapshot encoded.
 * Returns 0 or -1 (memory, or no snapshot yet). */
int lt_writer_snapshot_extra(lt_writer *w, uint64_t rss_bytes);
/* Encodes an optional record (type >= LT_REC_FIRST_OPTIONAL) with the given
 * payload. Returns 0 or -1 (memory, or a type below the optional range). */
int lt_writer_record(lt_writer *w, uint8_t type, const uint8_t *payload, size_t len);

int lt_writer_stats(lt_writer *w, const uint64_t *fields, size_t nfields);

/* Encodes an LT_REC_NATIVE_MAP record. Returns 0 or -1 (memory). */
int lt_writer_native_map(lt_writer *w, uint64_t base, uint64_t start, uint64_t end,
                         const char *path, size_t path_len, const uint8_t *build_id,
                         size_t build_id_len);

/* Writes out the buffer. Returns 0, or -1 when the writer is in error. */
int lt_writer_flush(lt_writer *w);

/* Encodes the END record, flushes and closes. Returns 0 or -1 (see error). */
int lt_writer_close(lt_writer *w);

/* Closes without completing the capture and frees the buffer. */
void lt_writer_abandon(lt_writer *w);

/* LT_REC_PROCESS records (lt_format.h). Return 0 or -1 (memory). */
int lt_writer_sampling(lt_writer *w, uint64_t rate, uint64_t count_scale, uint64_t seed);
int lt_writer_parent(lt_writer *w, lt_parent_link how, uint64_t pid, const char *capture,
                     size_t capture_len);
int lt_writer_attached(lt_writer *w);

/* In a forked child: drops the parent's file (closing the child's copy of
 * its descriptor) and what was buffered for it, and opens a new capture at
 * path as lt_writer_open() does. Every string, frame and node is encoded
 * again at the next snapshot, since the new file has none of them. Returns
 * 0, or -1 with errno set (the writer is then closed). */
int lt_writer_reopen(lt_writer *w, const char *path);

#endif /* LT_WRITER_H */
