/* lt_sampler.c - see lt_sampler.h. */
#include "record/lt_sampler.h"

#include <math.h>
#include <pthread.h>

uint64_t lt_sampler_rate_bytes;
uint32_t lt_sampler_generation;
__thread lt_sampler_thread lt_sampler_state __attribute__((tls_model("initial-exec")));

static uint64_t sampler_seed;   /* atomic, as the configuration */
static uint64_t threads_seeded; /* atomic: threads seeded in this configuration */

/* ---- the list of thread states ---- */

static pthread_mutex_t threads_lock = PTHREAD_MUTEX_INITIALIZER;
static lt_sampler_thread *threads; /* under threads_lock */

/* The thread-exit key: its value is the thread's state, taken off the list by
 * the destructor before the thread's TLS goes away. Without a key (creation
 * failed), no state is listed and every thread reseeds at its next sample
 * point after a new configuration. */
static pthread_key_t exit_key;
static int have_exit_key;
static pthread_once_t exit_key_once = PTHREAD_ONCE_INIT;

static void
unlist_locked(lt_sampler_thread *st)
{
    if (st->prev) {
        st->prev->next = st->next;
    }
    else {
        threads = st->next;
    }
    if (st->next) {
        st->next->prev = st->prev;
    }
    st->prev = st->next = NULL;
}

static void
thread_exit(void *ptr)
{
    lt_sampler_thread *st = ptr;
    pthread_mutex_lock(&threads_lock);
    unlist_locked(st);
    st->listed = -1; /* allocations by later destructors must not list it again */
    pthread_mutex_unlock(&threads_lock);
}

/* A forked child has one thread: the others' states are not its memory to
 * write. */
static void
after_fork_child(void)
{
    pthread_mutex_t fresh = PTHREAD_MUTEX_INITIALIZER;
    threads_lock = fresh;
    threads = NULL;
    lt_sampler_thread *st = &lt_sampler_state;
    if (st->listed == 1) {
        st->prev = st->next = NULL;
        threads = st;
    }
}

static void
make_exit_key(void)
{
    have_exit_key = pthread_key_create(&exit_key, thread_exit) == 0 &&
                    pthread_atfork(NULL, NULL, after_fork_child) == 0;
}

static void
list_thread(lt_sampler_thread *st)
{
    pthread_once(&exit_key_once, make_exit_key);
    if (!have_exit_key || pthread_setspecific(exit_key, st) != 0) {
        return;
    }
    pthread_mutex_lock(&threads_lock);
    st->prev = NULL;
    st->next = threads;
    if (threads) {
        threads->prev = st;
    }
    threads = st;
    st->listed = 1;
    pthread_mutex_unlock(&threads_lock);
}

/* ---- sampling ---- */

static uint64_t
splitmix64(uint64_t *state)
{
    uint64_t z = (*state += 0x9E3779B97F4A7C15ull);
    z = (z ^ (z >> 30)) * 0xBF58476D1CE4E5B9ull;
    z = (z ^ (z >> 27)) * 0x94D049BB133111EBull;
    return z ^ (z >> 31);
}

/* An exponential variate of mean rate, at least 1 byte. */
static int64_t
next_interval(lt_sampler_thread *st)
{
    /* 53 random bits give u in (0, 1]: log(u) is finite. */
    double u = (double)((splitmix64(&st->rng) >> 11) + 1) * (1.0 / 9007199254740992.0);
    double interval = -log(u) * (double)lt_sampler_rate();
    if (interval < 1.0) {
        return 1;
    }
    if (interval > 9.0e18) {
        return INT64_MAX;
    }
    return (int64_t)interval;
}

void
lt_sampler_configure(uint64_t rate, uint64_t seed)
{
    __atomic_store_n(&lt_sampler_rate_bytes,
                     rate > (uint64_t)INT64_MAX ? (uint64_t)INT64_MAX : rate, __ATOMIC_RELAXED);
    __atomic_store_n(&sampler_seed, seed, __ATOMIC_RELAXED);
    __atomic_store_n(&threads_seeded, 0, __ATOMIC_RELAXED);
    __atomic_store_n(&lt_sampler_generation, lt_sampler_generation + 1, __ATOMIC_RELAXED);
    pthread_mutex_lock(&threads_lock);
    for (lt_sampler_thread *st = threads; st; st = st->next) {
        __atomic_store_n(&st->remaining, 0, __ATOMIC_RELEASE);
    }
    pthread_mutex_unlock(&threads_lock);
}

int
lt_sampler_take_slow(lt_sampler_thread *st, uint64_t size)
{
    if (!lt_sampler_rate()) {
        return 1;
    }
    uint32_t generation = lt_sampler_current_generation();
    if (st->generation != generation) {
        if (st->listed == 0) {
            list_thread(st);
        }
        uint64_t index = __atomic_fetch_add(&threads_seeded, 1, __ATOMIC_RELAXED);
        st->rng = __atomic_load_n(&sampler_seed, __ATOMIC_RELAXED) ^
                  (index * 0xD1B54A32D192ED03ull);
        st->generation = generation;
        int64_t left = next_interval(st) - (int64_t)size;
        __atomic_store_n(&st->remaining, left, __ATOMIC_RELAXED);
        if (left > 0) {
            return 0;
        }
    }
    /* The countdown crossed a sample point inside this block. The next point
     * lies an exponential distance past the block's end (memorylessness). */
    __atomic_store_n(&st->remaining, next_interval(st), __ATOMIC_RELAXED);
    return 1;
}

void
lt_sampler_weigh_at(uint64_t rate, uint64_t size, uint64_t *bytes, uint64_t *count)
{
    if (!rate) {
        *bytes = size;
        *count = 1;
        return;
    }
    /* p = 1 - exp(-size/rate), computed without cancellation for small sizes. */
    double p = -expm1(-(double)size / (double)rate);
    if (p <= 0.0) {
        /* A zero-byte block: lt_sampler_take() never samples one. */
        *bytes = 0;
        *count = LT_SAMPLE_COUNT_SCALE;
        return;
    }
    *bytes = (uint64_t)llround((double)size / p);
    *count = (uint64_t)llround((double)LT_SAMPLE_COUNT_SCALE / p);
}
