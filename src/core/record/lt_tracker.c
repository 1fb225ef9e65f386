/* lt_tracker.c - see lt_tracker.h. */
#include "record/lt_tracker.h"

#include <pthread.h>
#include <string.h>
#include <time.h>
#include <unistd.h>

#include "base/lt_rawalloc.h"
#include "record/lt_addrfilter.h"
#include "record/lt_frames.h"
#include "record/lt_hooks.h"
#include "record/lt_intern.h"
#include "record/lt_livetable.h"
#include "record/lt_lock.h"
#include "record/lt_sampler.h"
#include "record/lt_stack.h"
#include "record/lt_unwind.h"

/* ---- state ---- */

/* The session's settings: written by start (GIL) with relaxed atomic stores,
 * read by the hooks with relaxed loads. Hooks can run while they change (RAW
 * hooks of threads without the GIL finishing a call, hooks left beneath
 * another tracer), so a hook reads each once; what it read is checked against
 * the session under the lock before it indexes anything. */
static int max_depth;
static int native_frames;       /* also unwind native frames (native and RAW calls) */
static int filtering;           /* sampling: recorded blocks are in the address filter */
static uint32_t generation;     /* bumped by every start: invalidates thread caches */
static uint32_t truncated_root; /* node of the truncation marker below the root */
static uint64_t start_ns;       /* written by start; read by stop and the snapshots */

static lt_lock TRACKER_LOCK = LT_LOCK_INIT;

/* Protected by TRACKER_LOCK. */
static int active; /* also read without the lock as a hint */
static int have_data;
static lt_livetable live;
static lt_intern intern;
static uint64_t heap_bytes, heap_count;
static uint64_t stats[LT_STAT_COUNT];

#define LOAD(var) __atomic_load_n(&(var), __ATOMIC_RELAXED)
#define STORE(var, value) __atomic_store_n(&(var), (value), __ATOMIC_RELAXED)

static uint64_t
now_ns(void)
{
    struct timespec ts;
    clock_gettime(CLOCK_MONOTONIC, &ts);
    return (uint64_t)ts.tv_sec * 1000000000ull + (uint64_t)ts.tv_nsec;
}

/* ---- recording ---- */

/* Counters add the weight of a block (see lt_sampler.h): its size and 1
 * when every allocation is recorded, estimates when sampling. The live table
 * keeps the true size, from which a free recomputes the same weight. */
static void
record_alloc_unlocked(uintptr_t addr, uint64_t size, uint32_t node)
{
    uint64_t old_size, bytes, count;
    uint32_t old_node;
    int r = lt_livetable_insert(&live, addr, size, node, &old_size, &old_node);
    if (r < 0) {
        stats[LT_STAT_DROPPED_ALLOCS]++;
        return;
    }
    if (r == 1) {
        /* The block's free went unseen; forget the old allocation. */
        lt_sampler_weigh(old_size, &bytes, &count);
        lt_node *old = &intern.nodes[old_node];
        old->live_bytes -= bytes;
        old->live_count -= count;
        heap_bytes -= bytes;
        heap_count -= count;
    }
    else if (filtering) {
        lt_addrfilter_add((const void *)addr);
    }
    lt_sampler_weigh(size, &bytes, &count);
    lt_node *n = &intern.nodes[node];
    n->live_bytes += bytes;
    n->live_count += count;
    n->alloc_bytes += bytes;
    n->alloc_count += count;
    heap_bytes += bytes;
    heap_count += count;
    stats[LT_STAT_TOTAL_BYTES] += bytes;
    stats[LT_STAT_TOTAL_ALLOCS] += count;
    if (heap_bytes > stats[LT_STAT_PEAK_BYTES]) {
        stats[LT_STAT_PEAK_BYTES] = heap_bytes;
    }
}

/* Whether the lock is still held by the session the stack was captured in. */
static inline int
same_session_unlocked(uint32_t session)
{
    return active && session == generation;
}

void
lt_tracker_alloc(lt_origin origin, void *ptr, size_t size)
{
    if (!LOAD(active)) {
        return;
    }
    PyThreadState *tstate = origin == LT_ORIGIN_NATIVE ? lt_frames_thread_tstate()
                            : origin == LT_ORIGIN_RAW  ? lt_frames_attached_tstate()
                                                       : lt_frames_gil_tstate();
    /* Read once: with a single GIL no session can start while a hook holding
     * it runs, but isolated subinterpreters (3.12+) break that assumption,
     * and a stale limit or node id must then not index anything. */
    int depth_limit = LOAD(max_depth);
    uint32_t session = LOAD(generation);
    int unwind = LOAD(native_frames) && origin != LT_ORIGIN_GIL;
    lt_stackcache *cache = tstate || unwind
                               ? lt_stackcache_get(depth_limit +
                                                   (unwind ? LT_UNWIND_MAX_FRAMES : 0))
                               : NULL;
    lt_stack stack;
    if (cache) {
        lt_stack_capture(&stack, cache, tstate, depth_limit, unwind, session,
                         LOAD(truncated_root));
        if (!tstate && stack.depth == 0) {
            cache = NULL; /* no frame of either kind: counted as without a stack */
        }
    }
    lt_lock_acquire(&TRACKER_LOCK);
    if (!active) {
        lt_lock_release(&TRACKER_LOCK);
        return;
    }
    uint32_t node = LT_ROOT_NODE;
    if (cache && session != generation) {
        lt_stackcache_forget(cache); /* its nodes belong to a finished session */
        cache = NULL;
    }
    if (cache && stack.resolved == stack.depth) {
        node = lt_stackcache_node_below(cache, stack.depth, stack.base); /* all cached */
    }
    else if (cache) {
        node = lt_stack_intern_unlocked(&stack, &intern, NULL);
        /* A frame new to the session is described outside the lock. */
        while (node == LT_STACK_UNDESCRIBED) {
            lt_lock_release(&TRACKER_LOCK);
            lt_frame_description desc;
            lt_stack_describe(&stack, &desc);
            lt_lock_acquire(&TRACKER_LOCK);
            if (!same_session_unlocked(session)) {
                lt_lock_release(&TRACKER_LOCK);
                return;
            }
            node = lt_stack_intern_unlocked(&stack, &intern, &desc);
        }
    }
    else {
        stats[LT_STAT_NO_STACK_ALLOCS]++;
    }
    if (node == LT_NO_ID) {
        stats[LT_STAT_DROPPED_ALLOCS]++;
    }
    else {
        record_alloc_unlocked((uintptr_t)ptr, size, node);
    }
    lt_lock_release(&TRACKER_LOCK);
}

void
lt_tracker_forget(void *ptr, lt_forgotten *out)
{
    out->found = 0;
    out->session = LOAD(generation);
    lt_lock_acquire(&TRACKER_LOCK);
    if (have_data && lt_livetable_remove(&live, (uintptr_t)ptr, &out->size, &out->node)) {
        if (filtering) {
            lt_addrfilter_remove(ptr);
        }
        uint64_t bytes, count;
        lt_sampler_weigh(out->size, &bytes, &count);
        lt_node *n = &intern.nodes[out->node];
        n->live_bytes -= bytes;
        n->live_count -= count;
        heap_bytes -= bytes;
        heap_count -= count;
        stats[LT_STAT_TOTAL_FREES] += count;
        out->found = 1;
    }
    lt_lock_release(&TRACKER_LOCK);
}

/* Puts a block back as it was, unless a new session started meanwhile (its
 * node id would mean nothing there). */
static void
restore_block(void *ptr, uint64_t size, uint32_t node, uint32_t session)
{
    lt_lock_acquire(&TRACKER_LOCK);
    if (have_data && session == generation) {
        uint64_t old_size;
        uint32_t old_node;
        int r = lt_livetable_insert(&live, (uintptr_t)ptr, size, node, &old_size, &old_node);
        if (r >= 0) {
            if (r == 0 && filtering) {
                lt_addrfilter_add(ptr);
            }
            uint64_t bytes, count;
            lt_sampler_weigh(size, &bytes, &count);
            intern.nodes[node].live_bytes += bytes;
            intern.nodes[node].live_count += count;
            heap_bytes += bytes;
            heap_count += count;
            stats[LT_STAT_TOTAL_FREES] -= count;
        }
    }
    lt_lock_release(&TRACKER_LOCK);
}

void
lt_tracker_unforget(void *ptr, const lt_forgotten *forgotten)
{
    if (forgotten->found) {
        restore_block(ptr, forgotten->size, forgotten->node, forgotten->session);
    }
}

/* ---- fork ----
 * The lock must not be held by a thread that does not exist in the child.
 * Other prepare handlers may run after ours and allocate (some take the GIL
 * and run Python code), so the forking thread also holds the re-entry guard:
 * its allocations pass through instead of waiting for the lock it holds.
 * A child stops recording (it inherits the parent's tables but not its
 * capture file), so its hooks merely forward until stop() uninstalls them;
 * unless children are followed: then it records on, and the module moves its
 * session to a capture of its own (lt_writer_reopen). */

static int reentrant_before_fork;

static void
before_fork(void)
{
    reentrant_before_fork = lt_hooks_reentrant;
    lt_hooks_reentrant = 1;
    lt_lock_acquire(&TRACKER_LOCK);
}

static void
after_fork_parent(void)
{
    lt_lock_release(&TRACKER_LOCK);
    lt_hooks_reentrant = reentrant_before_fork;
}

static int follow_fork; /* written with the GIL before start; read at fork */

void
lt_tracker_follow_fork(int follow)
{
    follow_fork = follow;
}

static void
after_fork_child(void)
{
    if (!follow_fork) {
        active = 0;
    }
    lt_lock_release(&TRACKER_LOCK);
    lt_hooks_reentrant = reentrant_before_fork;
}

/* ---- sessions ---- */

static void
release_unlocked(void)
{
    if (have_data) {
        lt_livetable_destroy(&live);
        lt_intern_destroy(&intern);
        have_data = 0;
    }
}

lt_start_result
lt_tracker_start(int depth)
{
    static int fork_handlers_installed;
    if (lt_tracker_is_active()) {
        return LT_START_ALREADY_ACTIVE;
    }
    if (depth < 1 || depth > LT_MAX_DEPTH_LIMIT) {
        return LT_START_BAD_DEPTH;
    }
    /* Hooks left installed by a stop() that found another tracer above them
     * still forward to what they wrapped; wrapping that tracer as well would
     * make a loop. */
    if (lt_hooks_buried()) {
        return LT_START_HOOKS_BURIED;
    }
    if (!fork_handlers_installed) {
        if (pthread_atfork(before_fork, after_fork_parent, after_fork_child) != 0) {
            return LT_START_NO_MEMORY;
        }
        fork_handlers_installed = 1;
    }

    lt_lock_acquire(&TRACKER_LOCK);
    release_unlocked();
    lt_lock_release(&TRACKER_LOCK);
    /* No hook reaches the tables until have_data is set below. */
    lt_livetable newlive;
    lt_intern newintern;
    if (lt_livetable_init(&newlive, 1024, LT_LIVE_NURSERY_SLOTS) < 0) {
        return LT_START_NO_MEMORY;
    }
    if (lt_intern_init(&newintern) < 0) {
        lt_livetable_destroy(&newlive);
        return LT_START_NO_MEMORY;
    }
    uint32_t root = lt_intern_node(&newintern, LT_ROOT_NODE, LT_TRUNCATED_FRAME);
    if (root == LT_NO_ID) {
        lt_intern_destroy(&newintern);
        lt_livetable_destroy(&newlive);
        return LT_START_NO_MEMORY;
    }
    int sampling = lt_sampler_rate() != 0;
    if (sampling) {
        lt_addrfilter_clear();
    }
    lt_raw_reset_peak();

    lt_lock_acquire(&TRACKER_LOCK);
    live = newlive;
    intern = newintern;
    memset(stats, 0, sizeof(stats));
    heap_bytes = heap_count = 0;
    stats[LT_STAT_MAX_DEPTH] = (uint64_t)depth;
    STORE(truncated_root, root);
    STORE(max_depth, depth);
    STORE(filtering, sampling);
    STORE(generation, generation + 1);
    STORE(start_ns, now_ns());
    have_data = 1;
    STORE(active, 1);
    lt_lock_release(&TRACKER_LOCK);
    lt_hooks_install(sampling ? LT_HOOKS_SAMPLED : LT_HOOKS_FULL);
    return LT_START_OK;
}

void
lt_tracker_stop(void)
{
    lt_lock_acquire(&TRACKER_LOCK);
    if (active) {
        stats[LT_STAT_DURATION_NS] = now_ns() - start_ns;
    }
    STORE(active, 0);
    lt_lock_release(&TRACKER_LOCK);
    lt_hooks_uninstall();
}

int
lt_tracker_is_active(void)
{
    return __atomic_load_n(&active, __ATOMIC_RELAXED);
}

static void
fill_stats_unlocked(lt_tracker_stats *out)
{
    memcpy(out->fields, stats, sizeof(stats));
    if (active) {
        out->fields[LT_STAT_DURATION_NS] = now_ns() - start_ns;
    }
    out->fields[LT_STAT_TRACKER_PEAK_BYTES] = lt_raw_peak_bytes();
    out->heap_bytes = heap_bytes;
    out->heap_count = heap_count;
    out->tracker_bytes = lt_raw_current_bytes();
    out->nodes = have_data ? intern.nnodes : 0;
    out->frames = have_data ? intern.nframes : 0;
    out->strings = have_data ? intern.nstrings : 0;
}

void
lt_tracker_get_stats(lt_tracker_stats *out)
{
    lt_lock_acquire(&TRACKER_LOCK);
    fill_stats_unlocked(out);
    lt_lock_release(&TRACKER_LOCK);
}

int
lt_tracker_snapshot(lt_writer *writer, lt_snapshot_kind kind, const char *label, size_t label_len)
{
    int result = -1;
    /* The writer's buffer comes from lt_rawalloc, not from a hooked domain,
     * so encoding under the lock cannot re-enter the hooks. */
    lt_lock_acquire(&TRACKER_LOCK);
    if (have_data) {
        lt_snapshot_info info = {kind, now_ns() - start_ns, LT_NO_ID, heap_bytes, heap_count};
        if (label) {
            info.label = lt_intern_string(&intern, label, label_len);
        }
        if (!label || info.label != LT_NO_ID) {
            result = lt_writer_snapshot(writer, &intern, &info);
        }
    }
    lt_lock_release(&TRACKER_LOCK);
    return result;
}

void
lt_tracker_release(void)
{
    if (lt_tracker_is_active()) {
        return;
    }
    lt_lock_acquire(&TRACKER_LOCK);
    release_unlocked();
    lt_lock_release(&TRACKER_LOCK);
}

/* ---- native allocations ---- */

int
lt_tracker_native_enter(void)
{
    if (lt_hooks_reentrant) {
        return 0;
    }
    lt_hooks_reentrant = 1;
    return 1;
}

void
lt_tracker_native_leave(void)
{
    lt_hooks_reentrant = 0;
}

void
lt_tracker_native_alloc(void *ptr, size_t size)
{
    if (lt_sampler_take(size)) {
        lt_tracker_alloc(LT_ORIGIN_NATIVE, ptr, size);
    }
}

void
lt_tracker_native_free(void *ptr)
{
    if (LOAD(filtering) && !lt_addrfilter_maybe(ptr)) {
        return;
    }
    lt_forgotten forgotten;
    lt_tracker_forget(ptr, &forgotten);
}

void
lt_tracker_native_forget(void *ptr, lt_native_forgotten *out)
{
    lt_tracker_forget(ptr, out);
}

void
lt_tracker_native_unforget(void *ptr, const lt_native_forgotten *forgotten)
{
    lt_tracker_unforget(ptr, forgotten);
}

void
lt_tracker_native_unmap(void *addr, size_t len)
{
    if (LOAD(filtering) && !lt_addrfilter_maybe(addr)) {
        return;
    }
    lt_forgotten forgotten;
    lt_tracker_forget(addr, &forgotten);
    if (!forgotten.found) {
        return;
    }
    uint64_t page = (uint64_t)sysconf(_SC_PAGESIZE);
    uint64_t gone = ((uint64_t)len + page - 1) & ~(page - 1);
    if (gone < forgotten.size) {
        restore_block((char *)addr + gone, forgotten.size - gone, forgotten.node,
                      forgotten.session);
    }
}

int
lt_tracker_set_native_frames(int on)
{
    if (lt_tracker_is_active()) {
        return -1;
    }
    if (on && lt_unwind_init() < 0) {
        return -1;
    }
    STORE(native_frames, on);
    return 0;
}

int
lt_tracker_has_data(void)
{
    lt_lock_acquire(&TRACKER_LOCK);
    int result = have_data;
    lt_lock_release(&TRACKER_LOCK);
    return result;
}

int
lt_tracker_block(const void *block, uint64_t *size, uint32_t *node)
{
    lt_lock_acquire(&TRACKER_LOCK);
    int found = have_data && lt_livetable_find(&live, (uintptr_t)block, size, node);
    lt_lock_release(&TRACKER_LOCK);
    return found;
}

size_t
lt_tracker_blocks(uint64_t min_size, lt_live_block *out, size_t max)
{
    size_t n = 0, cursor = 0, end = SIZE_MAX;
    int restarts = 0;
    while (n < max) {
        lt_lock_acquire(&TRACKER_LOCK);
        if (!have_data || (lt_livetable_scan_end(&live) != end && restarts++ < 8)) {
            /* First chunk, or the table was resized since: start again
             * (a few times; then the walk goes on in the new table). */
            cursor = n = 0;
        }
        end = have_data ? lt_livetable_scan_end(&live) : 0;
        if (have_data && lt_livetable_settle(&live, 4096)) {
            /* A resize is draining: its old array moves a chunk at a time (the
             * lock is held for no longer than a scan's chunk), then the walk
             * starts over the settled array. */
            cursor = n = 0;
        }
        else if (cursor < end) {
            n += lt_livetable_scan(&live, &cursor, 4096, min_size, out + n, max - n);
        }
        lt_lock_release(&TRACKER_LOCK);
        if (cursor >= end) {
            break;
        }
    }
    return n;
}

size_t
lt_tracker_read_block(uintptr_t block, void *buf, size_t max)
{
    uint64_t size = 0;
    uint32_t node;
    lt_lock_acquire(&TRACKER_LOCK);
    int found = have_data && lt_livetable_find(&live, block, &size, &node);
    size_t n = found ? (size < max ? (size_t)size : max) : 0;
    memcpy(buf, (const void *)block, n);
    lt_lock_release(&TRACKER_LOCK);
    return n;
}

int
lt_tracker_node_in_file(uint32_t node, const char *prefix)
{
    size_t prefix_len = strlen(prefix);
    int found = 0;
    lt_lock_acquire(&TRACKER_LOCK);
    /* Parents have smaller ids than their children, so the walk ends. */
    while (have_data && node != LT_ROOT_NODE && node < intern.nnodes && !found) {
        const lt_string *file = &intern.strings[intern.frames[intern.nodes[node].frame].file];
        found = file->len >= prefix_len && memcmp(file->ptr, prefix, prefix_len) == 0;
        node = intern.nodes[node].parent;
    }
    lt_lock_release(&TRACKER_LOCK);
    return found;
}
