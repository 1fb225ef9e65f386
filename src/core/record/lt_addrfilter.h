/* lt_addrfilter.h - which addresses may belong to sampled blocks, without a lock.
 *
 * When sampling, few live blocks are recorded, and most frees are of blocks
 * that never were. Asking the live table about each of those would take the
 * tracker's lock and probe a large table for nothing. The filter answers the
 * question first, in one relaxed load from a small array: a counter per hash
 * bucket of addresses, counting the recorded blocks whose address falls in it.
 * A zero means "certainly not recorded"; anything else sends the free to the
 * live table (false positives cost only that). A counter that reaches its
 * maximum sticks there (the bucket then always answers "maybe"), so it can
 * never undercount.
 *
 * Threads: lt_addrfilter_add() and lt_addrfilter_remove() are called under
 * TRACKER_LOCK, next to the live-table insert and remove they mirror, and
 * store with relaxed atomics; lt_addrfilter_maybe() runs on any thread
 * without a lock. An allocation is added before its pointer is returned to
 * the program, so any thread that can free the block (it learned the address
 * through some synchronization with the allocating thread) sees the count.
 * lt_addrfilter_clear() is called by the session start, before the session's
 * data is published. Pure C, no allocation; unit-tested in tests/c.
 */
#ifndef LT_ADDRFILTER_H
#define LT_ADDRFILTER_H

#include <stdint.h>

#define LT_ADDRFILTER_BITS 16
#define LT_ADDRFILTER_STUCK UINT8_MAX

extern uint8_t lt_addrfilter_counts[1u << LT_ADDRFILTER_BITS];

static inline uint8_t *
lt_addrfilter_bucket(const void *addr)
{
    /* Block addresses share their low bits; multiply to spread them. Only
     * the low 32 bits are hashed (a multiply by an immediate, one
     * instruction fewer on every sampled free): addresses 4 GiB apart share
     * a bucket, which costs a false "maybe" at most. */
    uint32_t h = (uint32_t)(uintptr_t)addr * 0x9E3779B1u;
    return &lt_addrfilter_counts[h >> (32 - LT_ADDRFILTER_BITS)];
}

/* Whether addr may be the address of a recorded block. Any thread, no lock. */
static inline int
lt_addrfilter_maybe(const void *addr)
{
    return __atomic_load_n(lt_addrfilter_bucket(addr), __ATOMIC_RELAXED) != 0;
}

/* A block at addr was recorded. Under TRACKER_LOCK. */
static inline void
lt_addrfilter_add(const void *addr)
{
    uint8_t *count = lt_addrfilter_bucket(addr);
    uint8_t n = __atomic_load_n(count, __ATOMIC_RELAXED);
    if (n != LT_ADDRFILTER_STUCK) {
        __atomic_store_n(count, (uint8_t)(n + 1), __ATOMIC_RELAXED);
    }
}

/* A recorded block at addr was forgotten. Under TRACKER_LOCK. */
static inline void
lt_addrfilter_remove(const void *addr)
{
    uint8_t *count = lt_addrfilter_bucket(addr);
    uint8_t n = __atomic_load_n(count, __ATOMIC_RELAXED);
    if (n != LT_ADDRFILTER_STUCK && n != 0) {
        __atomic_store_n(count, (uint8_t)(n - 1), __ATOMIC_RELAXED);
    }
}

/* Forgets every address (no block recorded). */
void lt_addrfilter_clear(void);

#endif /* LT_ADDRFILTER_H */
