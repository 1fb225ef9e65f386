/* lt_stackcache.c - see lt_stackcache.h. */
#include "record/lt_stackcache.h"

#include <pthread.h>
#include <string.h>

#include "base/lt_rawalloc.h"

__thread lt_stackcache *lt_stackcache_this __attribute__((tls_model("initial-exec")));

/* Marks a thread whose cache was freed at exit (capacity 0: never big enough). */
static lt_stackcache exited_cache;

/* The key's destructor frees a thread's cache when the thread exits. Without
 * a key (creation failed), caches of exiting threads are simply not freed. */
static pthread_key_t cache_key;
static int have_cache_key;
static pthread_once_t cache_key_once = PTHREAD_ONCE_INIT;

static size_t
cache_size(int capacity)
{
    return sizeof(lt_stackcache) + (size_t)capacity * (2 * sizeof(lt_rawframe) + sizeof(uint32_t));
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
    lt_stackcache_this = &exited_cache;
}

static void
make_cache_key(void)
{
    have_cache_key = pthread_key_create(&cache_key, cache_destructor) == 0;
}

lt_stackcache *
lt_stackcache_get_slow(int capacity)
{
    lt_stackcache *cache = lt_stackcache_this;
    if (cache == &exited_cache) {
        return NULL;
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
    lt_stackcache_this = fresh;
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
