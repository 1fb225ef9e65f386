/* lt_stackcache.c - see lt_stackcache.h. */
#include "record/lt_stackcache.h"

#include <pthread.h>
#include <string.h>

#include "base/lt_rawalloc.h"

/* Initial-exec: a hook reads it with one instruction. */
static __thread lt_stackcache *this_cache __attribute__((tls_model("initial-exec")));

/* Marks a thread whose cache was freed at exit. */
static lt_stackcache exited_cache;

/* The key's destructor frees a thread's cache when the thread exits. Without
 * a key (creation failed), caches of exiting threads are simply not freed. */
static pthread_key_t cache_key;
static int have_cache_key;
static pthread_once_t cache_key_once = PTHREAD_ONCE_INIT;

static size_t
cache_size(int capacity)
{
    return sizeof(lt_stackcache) +
           (size_t)capacity * (2 * sizeof(lt_rawframe) + sizeof(uint32_t));
}

static void
cache_free(lt_stackcache *cache)
{
    if (cache && cache != &exited_cache) {
        lt_raw_free(cache, cache_size(cache->capacity));
    }
}

static void
cache_destructor(void *ptr)
{
    cache_free(ptr);
    this_cache = &exited_cache;
}

static void
make_cache_key(void)
{
    have_cache_key = pthread_key_create(&cache_key, cache_destructor) == 0;
}

lt_stackcache *
lt_stackcache_get(int capacity)
{
    lt_stackcache *cache = this_cache;
    if (cache == &exited_cache) {
        return NULL;
    }
    if (cache && cache->capacity >= capacity) {
        return cache;
    }
    pthread_once(&cache_key_once, make_cache_key);
    lt_stackcache *fresh = lt_raw_malloc(cache_size(capacity));
    if (!fresh) {
        return NULL;
    }
    memset(fresh, 0, sizeof(*fresh));
    fresh->capacity = capacity;
    fresh->cached = (lt_rawframe *)(fresh + 1);
    fresh->walk = fresh->cached + capacity;
    fresh->nodes = (uint32_t *)(fresh->walk + capacity);
    cache_free(cache);
    this_cache = fresh;
    if (have_cache_key) {
        pthread_setspecific(cache_key, fresh);
    }
    return fresh;
}

void
lt_stackcache_forget(lt_stackcache *cache)
{
    memset(cache->sites, 0, sizeof(cache->sites));
    cache->generation = 0;
    cache->depth = 0;
}

int
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
    int limit = depth < cache->depth ? depth : cache->depth;
    int k = 0;
    while (k < limit && stack[k].code == cache->cached[k].code &&
           stack[k].position == cache->cached[k].position) {
        k++;
    }
    return k;
}

static inline lt_site_entry *
site_slot(lt_stackcache *cache, uint32_t parent, const lt_rawframe *frame)
{
    uintptr_t h = (frame->position ^ (frame->code >> 4) ^ ((uintptr_t)parent << 7)) *
                  (uintptr_t)0x9E3779B97F4A7C15ull;
    return &cache->sites[(h >> 40) & (LT_SITE_CACHE_SIZE - 1)];
}

int
lt_stackcache_resolve(lt_stackcache *cache, const lt_rawframe *stack, int depth, int common,
                      int truncated, uint32_t base)
{
    cache->truncated = truncated;
    uint32_t node = lt_stackcache_node_below(cache, common, base);
    int level = common;
    for (; level < depth; level++) {
        const lt_site_entry *e = site_slot(cache, node, &stack[level]);
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

void
lt_stackcache_push(lt_stackcache *cache, int level, const lt_rawframe *frame, uint32_t parent,
                   uint32_t node)
{
    lt_site_entry *e = site_slot(cache, parent, frame);
    e->code = frame->code;
    e->position = frame->position;
    e->parent = parent;
    e->node = node;
    cache->cached[level] = *frame;
    cache->nodes[level] = node;
    cache->depth = level + 1;
}
