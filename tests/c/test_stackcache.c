/* test_stackcache.c - a thread's stack cache (lt_stackcache.h) and the
 * address filter of sampled blocks (lt_addrfilter.h). */
#include <pthread.h>

#include "base/lt_rawalloc.h"
#include "check.h"
#include "record/lt_addrfilter.h"
#include "record/lt_stackcache.h"

#define BASE 0u /* the root node */

static lt_rawframe
frame(uintptr_t code, uintptr_t position)
{
    lt_rawframe f = {code, position};
    return f;
}

/* Interns stack[from..depth) as a tracker would, with node ids next, next+1... */
static uint32_t
push_rest(lt_stackcache *c, const lt_rawframe *stack, int from, int depth, uint32_t next)
{
    uint32_t node = lt_stackcache_node_below(c, from, BASE);
    for (int level = from; level < depth; level++) {
        uint32_t parent = node;
        node = next++;
        lt_stackcache_push(c, level, &stack[level], parent, node);
    }
    return node;
}

static void
test_stackcache_common_prefix_body(void)
{
    lt_stackcache *c = lt_stackcache_get(8);
    CHECK(c != NULL);
    CHECK(c->capacity >= 8);
    lt_rawframe a[4] = {frame(0x1000, 2), frame(0x2000, 4), frame(0x3000, 6), frame(0x4000, 8)};
    /* A new session knows nothing. */
    CHECK_I64(lt_stackcache_common(c, a, 4, 0, 7), ==, 0);
    CHECK_I64(lt_stackcache_resolve(c, a, 4, 0, 0, BASE), ==, 0);
    CHECK_U64(push_rest(c, a, 0, 4, 10), ==, 13);
    /* The same stack: all of it is shared. */
    CHECK_I64(lt_stackcache_common(c, a, 4, 0, 7), ==, 4);
    CHECK_I64(lt_stackcache_resolve(c, a, 4, 4, 0, BASE), ==, 4);
    CHECK_U64(c->nodes[3], ==, 13);
    /* The innermost frame moved to another instruction. */
    lt_rawframe b[4] = {a[0], a[1], a[2], frame(0x4000, 10)};
    CHECK_I64(lt_stackcache_common(c, b, 4, 0, 7), ==, 3);
    CHECK_I64(lt_stackcache_resolve(c, b, 4, 3, 0, BASE), ==, 3);
    CHECK_U64(push_rest(c, b, 3, 4, 20), ==, 20);
    CHECK_U64(c->nodes[2], ==, 12);
    /* A shorter stack shares what it has. */
    CHECK_I64(lt_stackcache_common(c, a, 2, 0, 7), ==, 2);
    /* Truncation changes the base: nothing is shared. */
    CHECK_I64(lt_stackcache_common(c, a, 4, 1, 7), ==, 0);
    /* Another session forgets everything. */
    CHECK_I64(lt_stackcache_common(c, b, 4, 0, 8), ==, 0);
    CHECK_I64(lt_stackcache_resolve(c, b, 4, 0, 0, BASE), ==, 0);
    CHECK_U64(c->generation, ==, 8);
}

/* Frames above the common prefix come from the site cache. */
static void
test_stackcache_sites_resolve_without_interning_body(void)
{
    lt_stackcache *c = lt_stackcache_get(8);
    lt_rawframe a[3] = {frame(0x1000, 2), frame(0x2000, 4), frame(0x3000, 6)};
    lt_rawframe b[3] = {frame(0x1000, 2), frame(0x5000, 4), frame(0x6000, 6)};
    CHECK_I64(lt_stackcache_common(c, a, 3, 0, 21), ==, 0);
    lt_stackcache_resolve(c, a, 3, 0, 0, BASE);
    push_rest(c, a, 0, 3, 100); /* nodes 100 101 102 */
    CHECK_I64(lt_stackcache_common(c, b, 3, 0, 21), ==, 1);
    CHECK_I64(lt_stackcache_resolve(c, b, 3, 1, 0, BASE), ==, 1);
    push_rest(c, b, 1, 3, 200); /* nodes 100 200 201 */
    /* Back to a: only its outermost frame is common with b, the site cache
     * knows the rest. */
    CHECK_I64(lt_stackcache_common(c, a, 3, 0, 21), ==, 1);
    CHECK_I64(lt_stackcache_resolve(c, a, 3, 1, 0, BASE), ==, 3);
    CHECK_U64(c->nodes[1], ==, 101);
    CHECK_U64(c->nodes[2], ==, 102);
    CHECK_I64(c->depth, ==, 3);
    /* The same frame under another parent is another site. */
    lt_rawframe d[2] = {frame(0x9000, 2), frame(0x2000, 4)};
    CHECK_I64(lt_stackcache_common(c, d, 2, 0, 21), ==, 0);
    CHECK_I64(lt_stackcache_resolve(c, d, 2, 0, 0, BASE), ==, 0);
    /* Forgetting drops the sites too. */
    lt_stackcache_forget(c);
    CHECK_I64(lt_stackcache_common(c, a, 3, 0, 21), ==, 0);
    CHECK_I64(lt_stackcache_resolve(c, a, 3, 0, 0, BASE), ==, 0);
}

/* Many distinct sites: a direct-mapped cache evicts, and never answers wrong. */
static void
test_stackcache_evictions_never_wrong_body(void)
{
    lt_stackcache *c = lt_stackcache_get(4);
    enum { N = 4 * LT_SITE_CACHE_SIZE };
    CHECK_I64(lt_stackcache_common(c, c->walk, 0, 0, 33), ==, 0);
    for (uint32_t i = 0; i < N; i++) {
        lt_rawframe f = frame(0x10000 + 64 * (uintptr_t)i, 2 * (uintptr_t)i);
        lt_stackcache_resolve(c, &f, 1, 0, 0, BASE);
        if (c->depth == 0) {
            lt_stackcache_push(c, 0, &f, BASE, 1000 + i);
        }
    }
    unsigned hits = 0;
    for (uint32_t i = 0; i < N; i++) {
        lt_rawframe f = frame(0x10000 + 64 * (uintptr_t)i, 2 * (uintptr_t)i);
        if (lt_stackcache_resolve(c, &f, 1, 0, 0, BASE) == 1) {
            CHECK_U64(c->nodes[0], ==, 1000 + i);
            hits++;
        }
    }
    CHECK(hits > 0);
    CHECK(hits <= LT_SITE_CACHE_SIZE);
}

static void *
thread_main(void *arg)
{
    lt_stackcache *c = lt_stackcache_get(16);
    *(int *)arg = c != NULL && c->capacity >= 16;
    return NULL;
}

/* A bigger limit replaces the cache; an exiting thread frees its own. */
static void
test_stackcache_per_thread_and_freed_at_exit_body(void)
{
    lt_stackcache *small = lt_stackcache_get(4);
    CHECK(lt_stackcache_get(2) == small);
    lt_stackcache *big = lt_stackcache_get(4096);
    CHECK(big != NULL);
    CHECK(big->capacity >= 4096);
    CHECK(lt_stackcache_get(64) == big);
    size_t before = lt_raw_current_bytes();
    for (int i = 0; i < 4; i++) {
        pthread_t thread;
        int ok = 0;
        CHECK(pthread_create(&thread, NULL, thread_main, &ok) == 0);
        pthread_join(thread, NULL);
        CHECK(ok);
    }
    CHECK_U64(lt_raw_current_bytes(), ==, before);
    CHECK(lt_stackcache_get(4) == big); /* keeps the big one */
}

/* The common prefix is what a compare of frame after frame from the outer
 * end finds, wherever the stacks differ and however deep they are. */
static void
test_stackcache_common_matches_frame_by_frame_body(void)
{
    enum { CAP = 12 };
    lt_stackcache *c = lt_stackcache_get(CAP);
    CHECK(c != NULL);
    lt_rawframe cached[CAP], walked[CAP];
    uint64_t rng = 12345;
    for (int round = 0; round < 20000; round++) {
        rng = rng * 6364136223846793005ull + 1442695040888963407ull;
        int cached_depth = (int)((rng >> 33) % (CAP + 1));
        int depth = (int)((rng >> 45) % (CAP + 1));
        for (int i = 0; i < CAP; i++) {
            cached[i] = frame(0x1000 + 0x100 * (uintptr_t)i, 2 * (uintptr_t)i);
            walked[i] = cached[i];
        }
        /* Up to three differences, in the code or in the position. */
        for (int d = 0; d < (int)((rng >> 20) % 4); d++) {
            int at = (int)((rng >> (8 * d + 3)) % CAP);
            if ((rng >> (d + 50)) & 1) {
                walked[at].code += 8;
            }
            else {
                walked[at].position += 1;
            }
        }
        lt_stackcache_forget(c);
        c->generation = 3;
        c->truncated = 0;
        for (int i = 0; i < cached_depth; i++) {
            c->cached[i] = cached[i];
            c->nodes[i] = 100 + (uint32_t)i;
        }
        c->depth = cached_depth;
        int limit = depth < cached_depth ? depth : cached_depth;
        int expected = 0;
        while (expected < limit && walked[expected].code == cached[expected].code &&
               walked[expected].position == cached[expected].position) {
            expected++;
        }
        CHECK_I64(lt_stackcache_common(c, walked, depth, 0, 3), ==, expected);
    }
}

static void *
run_body(void *body)
{
    ((void (*)(void))body)();
    return NULL;
}

/* Each test runs on a thread of its own, whose cache its exit frees. */
static void
on_thread(void (*body)(void))
{
    pthread_t thread;
    CHECK(pthread_create(&thread, NULL, run_body, (void *)body) == 0);
    pthread_join(thread, NULL);
}

#define ON_THREAD(name)                                                                           \
    static void name(void)                                                                        \
    {                                                                                             \
        on_thread(name##_body);                                                                   \
    }

ON_THREAD(test_stackcache_common_prefix)
ON_THREAD(test_stackcache_common_matches_frame_by_frame)
ON_THREAD(test_stackcache_sites_resolve_without_interning)
ON_THREAD(test_stackcache_evictions_never_wrong)
ON_THREAD(test_stackcache_per_thread_and_freed_at_exit)

static void
test_addrfilter_counts_and_sticks(void)
{
    lt_addrfilter_clear();
    char blocks[64];
    for (int i = 0; i < 64; i++) {
        CHECK(!lt_addrfilter_maybe(&blocks[i]));
    }
    lt_addrfilter_add(&blocks[3]);
    lt_addrfilter_add(&blocks[3]);
    CHECK(lt_addrfilter_maybe(&blocks[3]));
    lt_addrfilter_remove(&blocks[3]);
    CHECK(lt_addrfilter_maybe(&blocks[3]));
    lt_addrfilter_remove(&blocks[3]);
    CHECK(!lt_addrfilter_maybe(&blocks[3]));
    /* Every address of a large set stays "maybe" while recorded. */
    enum { N = 100000 };
    for (uintptr_t i = 0; i < N; i++) {
        lt_addrfilter_add((void *)(0x7f0000000000 + 16 * i));
    }
    unsigned absent_maybe = 0;
    for (uintptr_t i = 0; i < N; i++) {
        CHECK(lt_addrfilter_maybe((void *)(0x7f0000000000 + 16 * i)));
        absent_maybe += lt_addrfilter_maybe((void *)(0x7e0000000008 + 16 * i));
    }
    CHECK(absent_maybe > 0); /* 100000 addresses in 65536 buckets: collisions */
    for (uintptr_t i = 0; i < N; i++) {
        lt_addrfilter_remove((void *)(0x7f0000000000 + 16 * i));
    }
    unsigned left = 0;
    for (uintptr_t i = 0; i < N; i++) {
        left += lt_addrfilter_maybe((void *)(0x7f0000000000 + 16 * i));
    }
    CHECK_U64(left, ==, 0);
    /* A saturated bucket never answers "no" again, until cleared. */
    for (int i = 0; i < 300; i++) {
        lt_addrfilter_add(&blocks[5]);
    }
    for (int i = 0; i < 300; i++) {
        lt_addrfilter_remove(&blocks[5]);
    }
    CHECK(lt_addrfilter_maybe(&blocks[5]));
    lt_addrfilter_clear();
    CHECK(!lt_addrfilter_maybe(&blocks[5]));
}

const test_case stackcache_tests[] = {
    {"stackcache: common prefix", test_stackcache_common_prefix},
    {"stackcache: common prefix as found frame by frame",
     test_stackcache_common_matches_frame_by_frame},
    {"stackcache: sites resolve without interning",
     test_stackcache_sites_resolve_without_interning},
    {"stackcache: evictions never answer wrong", test_stackcache_evictions_never_wrong},
    {"stackcache: per thread, freed at exit", test_stackcache_per_thread_and_freed_at_exit},
    {"addrfilter: counts, and sticks when saturated", test_addrfilter_counts_and_sticks},
    {NULL, NULL},
};
