/* test_livetable.c - the live table (lt_livetable.h) against a reference model. */
#include <stdlib.h>

#include "check.h"
#include "record/lt_livetable.h"
#include "base/lt_rawalloc.h"

/* Heap-like addresses: 16-byte aligned, sharing their high bits, all distinct
 * (multiplying by an odd number permutes the integers modulo 2^28). */
static uintptr_t
heap_address(uint64_t i)
{
    return (uintptr_t)(0x7f3a00000000ull + ((i * 2654435761ull) & 0xFFFFFFFull) * 16);
}

/* The slot of the current array holding addr, or -1. Reads the table's slots
 * directly: the tests check the layout, not only what the API returns. */
static long
slot_of(const lt_livetable *t, uintptr_t addr)
{
    for (size_t i = 0; i <= t->mask; i++) {
        if (t->slots[i].addr == addr) {
            return (long)i;
        }
    }
    return -1;
}

/* Whether addr is live in the nursery (any slot; free marks do not count). */
static int
in_nursery(const lt_livetable *t, uintptr_t addr)
{
    for (size_t i = 0; i <= t->nursery_mask; i++) {
        if (t->nursery[i].addr == addr && t->nursery[i].size != LT_LIVE_FREED) {
            return 1;
        }
    }
    return 0;
}

/* The home slot of addr in a table of the scratch table's capacity, found by
 * inserting it alone into that (empty) table, whose nursery has one slot: a
 * second insert evicts it into the array, where with no other entry it lands
 * exactly on its home. This keeps the hash function out of the tests. */
static size_t
home_of(lt_livetable *scratch, uintptr_t addr)
{
    uint64_t size = 0;
    uint32_t node = 0;
    CHECK(scratch->count == 0);
    CHECK(scratch->nursery_mask == 0);
    CHECK(lt_livetable_insert(scratch, addr, 1, 0, &size, &node) == 0);
    CHECK(lt_livetable_insert(scratch, addr + 16, 1, 0, &size, &node) == 0);
    long slot = slot_of(scratch, addr);
    CHECK(slot >= 0);
    CHECK(lt_livetable_remove(scratch, addr, &size, &node) == 1);
    CHECK(lt_livetable_remove(scratch, addr + 16, &size, &node) == 1);
    return slot < 0 ? 0 : (size_t)slot;
}

static void
test_livetable_init_capacity(void)
{
    size_t start = lt_raw_current_bytes();
    const size_t asked[] = {0, 1, 1024, 1025, 5000};
    const size_t capacity[] = {1024, 1024, 1024, 2048, 8192};
    const size_t asked_nursery[] = {0, 1, 3, 4096, 5000};
    const size_t nursery[] = {1, 1, 4, 4096, 8192};
    for (size_t i = 0; i < sizeof(asked) / sizeof(asked[0]); i++) {
        lt_livetable t;
        CHECK(lt_livetable_init(&t, asked[i], asked_nursery[i]) == 0);
        CHECK_U64(t.mask + 1, ==, capacity[i]);
        CHECK_U64(t.nursery_mask + 1, ==, nursery[i]);
        CHECK_U64(t.count, ==, 0);
        CHECK_U64(t.nursery_count, ==, 0);
        CHECK_U64(t.nbig, ==, 0);
        CHECK_U64(lt_livetable_memory(&t), ==, (capacity[i] + nursery[i]) * sizeof(lt_live_entry));
        CHECK_U64(lt_livetable_scan_end(&t), ==, capacity[i] + nursery[i]);
        CHECK_U64(lt_raw_current_bytes() - start, ==, lt_livetable_memory(&t));
        for (size_t s = 0; s <= t.mask; s++) {
            CHECK(t.slots[s].addr == 0);
        }
        for (size_t s = 0; s <= t.nursery_mask; s++) {
            CHECK(t.nursery[s].addr == 0);
        }
        lt_livetable_destroy(&t);
        CHECK_U64(lt_raw_current_bytes(), ==, start);
    }
}

static void
test_livetable_insert_remove_replace(void)
{
    size_t start = lt_raw_current_bytes();
    lt_livetable t;
    CHECK(lt_livetable_init(&t, 0, LT_LIVE_NURSERY_SLOTS) == 0);
    uint64_t size = 12345;
    uint32_t node = 777;

    /* Absent: remove says so and leaves the outputs alone. */
    CHECK(lt_livetable_remove(&t, 0x1000, &size, &node) == 0);
    CHECK_U64(size, ==, 12345);
    CHECK_U64(node, ==, 777);

    CHECK(lt_livetable_insert(&t, 0x1000, 64, 5, &size, &node) == 0);
    CHECK_U64(t.count, ==, 1);
    CHECK(lt_livetable_insert(&t, 0x2000, 0, 6, &size, &node) == 0); /* zero-size blocks too */
    CHECK_U64(t.count, ==, 2);

    /* Same address again: replaced, and the old values come back. */
    size = 0;
    node = 0;
    CHECK(lt_livetable_insert(&t, 0x1000, 128, 9, &size, &node) == 1);
    CHECK_U64(size, ==, 64);
    CHECK_U64(node, ==, 5);
    CHECK_U64(t.count, ==, 2);

    CHECK(lt_livetable_remove(&t, 0x1000, &size, &node) == 1);
    CHECK_U64(size, ==, 128);
    CHECK_U64(node, ==, 9);
    CHECK_U64(t.count, ==, 1);
    CHECK(lt_livetable_remove(&t, 0x1000, &size, &node) == 0);
    CHECK(lt_livetable_remove(&t, 0x2000, &size, &node) == 1);
    CHECK_U64(size, ==, 0);
    CHECK_U64(node, ==, 6);
    CHECK_U64(t.count, ==, 0);

    /* The largest node id and address are kept as given. */
    uintptr_t top = UINTPTR_MAX & ~(uintptr_t)15;
    CHECK(lt_livetable_insert(&t, top, 1, UINT32_MAX - 1, &size, &node) == 0);
    CHECK(lt_livetable_remove(&t, top, &size, &node) == 1);
    CHECK_U64(node, ==, UINT32_MAX - 1);
    CHECK_U64(size, ==, 1);

    for (size_t s = 0; s <= t.mask; s++) {
        CHECK(t.slots[s].addr == 0);
    }
    CHECK_U64(t.nursery_count, ==, 0);
    lt_livetable_destroy(&t);
    CHECK_U64(lt_raw_current_bytes(), ==, start);
}

typedef struct {
    uintptr_t addr;
    uint64_t size;
    uint32_t node;
    int present;
} model_entry;

/* A block size: about one in big_one_in is 4 GiB or more (the side table is a
 * plain array, meant for the few such blocks a program has). */
static uint64_t
random_size(test_rng *rng, uint64_t big_one_in)
{
    if (test_below(rng, big_one_in) == 0) {
        return test_below(rng, 2) ? LT_LIVE_BIG_SIZE + test_below(rng, 3) /* the boundary */
                                  : (1ull << 32) + test_rand(rng) % (1ull << 40);
    }
    switch (test_below(rng, 32)) {
    case 0: return LT_LIVE_BIG_SIZE - 1 - test_below(rng, 2); /* the largest inline sizes */
    case 1: return 0;
    default: return test_below(rng, 4096) + 1;
    }
}

/* One random operation on model[i], checked against the model. */
static void
model_step(lt_livetable *t, model_entry *m, test_rng *rng, uint32_t tag, int remove_one_in,
           uint64_t big_one_in)
{
    uint64_t size = 0, new_size = random_size(rng, big_one_in);
    uint32_t node = 0;
    if (!m->present) {
        CHECK(lt_livetable_insert(t, m->addr, new_size, tag, &size, &node) == 0);
        m->present = 1;
        m->size = new_size;
        m->node = tag;
    }
    else if (test_below(rng, (uint64_t)remove_one_in) == 0) {
        CHECK(lt_livetable_remove(t, m->addr, &size, &node) == 1);
        CHECK_U64(size, ==, m->size);
        CHECK_U64(node, ==, m->node);
        m->present = 0;
        /* And it is gone. */
        CHECK(lt_livetable_remove(t, m->addr, &size, &node) == 0);
    }
    else {
        CHECK(lt_livetable_insert(t, m->addr, new_size, tag, &size, &node) == 1);
        CHECK_U64(size, ==, m->size);
        CHECK_U64(node, ==, m->node);
        m->size = new_size;
        m->node = tag;
    }
}

static void
test_livetable_million_addresses(void)
{
    enum { N = 1 << 20 };
    size_t start = lt_raw_current_bytes();
    model_entry *model = calloc(N, sizeof(model_entry));
    lt_livetable t;
    CHECK(lt_livetable_init(&t, 0, LT_LIVE_NURSERY_SLOTS) == 0);
    test_rng rng = {3};
    uint64_t size = 0;
    uint32_t node = 0;

    /* Fill: the table doubles ten times on the way. */
    size_t resizes = 0, last_mask = t.mask;
    for (uint32_t i = 0; i < N; i++) {
        model[i].addr = heap_address(i);
        model[i].size = random_size(&rng, 8192);
        model[i].node = i;
        model[i].present = 1;
        CHECK(lt_livetable_insert(&t, model[i].addr, model[i].size, i, &size, &node) == 0);
        if (t.mask != last_mask) {
            resizes++;
            last_mask = t.mask;
        }
        /* The array never fuller than three quarters; the nursery full soon. */
        CHECK_U64((t.count - t.nursery_count) * 4, <=, (t.mask + 1) * 3);
    }
    CHECK_U64(t.count, ==, N);
    CHECK_U64(t.nursery_count, >, LT_LIVE_NURSERY_SLOTS / 2);
    CHECK_U64(resizes, >=, 10);
    CHECK_U64(lt_raw_current_bytes() - start, ==, lt_livetable_memory(&t));

    /* Addresses never inserted are absent. */
    for (uint32_t i = 0; i < 100000; i++) {
        CHECK(lt_livetable_remove(&t, heap_address(N + i), &size, &node) == 0);
    }

    /* Churn: replace and remove at random, then insert again. */
    for (uint32_t k = 0; k < 2 * N; k++) {
        uint32_t i = (uint32_t)test_below(&rng, N);
        model_step(&t, &model[i], &rng, k, 2, 8192);
    }
    size_t live = 0;
    for (uint32_t i = 0; i < N; i++) {
        live += model[i].present;
    }
    CHECK_U64(t.count, ==, live);
    size_t big = 0;
    for (uint32_t i = 0; i < N; i++) {
        big += model[i].present && model[i].size >= LT_LIVE_BIG_SIZE;
    }
    CHECK_U64(t.nbig, ==, big);

    /* Drain in an order unrelated to insertion; every value comes back. */
    for (uint64_t k = 0; k < N; k++) {
        uint32_t i = (uint32_t)((k * 0x5bd1e995ull) & (N - 1));
        if (model[i].present) {
            CHECK(lt_livetable_remove(&t, model[i].addr, &size, &node) == 1);
            CHECK_U64(size, ==, model[i].size);
            CHECK_U64(node, ==, model[i].node);
        }
        else {
            CHECK(lt_livetable_remove(&t, model[i].addr, &size, &node) == 0);
        }
    }
    CHECK_U64(t.count, ==, 0);
    CHECK_U64(t.nbig, ==, 0);
    for (size_t s = 0; s <= t.mask; s++) {
        CHECK(t.slots[s].addr == 0);
    }
    lt_livetable_destroy(&t);
    CHECK_U64(lt_raw_current_bytes(), ==, start);
    free(model);
}

/* The pool of the collision test: the node of each entry is (pool index << 8 |
 * a changing tag), so a slot can be traced back to its model entry. */
typedef struct {
    model_entry m;
    size_t home;
} pool_entry;

/* Checks the whole table against the pool: the same entries, each in the
 * array reachable from its home slot without crossing an empty slot (what
 * backward-shift deletion must preserve, since lookups stop at the first empty
 * slot), or in the nursery. */
static void
check_layout(const lt_livetable *t, const pool_entry *pool, size_t npool)
{
    size_t occupied = 0, present = 0;
    for (size_t i = 0; i < npool; i++) {
        present += pool[i].m.present;
    }
    for (size_t j = 0; j <= t->nursery_mask; j++) {
        const lt_live_entry *e = &t->nursery[j];
        if (!e->addr || e->size == LT_LIVE_FREED) {
            continue;
        }
        occupied++;
        size_t idx = e->node >> 8;
        CHECK(idx < npool && pool[idx].m.addr == e->addr && pool[idx].m.present);
        CHECK(slot_of(t, e->addr) < 0); /* in one place only */
    }
    CHECK_U64(occupied, ==, t->nursery_count);
    for (size_t j = 0; j <= t->mask; j++) {
        const lt_live_entry *e = &t->slots[j];
        if (!e->addr) {
            continue;
        }
        occupied++;
        size_t idx = e->node >> 8;
        if (idx >= npool || pool[idx].m.addr != e->addr) {
            CHECK(!"slot holds an address that is not in the pool");
            continue;
        }
        CHECK(pool[idx].m.present);
        CHECK_U64(e->node, ==, pool[idx].m.node);
        for (size_t k = pool[idx].home; k != j; k = (k + 1) & t->mask) {
            if (!t->slots[k].addr) {
                CHECK(!"empty slot between an entry and its home");
                break;
            }
        }
    }
    CHECK_U64(occupied, ==, t->count);
    CHECK_U64(present, ==, t->count);
}

static void
test_livetable_churn_colliding(void)
{
    enum { TARGETS = 7, PER_TARGET = 24, FILLERS = 900, STEPS = 300000 };
    /* Homes at and across the end of the table, where the wrap-around cases of
     * backward-shift deletion are, plus one in the middle. */
    const size_t targets[TARGETS] = {1019, 1020, 1022, 1023, 0, 1, 512};
    size_t start = lt_raw_current_bytes();
    lt_livetable scratch, t;
    /* One nursery slot: nearly every entry is in the array, whose layout is
     * what this test checks. */
    CHECK(lt_livetable_init(&scratch, 1024, 1) == 0);
    CHECK(lt_livetable_init(&t, 1024, 1) == 0);
    size_t capacity = t.mask + 1;

    pool_entry *pool = calloc(TARGETS * PER_TARGET + FILLERS, sizeof(pool_entry));
    size_t npool = 0;
    /* Colliding addresses: all share their low 16 bits, and groups of them
     * share one home slot. */
    size_t found[TARGETS] = {0};
    size_t filled = 0;
    for (uint64_t k = 0; filled < TARGETS && k < 2000000; k++) {
        uintptr_t addr = (uintptr_t)(0x7f0000001230ull + k * 0x10000);
        size_t home = home_of(&scratch, addr);
        for (int g = 0; g < TARGETS; g++) {
            if (home == targets[g] && found[g] < PER_TARGET) {
                pool[npool].m.addr = addr;
                pool[npool].home = home;
                npool++;
                if (++found[g] == PER_TARGET) {
                    filled++;
                }
            }
        }
    }
    CHECK_U64(filled, ==, TARGETS);
    for (uint64_t k = 0; k < FILLERS; k++) {
        pool[npool].m.addr = heap_address(k);
        pool[npool].home = home_of(&scratch, pool[npool].m.addr);
        npool++;
    }

    test_rng rng = {4};
    uint64_t size = 0;
    uint32_t node = 0;
    size_t most = 0;
    for (uint32_t step = 0; step < STEPS; step++) {
        size_t i = (size_t)test_below(&rng, npool);
        uint32_t tag = (uint32_t)(i << 8 | (step & 0xFF));
        /* Stay under the growth threshold: this test is about deleting from
         * long probe runs in a table of fixed size. */
        if (!pool[i].m.present && (t.count + 1) * 4 > capacity * 3 - 4) {
            continue;
        }
        model_step(&t, &pool[i].m, &rng, tag, 4, 16);
        most = t.count > most ? t.count : most;
        if (step % 101 == 0) {
            check_layout(&t, pool, npool);
        }
    }
    check_layout(&t, pool, npool);
    CHECK_U64(t.mask + 1, ==, capacity);
    CHECK_U64(most, >=, capacity * 3 / 4 - 2);

    /* Drain the colliders first (the long runs), then the rest. */
    for (size_t i = 0; i < npool; i++) {
        if (pool[i].m.present) {
            CHECK(lt_livetable_remove(&t, pool[i].m.addr, &size, &node) == 1);
            CHECK_U64(size, ==, pool[i].m.size);
            CHECK_U64(node, ==, pool[i].m.node);
            pool[i].m.present = 0;
            if (i % 7 == 0) {
                check_layout(&t, pool, npool);
            }
        }
    }
    CHECK_U64(t.count, ==, 0);
    CHECK_U64(t.nbig, ==, 0);
    lt_livetable_destroy(&t);
    lt_livetable_destroy(&scratch);
    CHECK_U64(lt_raw_current_bytes(), ==, start);
    free(pool);
}

static void
big_sizes(size_t nursery_slots)
{
    size_t start = lt_raw_current_bytes();
    lt_livetable t;
    CHECK(lt_livetable_init(&t, 0, nursery_slots) == 0);
    uint64_t size = 0;
    uint32_t node = 0;
    const uint64_t sizes[] = {
        LT_LIVE_BIG_SIZE - 1, /* the largest size stored inline */
        LT_LIVE_BIG_SIZE,     /* the smallest in the side table */
        1ull << 32,           /* 4 GiB */
        (1ull << 40) + 7,     UINT64_MAX,
    };
    const size_t n = sizeof(sizes) / sizeof(sizes[0]);
    for (size_t i = 0; i < n; i++) {
        CHECK(lt_livetable_insert(&t, 0x10000 + i * 16, sizes[i], (uint32_t)i, &size, &node) == 0);
    }
    CHECK_U64(t.nbig, ==, 4);
    CHECK_U64(t.count, ==, n);
    /* Remove from the middle of the side table, then the rest. */
    const size_t order[] = {2, 0, 4, 1, 3};
    for (size_t k = 0; k < n; k++) {
        size_t i = order[k];
        CHECK(lt_livetable_remove(&t, 0x10000 + i * 16, &size, &node) == 1);
        CHECK_U64(size, ==, sizes[i]);
        CHECK_U64(node, ==, i);
    }
    CHECK_U64(t.nbig, ==, 0);

    /* Replacing across the boundary in every direction. */
    uintptr_t a = 0xabc0;
    CHECK(lt_livetable_insert(&t, a, 100, 1, &size, &node) == 0);
    CHECK(lt_livetable_insert(&t, a, 5ull << 32, 2, &size, &node) == 1); /* small -> big */
    CHECK_U64(size, ==, 100);
    CHECK_U64(node, ==, 1);
    CHECK_U64(t.nbig, ==, 1);
    CHECK(lt_livetable_insert(&t, a, 6ull << 32, 3, &size, &node) == 1); /* big -> big */
    CHECK_U64(size, ==, 5ull << 32);
    CHECK_U64(node, ==, 2);
    CHECK_U64(t.nbig, ==, 1);
    CHECK(lt_livetable_insert(&t, a, 7, 4, &size, &node) == 1); /* big -> small */
    CHECK_U64(size, ==, 6ull << 32);
    CHECK_U64(t.nbig, ==, 0);
    CHECK(lt_livetable_remove(&t, a, &size, &node) == 1);
    CHECK_U64(size, ==, 7);
    CHECK_U64(node, ==, 4);

    /* Many big blocks: the side table grows several times, the main table too,
     * and removal in random order must keep every size with its address. */
    enum { NBIG = 5000 };
    for (uint32_t i = 0; i < NBIG; i++) {
        CHECK(lt_livetable_insert(&t, heap_address(i), (1ull << 32) + i * 4096ull, i, &size,
                                  &node) == 0);
    }
    CHECK_U64(t.nbig, ==, NBIG);
    CHECK_U64(t.big_capacity, >=, NBIG);
    CHECK_U64(lt_raw_current_bytes() - start, ==, lt_livetable_memory(&t));
    test_rng rng = {5};
    uint32_t *perm = malloc(NBIG * sizeof(uint32_t));
    for (uint32_t i = 0; i < NBIG; i++) {
        perm[i] = i;
    }
    for (uint32_t i = NBIG - 1; i > 0; i--) {
        uint32_t j = (uint32_t)test_below(&rng, i + 1);
        uint32_t tmp = perm[i];
        perm[i] = perm[j];
        perm[j] = tmp;
    }
    for (uint32_t k = 0; k < NBIG; k++) {
        uint32_t i = perm[k];
        CHECK(lt_livetable_remove(&t, heap_address(i), &size, &node) == 1);
        CHECK_U64(size, ==, (1ull << 32) + i * 4096ull);
        CHECK_U64(node, ==, i);
    }
    CHECK_U64(t.nbig, ==, 0);
    CHECK_U64(t.count, ==, 0);
    free(perm);
    lt_livetable_destroy(&t);
    CHECK_U64(lt_raw_current_bytes(), ==, start);
}

/* Big sizes with the blocks in the nursery (the first ones at least), and in
 * the array (nearly all evicted). */
static void
test_livetable_big_sizes(void)
{
    big_sizes(LT_LIVE_NURSERY_SLOTS);
    big_sizes(1);
}

static void
test_livetable_clear(void)
{
    size_t start = lt_raw_current_bytes();
    lt_livetable t;
    CHECK(lt_livetable_init(&t, 0, 256) == 0);
    uint64_t size = 0;
    uint32_t node = 0;
    for (uint32_t i = 0; i < 3000; i++) {
        uint64_t s = i % 10 == 0 ? (1ull << 33) : i;
        CHECK(lt_livetable_insert(&t, heap_address(i), s, i, &size, &node) == 0);
    }
    size_t memory = lt_livetable_memory(&t);
    CHECK_U64(t.nursery_count, >, 0);
    lt_livetable_clear(&t);
    CHECK_U64(t.count, ==, 0);
    CHECK_U64(t.nursery_count, ==, 0);
    CHECK_U64(t.nbig, ==, 0);
    /* Clearing keeps the capacity it grew to. */
    CHECK_U64(lt_livetable_memory(&t), ==, memory);
    CHECK_U64(lt_raw_current_bytes() - start, ==, memory);
    for (uint32_t i = 0; i < 3000; i++) {
        CHECK(lt_livetable_remove(&t, heap_address(i), &size, &node) == 0);
    }
    /* Usable again, and a big block of before does not come back. */
    CHECK(lt_livetable_insert(&t, heap_address(0), 5, 1, &size, &node) == 0);
    CHECK(lt_livetable_remove(&t, heap_address(0), &size, &node) == 1);
    CHECK_U64(size, ==, 5);
    lt_livetable_destroy(&t);
    CHECK_U64(lt_raw_current_bytes(), ==, start);
}

static void
test_rawalloc_accounting(void)
{
    size_t start = lt_raw_current_bytes();
    lt_raw_reset_peak();
    CHECK_U64(lt_raw_peak_bytes(), ==, start);
    void *a = lt_raw_malloc(1000);
    void *b = lt_raw_calloc(10, 100);
    CHECK(a && b);
    CHECK_U64(lt_raw_current_bytes(), ==, start + 2000);
    for (int i = 0; i < 1000; i++) {
        CHECK(((unsigned char *)b)[i] == 0);
    }
    lt_raw_free(a, 1000);
    CHECK_U64(lt_raw_current_bytes(), ==, start + 1000);
    CHECK_U64(lt_raw_peak_bytes(), ==, start + 2000);
    lt_raw_reset_peak();
    CHECK_U64(lt_raw_peak_bytes(), ==, start + 1000);
    lt_raw_free(b, 1000);
    /* Zero-byte requests still give a distinct block, and count nothing. */
    void *z = lt_raw_malloc(0);
    void *zc = lt_raw_calloc(0, 8);
    CHECK(z && zc);
    CHECK_U64(lt_raw_current_bytes(), ==, start);
    lt_raw_free(z, 0);
    lt_raw_free(zc, 0);
    /* An overflowing calloc fails instead of allocating a wrapped size. */
    CHECK(lt_raw_calloc(SIZE_MAX / 2, 4) == NULL);
    lt_raw_free(NULL, 123);
    CHECK_U64(lt_raw_current_bytes(), ==, start);
}

/* A burst of live blocks, then most of them freed: the table halves step by
 * step down to its initial capacity, gives the memory back, and keeps every
 * remaining entry with its values. */
static void
test_livetable_shrinks_with_live_blocks(void)
{
    enum { N = 100000, KEEP = 50 };
    size_t start = lt_raw_current_bytes();
    lt_livetable t;
    CHECK(lt_livetable_init(&t, 2048, 1) == 0); /* the capacities below are exact */
    uint64_t size = 0;
    uint32_t node = 0;
    for (uint32_t i = 0; i < N; i++) {
        CHECK(lt_livetable_insert(&t, heap_address(i), 16 + i, i, &size, &node) == 0);
    }
    size_t peak_capacity = t.mask + 1;
    CHECK_U64(peak_capacity, ==, 262144); /* the first power of two with N <= 3/4 of it */
    size_t shrinks = 0, last_mask = t.mask;
    for (uint32_t i = KEEP; i < N; i++) {
        CHECK(lt_livetable_remove(&t, heap_address(i), &size, &node) == 1);
        CHECK_U64(size, ==, 16 + i);
        CHECK_U64(node, ==, i);
        if (t.mask != last_mask) {
            CHECK_U64(t.mask + 1, ==, (last_mask + 1) / 2); /* one halving at a time */
            CHECK_U64(t.count * 4, <=, t.mask + 1);         /* at most a quarter full */
            shrinks++;
            last_mask = t.mask;
        }
        /* Never more than eight slots per live entry, above the initial capacity. */
        CHECK_U64((t.mask + 1) / 8, <=, t.count > 2048 / 8 ? t.count : 2048 / 8);
    }
    CHECK_U64(t.mask + 1, ==, 2048); /* the initial capacity, not the default 1024 */
    CHECK_U64(shrinks, ==, 7);
    CHECK_U64(lt_raw_current_bytes() - start, ==, lt_livetable_memory(&t));
    for (uint32_t i = 0; i < KEEP; i++) {
        CHECK(lt_livetable_remove(&t, heap_address(i), &size, &node) == 1);
        CHECK_U64(size, ==, 16 + i);
        CHECK_U64(node, ==, i);
    }
    CHECK_U64(t.count, ==, 0);
    CHECK_U64(t.mask + 1, ==, 2048);
    /* It grows again as before. */
    for (uint32_t i = 0; i < N; i++) {
        CHECK(lt_livetable_insert(&t, heap_address(i), 1, i, &size, &node) == 0);
    }
    CHECK_U64(t.mask + 1, ==, peak_capacity);
    lt_livetable_destroy(&t);
    CHECK_U64(lt_raw_current_bytes(), ==, start);
}

/* Walking the table in chunks finds every block of the asked size once, with
 * its size and node, big sizes included. */
static void
test_livetable_scan_in_chunks(void)
{
    lt_livetable t;
    uint64_t size;
    uint32_t node;
    CHECK(lt_livetable_init(&t, 0, 1024) == 0);
    enum { N = 5000 };
    for (uint32_t i = 0; i < N; i++) {
        CHECK(lt_livetable_insert(&t, 0x10000 + 16 * (uintptr_t)i, i % 100, i, &size, &node) == 0);
    }
    uint64_t big = (uint64_t)UINT32_MAX + 77;
    CHECK(lt_livetable_insert(&t, 0x900000, big, 7, &size, &node) == 0);
    static lt_live_block out[N + 1];
    size_t n = 0, cursor = 0, chunks = 0;
    CHECK_U64(t.nursery_count, >, 0); /* blocks in both places */
    while (cursor < lt_livetable_scan_end(&t)) {
        n += lt_livetable_scan(&t, &cursor, 1000, 60, out + n, N + 1 - n);
        chunks++;
    }
    CHECK_U64(cursor, ==, lt_livetable_scan_end(&t));
    CHECK_U64(chunks, ==, (t.mask + 1 + t.nursery_mask + 1 + 999) / 1000);
    CHECK_U64(n, ==, N / 100 * 40 + 1); /* sizes 60..99 of every hundred, and the big one */
    int saw_big = 0;
    for (size_t k = 0; k < n; k++) {
        if (out[k].addr == 0x900000) {
            CHECK_U64(out[k].size, ==, big);
            CHECK_U64(out[k].node, ==, 7);
            saw_big = 1;
            continue;
        }
        uint32_t i = (uint32_t)((out[k].addr - 0x10000) / 16);
        CHECK_U64(out[k].size, ==, i % 100);
        CHECK_U64(out[k].node, ==, i);
        CHECK_U64(out[k].size, >=, 60);
    }
    CHECK(saw_big);
    /* Blocks still in a draining resize's old array are found once it settled. */
    for (uint32_t i = 0; i < N; i++) {
        CHECK(lt_livetable_insert(&t, 0x4000000 + 16 * (uintptr_t)i, 200, i, &size, &node) == 0);
    }
    while (lt_livetable_settle(&t, 100)) {
    }
    CHECK(t.old == NULL);
    n = 0;
    cursor = 0;
    while (cursor < lt_livetable_scan_end(&t)) {
        n += lt_livetable_scan(&t, &cursor, 1000, 200, out + n, N + 1 - n);
    }
    CHECK_U64(n, ==, N + 1); /* the new blocks, and the big one */
    /* A full output stops the walk early, where it can resume. */
    cursor = 0;
    CHECK_U64(lt_livetable_scan(&t, &cursor, lt_livetable_scan_end(&t), 0, out, 3), ==, 3);
    CHECK_U64(cursor, <, lt_livetable_scan_end(&t));
    lt_livetable_destroy(&t);
}

/* Waves of bursts and mass frees: the table resizes incrementally, and while
 * it drains an old array every entry stays findable, replaceable and
 * removable, wherever it lives; no call moves more than a step of slots. */
static void
test_livetable_incremental_resize(void)
{
    enum { N = 60000, WAVES = 6 };
    size_t start = lt_raw_current_bytes();
    model_entry *m = calloc(N, sizeof(model_entry));
    for (uint32_t i = 0; i < N; i++) {
        m[i].addr = heap_address(i + 777);
    }
    lt_livetable t;
    CHECK(lt_livetable_init(&t, 1024, 256) == 0);
    test_rng rng = {99};
    size_t live = 0, steps_migrating = 0, resizes = 0;
    for (int wave = 0; wave < WAVES; wave++) {
        size_t target = wave % 2 == 0 ? N - 1 : 100 * (size_t)wave;
        for (uint32_t step = 0; live != target; step++) {
            size_t i = (size_t)test_below(&rng, N);
            int want_insert = live < target;
            if (m[i].present == want_insert) {
                /* A replace (growing) or a no-op search (shrinking) in between. */
                if (m[i].present) {
                    uint64_t size = 0;
                    uint32_t node = 0;
                    CHECK(lt_livetable_find(&t, m[i].addr, &size, &node) == 1);
                    CHECK_U64(node, ==, m[i].node);
                }
                continue;
            }
            size_t old_cursor = t.cursor;
            lt_live_entry *old = t.old;
            model_step(&t, &m[i], &rng, step, 1, 1000);
            live += m[i].present ? 1 : (size_t)-1;
            CHECK_U64(t.count, ==, live);
            if (old && t.old == old) {
                CHECK_U64(t.cursor - old_cursor, <=,
                          2 * t.step); /* a remove is checked by a second one */
                steps_migrating++;
            }
            if (t.old && !old) {
                resizes++;
            }
            CHECK_U64(t.old_count, <=, t.count);
            CHECK_U64(lt_raw_current_bytes() - start, ==, lt_livetable_memory(&t));
        }
        /* Everything the model holds is there, everything else is not. */
        for (uint32_t i = 0; i < N; i++) {
            uint64_t size = 0;
            uint32_t node = 0;
            int found = lt_livetable_find(&t, m[i].addr, &size, &node);
            CHECK(found == m[i].present);
            if (found) {
                CHECK_U64(size, ==, m[i].size);
                CHECK_U64(node, ==, m[i].node);
            }
        }
    }
    CHECK(resizes >= 8);
    CHECK(steps_migrating > 1000);
    lt_livetable_destroy(&t);
    CHECK_U64(lt_raw_current_bytes(), ==, start);
    free(m);
}

/* A block whose free went unseen is replaced wherever its stale entry sits:
 * in the nursery, or in the array after an eviction; afterwards it is in one
 * place only, and every reader sees the entries of both. */
static void
test_livetable_replace_nursery_and_array(void)
{
    size_t start = lt_raw_current_bytes();
    lt_livetable t;
    uint64_t size = 0;
    uint32_t node = 0;
    /* One nursery slot: each new block evicts the one before. */
    CHECK(lt_livetable_init(&t, 0, 1) == 0);
    const uintptr_t a = 0x7f0000001000, b = 0x7f0000002000, c = 0x7f0000003000;

    CHECK(lt_livetable_insert(&t, a, 10, 1, &size, &node) == 0);
    CHECK(in_nursery(&t, a) && slot_of(&t, a) < 0);
    CHECK(lt_livetable_insert(&t, a, 11, 2, &size, &node) == 1); /* stale in the nursery */
    CHECK_U64(size, ==, 10);
    CHECK_U64(node, ==, 1);
    CHECK_U64(t.count, ==, 1);

    CHECK(lt_livetable_insert(&t, b, 20, 3, &size, &node) == 0);
    CHECK(slot_of(&t, a) >= 0 && !in_nursery(&t, a)); /* evicted */
    CHECK(in_nursery(&t, b));
    CHECK(lt_livetable_insert(&t, a, 12, 4, &size, &node) == 1); /* stale in the array */
    CHECK_U64(size, ==, 11);
    CHECK_U64(node, ==, 2);
    CHECK_U64(t.count, ==, 2);
    CHECK(slot_of(&t, a) >= 0 && !in_nursery(&t, a)); /* still one entry */
    CHECK(lt_livetable_find(&t, a, &size, &node) == 1);
    CHECK_U64(size, ==, 12);
    CHECK_U64(node, ==, 4);
    CHECK(lt_livetable_find(&t, b, &size, &node) == 1);
    CHECK_U64(size, ==, 20);

    /* Big sizes through both places. */
    CHECK(lt_livetable_insert(&t, c, 5ull << 32, 5, &size, &node) == 0); /* evicts b */
    CHECK(lt_livetable_insert(&t, b, 6ull << 32, 6, &size, &node) == 1); /* small -> big */
    CHECK_U64(size, ==, 20);
    CHECK_U64(t.nbig, ==, 2);
    CHECK(lt_livetable_insert(&t, c, 7, 7, &size, &node) == 1); /* big -> small, nursery */
    CHECK_U64(size, ==, 5ull << 32);
    CHECK_U64(t.nbig, ==, 1);
    CHECK(lt_livetable_find(&t, b, &size, &node) == 1);
    CHECK_U64(size, ==, 6ull << 32);

    lt_live_block out[4];
    size_t cursor = 0;
    size_t n = lt_livetable_scan(&t, &cursor, lt_livetable_scan_end(&t), 0, out, 4);
    CHECK_U64(n, ==, 3);
    CHECK_U64(cursor, ==, lt_livetable_scan_end(&t));

    /* Each removal returns the newest values, once. */
    const uintptr_t addrs[] = {a, b, c};
    const uint64_t sizes[] = {12, 6ull << 32, 7};
    const uint32_t nodes[] = {4, 6, 7};
    for (int i = 0; i < 3; i++) {
        CHECK(lt_livetable_remove(&t, addrs[i], &size, &node) == 1);
        CHECK_U64(size, ==, sizes[i]);
        CHECK_U64(node, ==, nodes[i]);
        CHECK(lt_livetable_remove(&t, addrs[i], &size, &node) == 0);
        CHECK(lt_livetable_find(&t, addrs[i], &size, &node) == 0);
    }
    CHECK_U64(t.count, ==, 0);
    CHECK_U64(t.nursery_count, ==, 0);
    CHECK_U64(t.nbig, ==, 0);
    lt_livetable_destroy(&t);

    /* The tracker's nursery, with more blocks than it holds: every block is
     * replaced once (the old values come back, the count stays), wherever it
     * was, and a scan then finds each once with its new values. */
    enum { N = 3 * LT_LIVE_NURSERY_SLOTS };
    CHECK(lt_livetable_init(&t, 0, LT_LIVE_NURSERY_SLOTS) == 0);
    for (uint32_t i = 0; i < N; i++) {
        CHECK(lt_livetable_insert(&t, heap_address(i), i, i, &size, &node) == 0);
    }
    CHECK_U64(t.nursery_count, >, 0);
    CHECK_U64(t.nursery_count, <, N / 2);
    size_t in_array = 0;
    for (uint32_t i = 0; i < N; i++) {
        in_array += slot_of(&t, heap_address(i)) >= 0;
        CHECK(lt_livetable_insert(&t, heap_address(i), i + 1, N + i, &size, &node) == 1);
        CHECK_U64(size, ==, i);
        CHECK_U64(node, ==, i);
    }
    CHECK_U64(in_array, >=, N / 2);
    CHECK_U64(t.count, ==, N);
    static lt_live_block all[N + 1];
    cursor = 0;
    n = 0;
    while (cursor < lt_livetable_scan_end(&t)) {
        n += lt_livetable_scan(&t, &cursor, 1000, 0, all + n, N + 1 - n);
    }
    CHECK_U64(n, ==, N);
    static unsigned char seen[N];
    for (size_t k = 0; k < n; k++) {
        uint32_t i = all[k].node - N;
        CHECK(i < N && !seen[i] && all[k].addr == heap_address(i));
        CHECK_U64(all[k].size, ==, i + 1);
        seen[i < N ? i : 0] = 1;
    }
    for (uint32_t i = 0; i < N; i++) {
        CHECK(lt_livetable_remove(&t, heap_address(i), &size, &node) == 1);
        CHECK_U64(node, ==, N + i);
        CHECK(lt_livetable_remove(&t, heap_address(i), &size, &node) == 0);
    }
    CHECK_U64(t.count, ==, 0);
    CHECK_U64(t.nursery_count, ==, 0);
    lt_livetable_destroy(&t);
    CHECK_U64(lt_raw_current_bytes(), ==, start);
}

/* Free marks: a free leaves one in the block's nursery slot unless a live
 * block holds it; it answers "absent" for its address only, and a new block
 * takes its slot without evicting anything. */
static void
test_livetable_free_marks(void)
{
    size_t start = lt_raw_current_bytes();
    lt_livetable t;
    uint64_t size = 0;
    uint32_t node = 0;
    CHECK(lt_livetable_init(&t, 0, 1) == 0);
    const uintptr_t a = 0x7f0000001000, b = 0x7f0000002000, c = 0x7f0000003000, d = 0x7f0000004000;
    const lt_live_entry *slot = &t.nursery[0];

    CHECK(lt_livetable_insert(&t, a, 10, 1, &size, &node) == 0);
    CHECK(lt_livetable_remove(&t, a, &size, &node) == 1);
    CHECK(slot->addr == a && slot->size == LT_LIVE_FREED);
    CHECK_U64(t.count, ==, 0);
    CHECK_U64(t.nursery_count, ==, 0);
    CHECK(lt_livetable_find(&t, a, &size, &node) == 0);
    CHECK(lt_livetable_remove(&t, a, &size, &node) == 0);
    lt_live_block out[4];
    size_t cursor = 0;
    CHECK_U64(lt_livetable_scan(&t, &cursor, lt_livetable_scan_end(&t), 0, out, 4), ==, 0);
    CHECK(lt_livetable_insert(&t, a, 11, 2, &size, &node) == 0); /* new, not replaced */
    CHECK_U64(t.count, ==, 1);

    /* Removed from the array while a live block holds the slot: no mark. */
    CHECK(lt_livetable_insert(&t, b, 20, 3, &size, &node) == 0); /* a to the array */
    CHECK(lt_livetable_remove(&t, a, &size, &node) == 1);
    CHECK_U64(size, ==, 11);
    CHECK(slot->addr == b && slot->size == 20);
    /* A mark is overwritten by a new block, which evicts nothing. */
    CHECK(lt_livetable_remove(&t, b, &size, &node) == 1);
    CHECK(lt_livetable_insert(&t, c, 30, 4, &size, &node) == 0);
    CHECK(slot_of(&t, b) < 0);
    CHECK_U64(t.count, ==, 1);
    CHECK_U64(t.count - t.nursery_count, ==, 0);

    /* Removed from the array with a mark in the slot: the mark is its own. */
    CHECK(lt_livetable_insert(&t, d, 40, 5, &size, &node) == 0); /* c to the array */
    CHECK(lt_livetable_remove(&t, d, &size, &node) == 1);        /* d's mark */
    CHECK(lt_livetable_remove(&t, c, &size, &node) == 1);
    CHECK_U64(size, ==, 30);
    CHECK(slot->addr == c && slot->size == LT_LIVE_FREED);
    CHECK(lt_livetable_insert(&t, c, 31, 6, &size, &node) == 0);
    CHECK_U64(t.count, ==, 1);

    /* Another address's mark says nothing of a stale entry in the array. */
    CHECK(lt_livetable_insert(&t, a, 12, 7, &size, &node) == 0); /* c to the array */
    CHECK(lt_livetable_remove(&t, a, &size, &node) == 1);        /* a's mark */
    CHECK(lt_livetable_insert(&t, c, 32, 8, &size, &node) == 1);
    CHECK_U64(size, ==, 31);
    CHECK_U64(node, ==, 6);
    CHECK_U64(t.count, ==, 1);
    CHECK(lt_livetable_remove(&t, c, &size, &node) == 1);
    CHECK_U64(size, ==, 32);
    CHECK(lt_livetable_remove(&t, c, &size, &node) == 0);
    CHECK_U64(t.count, ==, 0);
    lt_livetable_destroy(&t);
    CHECK_U64(lt_raw_current_bytes(), ==, start);
}

/* A table of more than LT_LIVE_NURSERY_TABLE_LIMIT slots takes new blocks
 * itself; a free mark left meanwhile goes when its address comes back. */
static void
test_livetable_large_table_bypasses_nursery(void)
{
    size_t start = lt_raw_current_bytes();
    lt_livetable t;
    uint64_t size = 0;
    uint32_t node = 0;
    CHECK(lt_livetable_init(&t, 2 * LT_LIVE_NURSERY_TABLE_LIMIT, 1) == 0);
    const uintptr_t a = 0x7f0000001000, b = 0x7f0000002000;
    const lt_live_entry *slot = &t.nursery[0];

    CHECK(lt_livetable_insert(&t, a, 10, 1, &size, &node) == 0);
    CHECK(slot_of(&t, a) >= 0 && !in_nursery(&t, a));
    CHECK(lt_livetable_remove(&t, a, &size, &node) == 1);
    CHECK(slot->addr == a && slot->size == LT_LIVE_FREED); /* marked */
    CHECK(lt_livetable_insert(&t, a, 11, 2, &size, &node) == 0);
    CHECK(slot_of(&t, a) >= 0);
    CHECK(slot->addr == 0); /* the mark is gone with a in the table */
    CHECK(lt_livetable_find(&t, a, &size, &node) == 1);
    CHECK_U64(size, ==, 11);
    CHECK(lt_livetable_insert(&t, a, 12, 3, &size, &node) == 1);
    CHECK_U64(size, ==, 11);
    CHECK_U64(node, ==, 2);
    CHECK(lt_livetable_insert(&t, b, 20, 4, &size, &node) == 0);
    CHECK_U64(t.count, ==, 2);
    CHECK_U64(t.nursery_count, ==, 0);
    CHECK(lt_livetable_remove(&t, a, &size, &node) == 1);
    CHECK_U64(size, ==, 12);
    CHECK(lt_livetable_remove(&t, a, &size, &node) == 0);
    CHECK(lt_livetable_remove(&t, b, &size, &node) == 1);
    CHECK(lt_livetable_find(&t, b, &size, &node) == 0);
    CHECK_U64(t.count, ==, 0);
    lt_livetable_destroy(&t);
    CHECK_U64(lt_raw_current_bytes(), ==, start);
}

const test_case livetable_tests[] = {
    {"livetable_scan_in_chunks", test_livetable_scan_in_chunks},
    {"livetable_init_capacity", test_livetable_init_capacity},
    {"livetable_insert_remove_replace", test_livetable_insert_remove_replace},
    {"livetable_replace_nursery_and_array", test_livetable_replace_nursery_and_array},
    {"livetable_free_marks", test_livetable_free_marks},
    {"livetable_large_table_bypasses_nursery", test_livetable_large_table_bypasses_nursery},
    {"livetable_million_addresses", test_livetable_million_addresses},
    {"livetable_churn_colliding", test_livetable_churn_colliding},
    {"livetable_big_sizes", test_livetable_big_sizes},
    {"livetable_clear", test_livetable_clear},
    {"livetable_shrinks_with_live_blocks", test_livetable_shrinks_with_live_blocks},
    {"livetable_incremental_resize", test_livetable_incremental_resize},
    {"rawalloc_accounting", test_rawalloc_accounting},
    {NULL, NULL},
};
