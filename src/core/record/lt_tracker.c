/* lt_tracker.c - see lt_tracker.h. */
#define PY_SSIZE_T_CLEAN
#include <Python.h>

#include "record/lt_tracker.h"

#include <pthread.h>
#include <string.h>
#include <time.h>
#include <unistd.h>

#include "record/lt_frames.h"
#include "record/lt_intern.h"
#include "record/lt_livetable.h"
#include "record/lt_lock.h"
#include "base/lt_rawalloc.h"
#include "record/lt_sampler.h"
#include "record/lt_unwind.h"

/* ---- state ---- */

typedef struct {
    PyMemAllocatorEx saved; /* the allocator we forward to */
    int may_lack_gil;       /* RAW: the caller may not hold the GIL */
    int native;             /* malloc family: record the caller's own stack */
    int installed;          /* our hooks are in the domain's chain */
} lt_domain;

/* Written with the GIL held while the hooks are not installed; read by hooks. */
static lt_domain domains[3];
static int max_depth;
static int native_frames; /* also unwind native frames (native and RAW calls) */
static uint32_t generation; /* bumped by every start: invalidates thread caches */
static uint32_t truncated_root; /* node of the truncation marker below the root */
static uint64_t start_ns;

static lt_lock TRACKER_LOCK = LT_LOCK_INIT;

/* Protected by TRACKER_LOCK. */
static int active;  /* also read without the lock as a hint */
static int have_data;
static lt_livetable live;
static lt_intern intern;
static uint64_t heap_bytes, heap_count;
static uint64_t stats[LT_STAT_COUNT];

/* Node ids are immutable within a session, so a thread may remember them
 * without the lock: (parent node, raw frame) -> node, direct-mapped. */
#define SITE_CACHE_SIZE 256

typedef struct {
    uintptr_t code, position;
    uint32_t parent, node;
} lt_site_entry;

/* A thread's last captured stack, outermost frame first, with the node of each
 * prefix. Most allocations happen under the stack of the previous one, or one
 * that differs only in the innermost frames; those frames are looked up in the
 * thread's site cache, and only what it misses is interned under the lock.
 * Owned by its thread; freed when the thread exits. */
typedef struct {
    uint32_t generation;
    int capacity;
    int depth;
    int truncated;
    lt_rawframe *cached; /* [capacity] outermost first */
    uint32_t *nodes;     /* [capacity] node of the stack cached[0..i] */
    lt_rawframe *walk;   /* [capacity] scratch: the walk (see lt_frames_walk) */
    lt_site_entry sites[SITE_CACHE_SIZE]; /* valid while generation matches */
} lt_thread;

/* Per-thread, in the initial-exec model: a hook reads them with one
 * instruction. `reentrant` is set while a hook runs the real allocator, whose
 * nested calls into other domains (pymalloc hands large blocks to RAW) are
 * then passed through instead of being recorded twice. */
static __thread int reentrant __attribute__((tls_model("initial-exec")));
static __thread lt_thread *this_thread __attribute__((tls_model("initial-exec")));

/* Marks a thread whose state was freed at exit (destructors of other
 * thread-locals may still allocate): such a thread records empty stacks. */
static lt_thread exited_thread;

/* The key's destructor frees a thread's cache when the thread exits. Without
 * a key (creation failed), caches of exiting threads are simply not freed. */
static pthread_key_t thread_key;
static int have_thread_key;
static pthread_once_t thread_key_once = PTHREAD_ONCE_INIT;

static uint64_t
now_ns(void)
{
    struct timespec ts;
    clock_gettime(CLOCK_MONOTONIC, &ts);
    return (uint64_t)ts.tv_sec * 1000000000ull + (uint64_t)ts.tv_nsec;
}

/* ---- per-thread stack caches ---- */

static size_t
thread_size(int capacity)
{
    return sizeof(lt_thread) + (size_t)capacity * (2 * sizeof(lt_rawframe) + sizeof(uint32_t));
}

static void
thread_free(lt_thread *th)
{
    if (th && th != &exited_thread) {
        lt_raw_free(th, thread_size(th->capacity));
    }
}

static void
thread_destructor(void *ptr)
{
    thread_free(ptr);
    this_thread = &exited_thread;
}

static void
make_thread_key(void)
{
    have_thread_key = pthread_key_create(&thread_key, thread_destructor) == 0;
}

/* Returns the calling thread's cache sized for the current depth limit, or
 * NULL when it cannot have one (no memory, or the thread is exiting). */
static lt_thread *
thread_get(int depth_limit)
{
    lt_thread *th = this_thread;
    if (th == &exited_thread) {
        return NULL;
    }
    if (th && th->capacity >= depth_limit) {
        return th;
    }
    lt_thread *fresh = lt_raw_malloc(thread_size(depth_limit));
    if (!fresh) {
        return NULL;
    }
    memset(fresh, 0, sizeof(*fresh));
    fresh->capacity = depth_limit;
    fresh->cached = (lt_rawframe *)(fresh + 1);
    fresh->walk = fresh->cached + depth_limit;
    fresh->nodes = (uint32_t *)(fresh->walk + depth_limit);
    thread_free(th);
    this_thread = fresh;
    if (have_thread_key) {
        pthread_setspecific(thread_key, fresh);
    }
    return fresh;
}

/* Walks the stack into th->walk and returns it, outermost frame first, with
 * the number of its outermost frames that match the cached stack. No lock:
 * only this thread touches th. */
/* Native frames are raw frames with this code and the return address as
 * their position; no code object lives at address 1. */
#define NATIVE_CODE ((uintptr_t)1)

/* Writes the native frames of the calling thread at out, outermost first,
 * and returns their number (at most LT_UNWIND_MAX_FRAMES). */
static int
append_native_frames(lt_rawframe *out)
{
    uintptr_t pcs[LT_UNWIND_MAX_FRAMES];
    int n = lt_unwind_stack(pcs, LT_UNWIND_MAX_FRAMES);
    for (int i = 0; i < n; i++) {
        out[i].code = NATIVE_CODE;
        out[i].position = pcs[n - 1 - i];
    }
    return n;
}

static const lt_rawframe *
walk_stack(PyThreadState *tstate, lt_thread *th, int depth_limit, int unwind, uint32_t session,
           int *depth, int *truncated, int *common)
{
    /* A thread Python does not know has native frames at most. */
    int n = 0;
    *truncated = 0;
    if (tstate) {
        n = lt_frames_walk(tstate, th->walk, depth_limit, truncated);
    }
    const lt_rawframe *stack = th->walk + depth_limit - n;
    if (unwind) {
        n += append_native_frames(th->walk + depth_limit);
    }
    *depth = n;
    *common = 0;
    if (th->generation != session) {
        memset(th->sites, 0, sizeof(th->sites));
        th->generation = session;
        th->depth = 0;
        return stack;
    }
    if (th->truncated != *truncated) {
        return stack;
    }
    int limit = n < th->depth ? n : th->depth;
    int k = 0;
    while (k < limit && stack[k].code == th->cached[k].code &&
           stack[k].position == th->cached[k].position) {
        k++;
    }
    *common = k;
    return stack;
}

static uint32_t
intern_native_frame_unlocked(uintptr_t pc)
{
    uint32_t id = lt_intern_find_frame(&intern, NATIVE_CODE, pc, 0);
    if (id != LT_NO_ID) {
        return id;
    }
    char hex[2 + 2 * sizeof(uintptr_t)];
    size_t len = 0;
    hex[len++] = '0';
    hex[len++] = 'x';
    int shift = (int)(8 * sizeof(uintptr_t)) - 4;
    while (shift > 0 && !((pc >> shift) & 0xf)) {
        shift -= 4;
    }
    for (; shift >= 0; shift -= 4) {
        hex[len++] = "0123456789abcdef"[(pc >> shift) & 0xf];
    }
    uint32_t function = lt_intern_string(&intern, hex, len);
    uint32_t file = lt_intern_string(&intern, LT_NATIVE_FILE, sizeof(LT_NATIVE_FILE) - 1);
    if (function == LT_NO_ID || file == LT_NO_ID) {
        return LT_NO_ID;
    }
    return lt_intern_add_frame(&intern, NATIVE_CODE, pc, 0, function, file, 0);
}

static uint32_t
intern_frame_unlocked(const lt_rawframe *raw)
{
    if (raw->code == NATIVE_CODE) {
        return intern_native_frame_unlocked(raw->position);
    }
    uint64_t fingerprint = lt_frames_fingerprint(raw);
    uint32_t id = lt_intern_find_frame(&intern, raw->code, raw->position, fingerprint);
    if (id != LT_NO_ID) {
        return id;
    }
    lt_frame_description desc;
    lt_frames_describe(raw, &desc);
    uint32_t function = lt_intern_string(&intern, desc.function, desc.function_len);
    uint32_t file = lt_intern_string(&intern, desc.file, desc.file_len);
    if (function == LT_NO_ID || file == LT_NO_ID) {
        return LT_NO_ID;
    }
    return lt_intern_add_frame(&intern, raw->code, raw->position, fingerprint, function, file,
                               desc.line);
}

static inline lt_site_entry *
site_slot(lt_thread *th, uint32_t parent, const lt_rawframe *raw)
{
    uintptr_t h = (raw->position ^ (raw->code >> 4) ^ ((uintptr_t)parent << 7)) *
                  (uintptr_t)0x9E3779B97F4A7C15ull;
    return &th->sites[(h >> 40) & (SITE_CACHE_SIZE - 1)];
}

/* Extends the thread's cached stack with the walked frames above the common
 * prefix that its site cache knows, without the lock. Returns the number of
 * levels resolved; th->nodes holds their nodes. */
static int
resolve_cached(lt_thread *th, const lt_rawframe *stack, int depth, int common, int truncated)
{
    th->truncated = truncated;
    th->depth = common;
    uint32_t node = common > 0 ? th->nodes[common - 1]
                               : (truncated ? truncated_root : LT_ROOT_NODE);
    int level = common;
    for (; level < depth; level++) {
        const lt_site_entry *e = site_slot(th, node, &stack[level]);
        if (e->node == 0 || e->parent != node || e->code != stack[level].code ||
            e->position != stack[level].position) {
            break;
        }
        node = e->node;
        th->cached[level] = stack[level];
        th->nodes[level] = node;
    }
    th->depth = level;
    return level;
}

/* Interns the levels the site cache missed and returns the stack's node. */
static uint32_t
intern_rest_unlocked(lt_thread *th, const lt_rawframe *stack, int depth, int level)
{
    uint32_t node = level > 0 ? th->nodes[level - 1]
                              : (th->truncated ? truncated_root : LT_ROOT_NODE);
    for (; level < depth; level++) {
        uint32_t frame = intern_frame_unlocked(&stack[level]);
        if (frame == LT_NO_ID) {
            return LT_NO_ID;
        }
        uint32_t parent = node;
        node = lt_intern_node(&intern, parent, frame);
        if (node == LT_NO_ID) {
            return LT_NO_ID;
        }
        lt_site_entry *e = site_slot(th, parent, &stack[level]);
        e->code = stack[level].code;
        e->position = stack[level].position;
        e->parent = parent;
        e->node = node;
        th->cached[level] = stack[level];
        th->nodes[level] = node;
        th->depth = level + 1;
    }
    return node;
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

static void
track_alloc(const lt_domain *domain, void *ptr, size_t size)
{
    if (!__atomic_load_n(&active, __ATOMIC_RELAXED) || !lt_sampler_take(size)) {
        return;
    }
    PyThreadState *tstate = domain->native         ? lt_frames_thread_tstate()
                            : domain->may_lack_gil ? lt_frames_attached_tstate()
                                                   : lt_frames_gil_tstate();
    /* Read once: with a single GIL no session can start while a hook holding
     * it runs, but isolated subinterpreters (3.12+) break that assumption,
     * and a stale limit or node id must then not index anything. */
    int depth_limit = max_depth;
    uint32_t session = generation;
    int unwind = native_frames && (domain->native || domain->may_lack_gil);
    lt_thread *th = tstate || unwind
                        ? thread_get(depth_limit + (unwind ? LT_UNWIND_MAX_FRAMES : 0))
                        : NULL;
    int depth = 0, resolved = 0;
    const lt_rawframe *stack = NULL;
    if (th) {
        int truncated, common;
        stack = walk_stack(tstate, th, depth_limit, unwind, session, &depth, &truncated,
                           &common);
        resolved = resolve_cached(th, stack, depth, common, truncated);
        if (!tstate && depth == 0) {
            th = NULL; /* no frame of either kind: counted as without a stack */
        }
    }
    lt_lock_acquire(&TRACKER_LOCK);
    if (active) {
        uint32_t node;
        if (th && session != generation) {
            th->generation = 0; /* its nodes belong to a finished session */
            th = NULL;
        }
        if (!th) {
            node = LT_ROOT_NODE;
            stats[LT_STAT_NO_STACK_ALLOCS]++;
        }
        else if (resolved == depth) {
            node = depth > 0 ? th->nodes[depth - 1]
                             : (th->truncated ? truncated_root : LT_ROOT_NODE);
        }
        else {
            node = intern_rest_unlocked(th, stack, depth, resolved);
        }
        if (node == LT_NO_ID) {
            stats[LT_STAT_DROPPED_ALLOCS]++;
        }
        else {
            record_alloc_unlocked((uintptr_t)ptr, size, node);
        }
    }
    lt_lock_release(&TRACKER_LOCK);
}

/* Forgets a block. Returns 1 with its size and node when it was tracked. */
static int
track_free(void *ptr, uint64_t *size, uint32_t *node)
{
    int found = 0;
    lt_lock_acquire(&TRACKER_LOCK);
    if (have_data && lt_livetable_remove(&live, (uintptr_t)ptr, size, node)) {
        uint64_t bytes, count;
        lt_sampler_weigh(*size, &bytes, &count);
        lt_node *n = &intern.nodes[*node];
        n->live_bytes -= bytes;
        n->live_count -= count;
        heap_bytes -= bytes;
        heap_count -= count;
        stats[LT_STAT_TOTAL_FREES] += count;
        found = 1;
    }
    lt_lock_release(&TRACKER_LOCK);
    return found;
}

/* Puts back a block whose realloc failed, as it was, unless a new session
 * started meanwhile (its node id would mean nothing there). */
static void
restore_block(void *ptr, uint64_t size, uint32_t node, uint32_t session)
{
    lt_lock_acquire(&TRACKER_LOCK);
    if (have_data && session == generation) {
        uint64_t old_size;
        uint32_t old_node;
        if (lt_livetable_insert(&live, (uintptr_t)ptr, size, node, &old_size, &old_node) >= 0) {
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

/* ---- hooks ----
 * PyMem_SetAllocator() copies the struct without any atomicity, and a RAW
 * caller without the GIL may read the new function with the old ctx. So the
 * hooks ignore ctx: each domain has its own thin wrappers that name their
 * domain, and they are installed with the wrapped allocator's own ctx, so
 * that every mix of old and new fields still calls a consistent pair.
 *
 * Frees forget the block before the real free: once freed, the address can
 * be handed to another thread, whose new entry must not be removed by us. */

static inline void *
do_malloc(lt_domain *domain, size_t size)
{
    if (reentrant) {
        return domain->saved.malloc(domain->saved.ctx, size);
    }
    reentrant = 1;
    void *ptr = domain->saved.malloc(domain->saved.ctx, size);
    if (ptr) {
        track_alloc(domain, ptr, size);
    }
    reentrant = 0;
    return ptr;
}

static inline void *
do_calloc(lt_domain *domain, size_t nelem, size_t elsize)
{
    if (reentrant) {
        return domain->saved.calloc(domain->saved.ctx, nelem, elsize);
    }
    reentrant = 1;
    void *ptr = domain->saved.calloc(domain->saved.ctx, nelem, elsize);
    if (ptr) {
        /* The allocator checked nelem * elsize for overflow. */
        track_alloc(domain, ptr, nelem * elsize);
    }
    reentrant = 0;
    return ptr;
}

static inline void *
do_realloc(lt_domain *domain, void *old, size_t size)
{
    if (reentrant) {
        return domain->saved.realloc(domain->saved.ctx, old, size);
    }
    reentrant = 1;
    uint64_t old_size = 0;
    uint32_t old_node = 0, old_generation = generation;
    int was_tracked = old && track_free(old, &old_size, &old_node);
    void *ptr = domain->saved.realloc(domain->saved.ctx, old, size);
    if (ptr) {
        track_alloc(domain, ptr, size);
    }
    else if (was_tracked) {
        restore_block(old, old_size, old_node, old_generation);
    }
    reentrant = 0;
    return ptr;
}

static inline void
do_free(lt_domain *domain, void *ptr)
{
    if (reentrant || !ptr) {
        domain->saved.free(domain->saved.ctx, ptr);
        return;
    }
    reentrant = 1;
    uint64_t size;
    uint32_t node;
    track_free(ptr, &size, &node);
    domain->saved.free(domain->saved.ctx, ptr);
    reentrant = 0;
}

#define DEFINE_HOOKS(N)                                                                  \
    static void *hook_malloc_##N(void *ctx, size_t size)                                 \
    {                                                                                    \
        (void)ctx;                                                                       \
        return do_malloc(&domains[N], size);                                             \
    }                                                                                    \
    static void *hook_calloc_##N(void *ctx, size_t nelem, size_t elsize)                 \
    {                                                                                    \
        (void)ctx;                                                                       \
        return do_calloc(&domains[N], nelem, elsize);                                    \
    }                                                                                    \
    static void *hook_realloc_##N(void *ctx, void *ptr, size_t size)                     \
    {                                                                                    \
        (void)ctx;                                                                       \
        return do_realloc(&domains[N], ptr, size);                                       \
    }                                                                                    \
    static void hook_free_##N(void *ctx, void *ptr)                                      \
    {                                                                                    \
        (void)ctx;                                                                       \
        do_free(&domains[N], ptr);                                                       \
    }

DEFINE_HOOKS(0)
DEFINE_HOOKS(1)
DEFINE_HOOKS(2)

/* The hooks of each domain, in the order of domain_ids; ctx is filled in
 * from the wrapped allocator when they are installed. */
static const PyMemAllocatorEx hook_table[3] = {
    {NULL, hook_malloc_0, hook_calloc_0, hook_realloc_0, hook_free_0},
    {NULL, hook_malloc_1, hook_calloc_1, hook_realloc_1, hook_free_1},
    {NULL, hook_malloc_2, hook_calloc_2, hook_realloc_2, hook_free_2},
};

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
    reentrant_before_fork = reentrant;
    reentrant = 1;
    lt_lock_acquire(&TRACKER_LOCK);
}

static void
after_fork_parent(void)
{
    lt_lock_release(&TRACKER_LOCK);
    reentrant = reentrant_before_fork;
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
    reentrant = reentrant_before_fork;
}

/* ---- sessions ---- */

static const PyMemAllocatorDomain domain_ids[3] = {PYMEM_DOMAIN_RAW, PYMEM_DOMAIN_MEM,
                                                   PYMEM_DOMAIN_OBJ};

static void
release_unlocked(void)
{
    if (have_data) {
        lt_livetable_destroy(&live);
        lt_intern_destroy(&intern);
        have_data = 0;
    }
}

/* Whether our hooks are what a domain calls first now. */
static int
hooks_on_top(int i)
{
    PyMemAllocatorEx current;
    PyMem_GetAllocator(domain_ids[i], &current);
    return current.malloc == hook_table[i].malloc;
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
    for (int i = 0; i < 3; i++) {
        if (domains[i].installed && !hooks_on_top(i)) {
            return LT_START_HOOKS_BURIED;
        }
    }
    pthread_once(&thread_key_once, make_thread_key);
    if (!fork_handlers_installed) {
        if (pthread_atfork(before_fork, after_fork_parent, after_fork_child) != 0) {
            return LT_START_NO_MEMORY;
        }
        fork_handlers_installed = 1;
    }

    lt_lock_acquire(&TRACKER_LOCK);
    release_unlocked();
    lt_lock_release(&TRACKER_LOCK);
    if (lt_livetable_init(&live, 1024) < 0) {
        return LT_START_NO_MEMORY;
    }
    if (lt_intern_init(&intern) < 0) {
        lt_livetable_destroy(&live);
        return LT_START_NO_MEMORY;
    }
    truncated_root = lt_intern_node(&intern, LT_ROOT_NODE, LT_TRUNCATED_FRAME);
    if (truncated_root == LT_NO_ID) {
        lt_intern_destroy(&intern);
        lt_livetable_destroy(&live);
        return LT_START_NO_MEMORY;
    }
    memset(stats, 0, sizeof(stats));
    heap_bytes = heap_count = 0;
    max_depth = depth;
    stats[LT_STAT_MAX_DEPTH] = (uint64_t)depth;
    generation++;
    lt_raw_reset_peak();
    start_ns = now_ns();

    /* Hooks still installed and on top (a forked child's, say) keep what they
     * wrap; the others wrap what is installed now. */
    for (int i = 0; i < 3; i++) {
        if (!domains[i].installed) {
            PyMem_GetAllocator(domain_ids[i], &domains[i].saved);
            domains[i].may_lack_gil = domain_ids[i] == PYMEM_DOMAIN_RAW;
        }
    }
    lt_lock_acquire(&TRACKER_LOCK);
    have_data = 1;
    active = 1;
    lt_lock_release(&TRACKER_LOCK);
    for (int i = 0; i < 3; i++) {
        if (!domains[i].installed) {
            PyMemAllocatorEx hooks = hook_table[i];
            hooks.ctx = domains[i].saved.ctx;
            PyMem_SetAllocator(domain_ids[i], &hooks);
            domains[i].installed = 1;
        }
    }
    return LT_START_OK;
}

void
lt_tracker_stop(void)
{
    lt_lock_acquire(&TRACKER_LOCK);
    if (active) {
        stats[LT_STAT_DURATION_NS] = now_ns() - start_ns;
    }
    active = 0;
    lt_lock_release(&TRACKER_LOCK);
    /* Restore only where our hooks are on top. Where another tracer has
     * wrapped them, it keeps what it expects and they forward without
     * recording; where the allocators were replaced under us, we cannot tell
     * that from being wrapped, and the hooks count as still installed. */
    for (int i = 0; i < 3; i++) {
        if (domains[i].installed && hooks_on_top(i)) {
            PyMem_SetAllocator(domain_ids[i], &domains[i].saved);
            domains[i].installed = 0;
        }
    }
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
lt_tracker_snapshot(lt_writer *writer, lt_snapshot_kind kind, const char *label,
                    size_t label_len)
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

static lt_domain native_domain = {.native = 1};

int
lt_tracker_native_enter(void)
{
    if (reentrant) {
        return 0;
    }
    reentrant = 1;
    return 1;
}

void
lt_tracker_native_leave(void)
{
    reentrant = 0;
}

void
lt_tracker_native_alloc(void *ptr, size_t size)
{
    track_alloc(&native_domain, ptr, size);
}

void
lt_tracker_native_free(void *ptr)
{
    uint64_t size;
    uint32_t node;
    track_free(ptr, &size, &node);
}

void
lt_tracker_native_forget(void *ptr, lt_native_forgotten *out)
{
    out->session = generation;
    out->found = track_free(ptr, &out->size, &out->node);
}

void
lt_tracker_native_unforget(void *ptr, const lt_native_forgotten *forgotten)
{
    if (forgotten->found) {
        restore_block(ptr, forgotten->size, forgotten->node, forgotten->session);
    }
}

void
lt_tracker_native_unmap(void *addr, size_t len)
{
    uint64_t size;
    uint32_t node;
    uint32_t session = generation;
    if (!track_free(addr, &size, &node)) {
        return;
    }
    uint64_t page = (uint64_t)sysconf(_SC_PAGESIZE);
    uint64_t gone = ((uint64_t)len + page - 1) & ~(page - 1);
    if (gone < size) {
        restore_block((char *)addr + gone, size - gone, node, session);
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
    native_frames = on;
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
    size_t n = 0, cursor = 0, capacity = SIZE_MAX;
    int restarts = 0;
    while (n < max) {
        lt_lock_acquire(&TRACKER_LOCK);
        if (!have_data || (live.mask + 1 != capacity && restarts++ < 8)) {
            /* First chunk, or the table was resized since: start again
             * (a few times; then the walk goes on in the new table). */
            cursor = n = 0;
        }
        capacity = have_data ? live.mask + 1 : 0;
        if (cursor < capacity) {
            n += lt_livetable_scan(&live, &cursor, 4096, min_size, out + n, max - n);
        }
        lt_lock_release(&TRACKER_LOCK);
        if (cursor >= capacity) {
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
