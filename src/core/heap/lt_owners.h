/* lt_owners.h - which Python object owns each native block: a bounded
 * conservative scan of object memory for pointers into tracked blocks.
 *
 * The blocks are the tracker's live blocks of at least LT_OWNERS_MIN_BLOCK
 * bytes that are neither a graph object's own memory nor a buffer the graph
 * already counts with its object (a list's items, a dict's or set's table):
 * the malloc'd memory of C code, RAW-domain buffers (numpy's data), MEM
 * buffers of extension types (ctypes). For every graph object, the words of
 * its fixed part (tp_basicsize, at most LT_OWNERS_MAX_OBJECT_BYTES, after the
 * reference count and type) that point at or into such a block make the
 * object its owner. Then the blocks found are read in turn, breadth-first,
 * and the blocks they point to get the same owner: a Python proxy owns the
 * native structure behind it (an lxml element the libxml2 tree, a PIL image
 * its lines). Only blocks of at most LT_OWNERS_MAX_READ bytes are read (large
 * blocks are data: array elements, pixels), never whole pages at a page
 * boundary (they may be mmap'd pages that another thread unmaps), and each
 * is copied under
 * TRACKER_LOCK (lt_tracker_read_block) so that a hooked free cannot release
 * it meanwhile.
 *
 * Precision. The scan is conservative: any word whose value falls inside a
 * block counts (the fixed parts of strings, numbers, tuples, frames, code
 * objects, functions and generators are not read: they hold no native
 * pointer, and 3.10's frames keep stale words), so a stale word (a freed pointer left in a struct, an integer
 * that happens to look like an address) can name a false owner, and an
 * interior pointer (a numpy view's data, a pointer to a struct member) owns
 * the whole block. A block reached from several objects goes to the first one
 * scanned (graph order: the collector's objects first), so a shared native
 * block is charged once, to one of its holders. A block that no object's
 * memory points to, directly or through other blocks, has no owner: it is
 * held by native code alone (a C global, a library cache), or only through a
 * block too small or too large to be scanned.
 *
 * Bounds. At most LT_OWNERS_MAX_BLOCKS blocks of the live table (its hash
 * order decides which when there are more; `truncated` is set then) and
 * LT_OWNERS_READ_BUDGET bytes of native memory read. Memory: 24
 * bytes a block plus the per-node native byte counts (8 bytes a node), all
 * counted with the graph (lt_graph_alloc).
 *
 * Same rules as lt_graph.h: GIL held, no Python code run; TRACKER_LOCK is
 * taken per chunk of the live table and per block read.
 */
#ifndef LT_OWNERS_H
#define LT_OWNERS_H

#include <stddef.h>
#include <stdint.h>

#include "heap/lt_graph.h"

#define LT_OWNERS_MIN_BLOCK 64
#define LT_OWNERS_MAX_BLOCKS (1u << 21)
#define LT_OWNERS_MAX_OBJECT_BYTES 4096
#define LT_OWNERS_MAX_READ 4096
#define LT_OWNERS_READ_BUDGET (256ull << 20)

typedef struct {
    uintptr_t addr;
    uint64_t size;
    uint32_t site;  /* trace-tree node that allocated it */
    uint32_t owner; /* graph index of the owning object, LT_GRAPH_NONE when none */
} lt_native_block;

typedef struct {
    lt_native_block *blocks; /* [nblocks] by address */
    uint32_t nblocks;
    uint64_t *native; /* [graph count] bytes of the blocks each object owns; NULL: no scan */
    uint64_t owned_bytes, unowned_bytes;
    uint64_t read_bytes; /* native memory read by the scan */
    uint64_t duration_ns;
    int truncated; /* more blocks than LT_OWNERS_MAX_BLOCKS, or the read budget ran out */
} lt_owners;

/* Scans a finished graph that has tracker data (g->sites). Without it, or
 * when no block qualifies, leaves o empty (native NULL) and returns 0.
 * Returns -1 when memory is short (o is then empty). */
int lt_owners_find(lt_owners *o, lt_graph *g);

void lt_owners_destroy(lt_owners *o, lt_graph *g);

#endif /* LT_OWNERS_H */
