/* lt_stackcache.h - a thread's memory of its last stack and of the nodes it
 * has met.
 *
 * Most allocations happen under the same stack as the one before, or one that
 * differs only in its innermost frames. A thread keeps its last captured stack
 * (outermost frame first) with the trace-tree node of every prefix, so that
 * the frames it shares with the new stack cost a comparison each, and a small
 * direct-mapped site cache (parent node, raw frame) -> node, so that the
 * frames above the shared prefix are usually resolved without the tracker's
 * lock as well. Node ids are immutable within a session, which is what makes
 * remembering them without a lock sound; the cache is keyed by the session
 * (`generation`) and forgets everything when it changes.
 *
 * Ownership and threads: a cache belongs to its thread and is touched by it
 * only, without a lock. lt_stackcache_get() creates it on first use with
 * lt_rawalloc (never a hooked allocator) and a thread-exit destructor frees
 * it. Pure C: no Python, unit-tested in tests/c/test_stackcache.c.
 */
#ifndef LT_STACKCACHE_H
#define LT_STACKCACHE_H

#include <stdint.h>
#include <string.h>

#include "record/lt_frames.h"

#define LT_SITE_CACHE_SIZE 256 /* a power of two */

typedef struct {
    uintptr_t code, position;
    uint32_t parent, node; /* node 0: empty entry (the root is nobody's child) */
} lt_site_entry;

typedef struct {
    uint32_t generation; /* the session the cached nodes belong to; 0: none */
    int capacity;        /* frames each array holds */
    int depth;           /* levels of cached[] / nodes[] that are valid */
    int truncated;       /* whether the cached stack lies below a truncation marker */
    lt_rawframe *cached; /* [capacity] the last stack, outermost first */
    uint32_t *nodes;     /* [capacity] node of the stack cached[0..i] */
    lt_rawframe *walk;   /* [capacity] scratch for the next walk */
    lt_site_entry sites[LT_SITE_CACHE_SIZE];
} lt_stackcache;

/* The calling thread's cache; initial-exec, read in one instruction. */
extern __thread lt_stackcache *lt_stackcache_this __attribute__((tls_model("initial-exec")));

lt_stackcache *lt_stackcache_get_slow(int capacity);

/* The calling thread's cache with room for capacity frames (a smaller one is
 * replaced, and its contents forgotten). NULL when there is no memory or the
 * thread is exiting (destructors of thread-locals run after ours may still
 * allocate). */
static inline lt_stackcache *
lt_stackcache_get(int capacity)
{
    lt_stackcache *cache = lt_stackcache_this;
    if (cache && cache->capacity >= capacity) {
        return cache;
    }
    return lt_stackcache_get_slow(capacity);
}

/* Forgets every node (they belong to a finished session). */
void lt_stackcache_forget(lt_stackcache *cache);

_Static_assert(sizeof(lt_rawframe) == 2 * sizeof(uintptr_t), "memcmp compares lt_rawframe");

static inline int
lt_stackcache_same_frame(const lt_rawframe *a, const lt_rawframe *b)
{
    return a->code == b->code && a->position == b->position;
}

/* Compares a freshly walked stack (outermost first) with the cached one and
 * returns the length of their common prefix. A cache of another session is
 * reset to session first (and 0 returned). Inline: the hot path.
 *
 * Two stacks in a row usually differ in their innermost frames only, so the
 * frames are compared from the inner end down to the first pair that is
 * equal, and everything below it at once with memcmp (a vector loop in libc,
 * far fewer instructions per frame than a compare of each field); only when
 * that finds a difference further down are the frames compared one by one
 * from the outer end. lt_rawframe has no padding, so memcmp compares exactly
 * its two fields. */
static inline int
lt_stackcache_common(lt_stackcache *cache, const lt_rawframe *stack, int depth, int truncated,
                     uint32_t session)
{
    if (cache->generation != session) {
        lt_stackcache_forget(cache);
        cache->generation = session;
        return 0;
    }
    if (cache->truncated != truncated) {
        return 0;
    }
    const lt_rawframe *cached = cache->cached;
    int limit = depth < cache->depth ? depth : cache->depth;
    int top = limit;
    while (top > 0 && !lt_stackcache_same_frame(&stack[top - 1], &cached[top - 1])) {
        top--;
    }
    /* Levels [top, limit) differ; level top - 1, if any, is equal. */
    if (top <= 1 || memcmp(stack, cached, (size_t)(top - 1) * sizeof(lt_rawframe)) == 0) {
        return top;
    }
    int k = 0;
    while (lt_stackcache_same_frame(&stack[k], &cached[k])) {
        k++; /* stops at a difference below top - 1 */
    }
    return k;
}

static inline lt_site_entry *
lt_stackcache_site(lt_stackcache *cache, uint32_t parent, const lt_rawframe *frame)
{
    uintptr_t h = (frame->position ^ (frame->code >> 4) ^ ((uintptr_t)parent << 7)) *
                  (uintptr_t)0x9E3779B97F4A7C15ull;
    return &cache->sites[(h >> 40) & (LT_SITE_CACHE_SIZE - 1)];
}

/* The node of the stack cached[0..level), or base for level 0. */
static inline uint32_t
lt_stackcache_node_below(const lt_stackcache *cache, int level, uint32_t base)
{
    return level > 0 ? cache->nodes[level - 1] : base;
}

/* Adopts stack[0..common) as the cached prefix and extends it with the levels
 * that the site cache resolves, starting from base (the node below level 0:
 * the root, or the truncation marker). Returns the number of levels resolved;
 * nodes[0..result) holds their nodes. */
static inline int
lt_stackcache_resolve(lt_stackcache *cache, const lt_rawframe *stack, int depth, int common,
                      int truncated, uint32_t base)
{
    cache->truncated = truncated;
    uint32_t node = lt_stackcache_node_below(cache, common, base);
    int level = common;
    for (; level < depth; level++) {
        const lt_site_entry *e = lt_stackcache_site(cache, node, &stack[level]);
        if (e->node == 0 || e->parent != node || e->code != stack[level].code ||
            e->position != stack[level].position) {
            break;
        }
        node = e->node;
        cache->cached[level] = stack[level];
        cache->nodes[level] = node;
    }
    cache->depth = level;
    return level;
}

/* Records that level (which must equal cache->depth) of the cached stack is
 * frame under parent, with node node; the cached stack grows by one level. */
static inline void
lt_stackcache_push(lt_stackcache *cache, int level, const lt_rawframe *frame, uint32_t parent,
                   uint32_t node)
{
    lt_site_entry *e = lt_stackcache_site(cache, parent, frame);
    e->code = frame->code;
    e->position = frame->position;
    e->parent = parent;
    e->node = node;
    cache->cached[level] = *frame;
    cache->nodes[level] = node;
    cache->depth = level + 1;
}

#endif /* LT_STACKCACHE_H */
