/* lt_sampler.h - byte sampling of allocations.
 *
 * Sampling treats the bytes a thread allocates as one long stream and marks
 * points on it as a Poisson process of mean spacing `rate` bytes (as the heap
 * profilers of tcmalloc and jemalloc do): an allocation is recorded when it
 * covers at least one point, which happens with probability
 * p(size) = 1 - exp(-size / rate). Each thread counts down the bytes to its
 * next point; the distance to the following point is drawn from the
 * exponential distribution (memoryless, so a fresh draw after each sample
 * keeps the process exact).
 *
 * A recorded allocation stands for 1 / p(size) allocations of its size, so
 * it is weighted by size / p(size) bytes and 1 / p(size) blocks: sums of the
 * weights are unbiased estimates of the true totals. The weight depends on
 * the size and the rate only, so a free subtracts exactly what its
 * allocation added. Block counts are kept in fixed point
 * (LT_SAMPLE_COUNT_SCALE units per block) so that weights between 1 and 2
 * (allocations near the rate) are not rounded away.
 *
 * With rate 0 (the default) every allocation is recorded with weight
 * (size, 1): full tracking.
 *
 * Threads. The configuration is written with the GIL while the tracker is
 * stopped. Hooks may still run then (RAW hooks of threads without the GIL
 * finishing a call, hooks left installed beneath another tracer), so the
 * configuration is read and written with relaxed atomics: a hook sees the
 * old or the new value, never a torn one, and the stopped tracker records
 * nothing it sampled. The per-thread state (countdown and generator) is
 * written by its own thread, without a lock, and is reseeded when it belongs
 * to an older configuration. So that the hot path need not compare
 * generations on every call, each thread's state is listed (under a mutex of
 * its own, at its first draw; a thread-exit destructor takes it off) and
 * lt_sampler_configure() sets every listed countdown to 0 after bumping the
 * generation: the thread's next allocation takes the slow path, which sees
 * the new generation and reseeds. A thread inside a hook at that moment (one
 * finishing a call after stop) may overwrite the 0 with its own count; it
 * then reseeds at its next sample point instead. A forked child keeps only
 * its own thread listed. Nothing here allocates, but libc may, inside
 * pthread_setspecific() and pthread_atfork() at a thread's first draw: from
 * libc itself, so never through a hook.
 */
#ifndef LT_SAMPLER_H
#define LT_SAMPLER_H

#include <stddef.h>
#include <stdint.h>

/* Fixed-point unit of sampled block counts: one block is this many units. */
#define LT_SAMPLE_COUNT_SCALE 1024u

typedef struct lt_sampler_thread {
    int64_t remaining;   /* bytes until the next sample point; also set to 0 by
                          * lt_sampler_configure(); atomic (relaxed) */
    uint32_t generation; /* the configuration this state was seeded for */
    int listed;          /* 1: in the list of thread states; -1: the thread exited */
    uint64_t rng;        /* splitmix64 state */
    struct lt_sampler_thread *prev, *next; /* the list, under its mutex */
} lt_sampler_thread;

/* Written only by lt_sampler_configure(); read through lt_sampler_rate()
 * and lt_sampler_current_generation() (relaxed atomic loads). */
extern uint64_t lt_sampler_rate_bytes;
extern uint32_t lt_sampler_generation;

/* The mean sampling interval in bytes; 0 when every allocation is recorded. */
static inline uint64_t
lt_sampler_rate(void)
{
    return __atomic_load_n(&lt_sampler_rate_bytes, __ATOMIC_RELAXED);
}

static inline uint32_t
lt_sampler_current_generation(void)
{
    return __atomic_load_n(&lt_sampler_generation, __ATOMIC_RELAXED);
}

/* Per-thread state, initial-exec: read by a hook in one instruction. */
extern __thread lt_sampler_thread lt_sampler_state __attribute__((tls_model("initial-exec")));

/* Sets the mean sampling interval in bytes (0: record every allocation)
 * and the seed of every thread's generator (thread k of the session gets a
 * seed derived from (seed, k), in the order threads first allocate). Call
 * only while the tracker is stopped. */
void lt_sampler_configure(uint64_t rate, uint64_t seed);

/* The slow path of lt_sampler_take() and lt_sampler_skip(): returns 1 when
 * not sampling (rate 0), else (re)seeds the thread's state when it belongs to
 * an older configuration, draws the next interval, and returns whether this
 * allocation is sampled. */
int lt_sampler_take_slow(lt_sampler_thread *st, uint64_t size);

/* The hot path of the sampled hooks, which are installed only with a rate:
 * counts size bytes down and returns 1 when the allocation is certainly not
 * sampled (one subtraction and a compare); 0 sends it to
 * lt_sampler_take_slow(), which tells a sample point from a new
 * configuration and also answers for a rate of 0 (a hook racing one). The
 * acquire load pairs with lt_sampler_configure()'s release store of the 0:
 * a thread that reads it reads the new generation. */
static inline int
lt_sampler_skip(uint64_t size)
{
    lt_sampler_thread *st = &lt_sampler_state;
    int64_t left = __atomic_load_n(&st->remaining, __ATOMIC_ACQUIRE) - (int64_t)size;
    __atomic_store_n(&st->remaining, left, __ATOMIC_RELAXED);
    return left > 0;
}

/* Whether an allocation of size bytes is to be recorded, at any rate. */
static inline int
lt_sampler_take(uint64_t size)
{
    if (!lt_sampler_rate()) {
        return 1;
    }
    return !lt_sampler_skip(size) && lt_sampler_take_slow(&lt_sampler_state, size);
}

/* The weight of a recorded allocation at a rate (0: no sampling): estimated
 * bytes, and estimated blocks in LT_SAMPLE_COUNT_SCALE units (1 block when
 * not sampling). Deterministic in (rate, size). */
void lt_sampler_weigh_at(uint64_t rate, uint64_t size, uint64_t *bytes, uint64_t *count);

/* The same at the configured rate; inline for full tracking. */
static inline void
lt_sampler_weigh(uint64_t size, uint64_t *bytes, uint64_t *count)
{
    uint64_t rate = lt_sampler_rate();
    if (!rate) {
        *bytes = size;
        *count = 1;
        return;
    }
    lt_sampler_weigh_at(rate, size, bytes, count);
}

#endif /* LT_SAMPLER_H */
