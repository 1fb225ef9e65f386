/* lt_tracker.h - the recorded state of a session, and its start and stop.
 *
 * lt_tracker_start() installs the allocation hooks (lt_hooks.h) on CPython's
 * three allocator domains (PEP 445). Each allocation they report is recorded
 * in the live table with the trace-tree node of the Python stack that made it
 * (lt_stack.h); each free removes its entry; every node keeps live and
 * cumulative counters. Nothing is written to disk here: lt_tracker_snapshot()
 * hands the state to a writer.
 *
 * Locking. TRACKER_LOCK (an lt_lock) protects the live table, the intern
 * tables, the node counters, the statistics and the address filter's counts.
 * A hook takes it once per recorded allocation or free, twice or more only
 * the first time a Python frame is seen in the session: it then describes the
 * frame (PyCode_Addr2Line) between two holds. Under the lock: O(1) work per
 * call (the live table grows and shrinks incrementally, lt_livetable.h), the
 * amortized growth of the intern tables when a new frame, string or node is
 * added (their size is that of the session's distinct stacks, not of the
 * heap), and the encoding of a snapshot (lt_tracker_snapshot). Per-thread
 * stack caches are touched by their own thread only. The session's settings
 * (depth limit, session number, native frames) are written by start with
 * relaxed atomic stores and read by the hooks with relaxed loads, once per
 * call, and checked against the session under the lock. start/stop/snapshot/
 * release require the GIL.
 *
 * The hooks never fail an allocation: when the tracker cannot record one
 * (its own memory exhausted), the allocation is counted as dropped and the
 * program carries on. They never raise and never call into Python code.
 */
#ifndef LT_TRACKER_H
#define LT_TRACKER_H

#include <stddef.h>
#include <stdint.h>

#include "capture/lt_format.h"
#include "capture/lt_writer.h"
#include "record/lt_livetable.h"

#define LT_MAX_DEPTH_LIMIT LT_MAX_STACK_DEPTH

typedef struct {
    uint64_t fields[LT_STAT_COUNT]; /* indexed by lt_stat_field */
    uint64_t heap_bytes;            /* tracked bytes live now */
    uint64_t heap_count;            /* tracked blocks live now */
    uint64_t tracker_bytes;         /* the tracker's own memory now */
    uint64_t nodes, frames, strings;
} lt_tracker_stats;

typedef enum {
    LT_START_OK = 0,
    LT_START_ALREADY_ACTIVE = -1,
    LT_START_NO_MEMORY = -2,
    LT_START_BAD_DEPTH = -3,
    /* Our hooks from an earlier session are still installed beneath another
     * tracer's (started after leaktrace and not stopped since). */
    LT_START_HOOKS_BURIED = -4,
} lt_start_result;

/* Installs the hooks. Any data kept from a previous session is released.
 * Requires the GIL. */
lt_start_result lt_tracker_start(int max_depth);

/* Stops recording and restores the allocators that were in place at start,
 * in every domain where our hooks are still on top (elsewhere they stay in
 * the chain and forward). The recorded state is kept for snapshots and
 * statistics until lt_tracker_release() or the next start. Requires the GIL.
 * Also the way a forked child (which stops recording at fork) uninstalls. */
void lt_tracker_stop(void);

int lt_tracker_is_active(void);

/* Whether a forked child keeps recording (its session is moved to a capture
 * of its own by the module) instead of stopping at fork. Set before start. */
void lt_tracker_follow_fork(int follow);

/* Encodes the current state as a snapshot into the writer (under the lock);
 * the caller flushes. label may be NULL. Returns 0 or -1 (memory). */
int lt_tracker_snapshot(lt_writer *writer, lt_snapshot_kind kind, const char *label,
                        size_t label_len);

void lt_tracker_get_stats(lt_tracker_stats *out);

/* Whether recorded data is held (between a start and the next release). */
int lt_tracker_has_data(void);

/* The size and trace-tree node of a tracked live block that starts at block.
 * Returns 1, or 0 when the block is not tracked (or no data is held). Takes
 * TRACKER_LOCK; callable with the hooks active or stopped. */
int lt_tracker_block(const void *block, uint64_t *size, uint32_t *node);

/* Copies into out (room for max) the tracked live blocks of at least
 * min_size bytes, in table order, and returns how many. The table is walked
 * in chunks of 4096 slots, TRACKER_LOCK taken once per chunk; while the hooks
 * are active a block allocated or freed meanwhile may be missed or appear
 * twice, and one moved from the live table's nursery meanwhile appears twice
 * (a resize starts the walk again). */
size_t lt_tracker_blocks(uint64_t min_size, lt_live_block *out, size_t max);

/* Copies up to max bytes of the tracked live block that starts at block into
 * buf, under TRACKER_LOCK, so that a hooked free cannot release it meanwhile.
 * Returns how many bytes were copied, 0 when the block is not tracked. */
size_t lt_tracker_read_block(uintptr_t block, void *buf, size_t max);

/* Whether a frame of node's stack lies in a file whose name starts with
 * prefix. Takes TRACKER_LOCK. */
int lt_tracker_node_in_file(uint32_t node, const char *prefix);

/* Frees everything recorded. Requires the GIL and a stopped tracker. */
void lt_tracker_release(void);

/* ---- for the hooks (lt_hooks.c, lt_native.c) ---- */

/* Where an allocation comes from, which says how to find its Python stack. */
typedef enum {
    LT_ORIGIN_GIL,    /* MEM and OBJ domains: the caller holds the GIL */
    LT_ORIGIN_RAW,    /* RAW domain: the caller may lack the GIL */
    LT_ORIGIN_NATIVE, /* the malloc family: the calling thread's own stack */
} lt_origin;

/* Records an allocation that is to be recorded (the sampler took it, or
 * every allocation is). Any thread; called inside the re-entry guard. */
void lt_tracker_alloc(lt_origin origin, void *ptr, size_t size);

/* A block forgotten before a realloc or free, to be put back if the realloc
 * fails. */
typedef struct {
    uint64_t size;
    uint32_t node;
    uint32_t session;
    int found;
} lt_forgotten;

void lt_tracker_forget(void *ptr, lt_forgotten *out);
/* Puts back what lt_tracker_forget() found, unless a new session started. */
void lt_tracker_unforget(void *ptr, const lt_forgotten *forgotten);

/* ---- native allocations (called by the hooks of lt_native.c) ----
 * A native hook calls lt_tracker_native_enter() before anything else; when it
 * returns 0 the thread is already inside one of our hooks (a PyMem hook whose
 * allocator called malloc, a signal handler interrupting a hook) and the hook
 * only forwards. Otherwise it calls the real function, reports with one of
 * the functions below, and ends with lt_tracker_native_leave(). They sample
 * as the PyMem hooks do, take TRACKER_LOCK only for what they record, never
 * allocate from a hooked allocator, never call into Python and work with or
 * without the GIL: the stack recorded is the calling thread's own Python stack
 * (empty for threads Python does not know). */
int lt_tracker_native_enter(void);
void lt_tracker_native_leave(void);
void lt_tracker_native_alloc(void *ptr, size_t size);
void lt_tracker_native_free(void *ptr);

typedef lt_forgotten lt_native_forgotten;

void lt_tracker_native_forget(void *ptr, lt_native_forgotten *out);
void lt_tracker_native_unforget(void *ptr, const lt_native_forgotten *forgotten);
/* Whether the native stack (lt_unwind.h) is recorded below the Python one for
 * native allocations and RAW-domain calls, from the next start on. Requires
 * the GIL and a stopped tracker; returns 0, or -1 when unwinding cannot be
 * set up (or the tracker is active). */
int lt_tracker_set_native_frames(int on);

/* munmap(addr, len): forgets the mapping that starts at addr; when only its
 * first pages go, the rest stays recorded at the same site. */
void lt_tracker_native_unmap(void *addr, size_t len);

#endif /* LT_TRACKER_H */
