/* test_sampler.c - byte sampling and its weights (lt_sampler.h). */
#include <math.h>
#include <pthread.h>

#include "check.h"
#include "record/lt_sampler.h"

/* Without a rate every allocation is recorded, at its own size. */
static void
test_no_rate_records_everything(void)
{
    lt_sampler_configure(0, 1);
    for (uint64_t size = 0; size < 5000; size += 7) {
        CHECK(lt_sampler_take(size));
        uint64_t bytes, count;
        lt_sampler_weigh(size, &bytes, &count);
        CHECK_U64(bytes, ==, size);
        CHECK_U64(count, ==, 1);
    }
}

static void
test_weights_are_size_over_probability(void)
{
    uint64_t bytes, count;
    /* size == rate: p = 1 - 1/e */
    lt_sampler_weigh_at(1000, 1000, &bytes, &count);
    CHECK_U64(bytes, ==, 1582); /* 1000 / 0.632120... = 1581.98 */
    CHECK_U64(count, ==, 1620); /* 1024 / 0.632120... = 1619.95 */
    /* tiny blocks weigh about the rate, plus half their size */
    lt_sampler_weigh_at(1u << 20, 8, &bytes, &count);
    CHECK_U64(bytes, ==, (1u << 20) + 4);
    /* blocks far above the rate are (nearly) always taken: weight = size */
    lt_sampler_weigh_at(4096, 1u << 20, &bytes, &count);
    CHECK_U64(bytes, ==, 1u << 20);
    CHECK_U64(count, ==, LT_SAMPLE_COUNT_SCALE);
    /* never sampled, weighs nothing */
    lt_sampler_weigh_at(4096, 0, &bytes, &count);
    CHECK_U64(bytes, ==, 0);
}

/* The fraction of blocks taken is p(size), and the sum of the weights of the
 * taken blocks estimates the bytes allocated without bias. */
static void
test_sampling_frequency_and_unbiased_sum(void)
{
    const uint64_t rate = 4096, size = 512, n = 400000;
    lt_sampler_configure(rate, 12345);
    uint64_t taken = 0, estimate = 0;
    for (uint64_t i = 0; i < n; i++) {
        if (lt_sampler_take(size)) {
            uint64_t bytes, count;
            lt_sampler_weigh(size, &bytes, &count);
            taken++;
            estimate += bytes;
        }
    }
    double p = -expm1(-(double)size / (double)rate);
    double expected = p * (double)n;
    /* 5 standard deviations of a binomial count */
    double sd = sqrt(expected * (1 - p));
    CHECK(fabs((double)taken - expected) < 5 * sd);
    double truth = (double)(size * n);
    CHECK(fabs((double)estimate - truth) < 5 * sd * ((double)size / p));
    lt_sampler_configure(0, 0);
}

/* The same seed gives the same choices; a new configuration reseeds. */
static void
test_seed_repeats_the_choices(void)
{
    uint8_t first[2000], second[2000];
    lt_sampler_configure(2048, 99);
    for (int i = 0; i < 2000; i++) {
        first[i] = (uint8_t)lt_sampler_take(100 + (uint64_t)i % 300);
    }
    lt_sampler_configure(2048, 99);
    for (int i = 0; i < 2000; i++) {
        second[i] = (uint8_t)lt_sampler_take(100 + (uint64_t)i % 300);
    }
    CHECK(memcmp(first, second, sizeof(first)) == 0);
    lt_sampler_configure(2048, 100);
    int differ = 0;
    for (int i = 0; i < 2000; i++) {
        differ += (uint8_t)lt_sampler_take(100 + (uint64_t)i % 300) != first[i];
    }
    CHECK(differ > 0);
    lt_sampler_configure(0, 0);
}

#define THREAD_TAKES 2000

static void *
take_in_thread(void *arg)
{
    uint8_t *out = arg;
    for (int i = 0; i < THREAD_TAKES; i++) {
        out[i] = (uint8_t)lt_sampler_take(100 + (uint64_t)i % 300);
    }
    return NULL;
}

/* A listed thread (this one) reseeds after a new configuration, so the first
 * thread to allocate in a configuration gets the same choices whichever it
 * is; threads that exit leave the list of states that a configuration resets. */
static void
test_threads_reseed_after_configure(void)
{
    uint8_t first[THREAD_TAKES], other[THREAD_TAKES], again[THREAD_TAKES];
    pthread_t thread;
    lt_sampler_configure(2048, 7);
    take_in_thread(first);
    lt_sampler_configure(2048, 7);
    CHECK(pthread_create(&thread, NULL, take_in_thread, other) == 0);
    CHECK(pthread_join(thread, NULL) == 0);
    CHECK(memcmp(first, other, sizeof(first)) == 0);
    lt_sampler_configure(2048, 7);
    take_in_thread(again);
    CHECK(memcmp(first, again, sizeof(first)) == 0);
    lt_sampler_configure(0, 0);
}

const test_case sampler_tests[] = {
    {"sampler: threads reseed after a configuration", test_threads_reseed_after_configure},
    {"sampler: no rate records everything", test_no_rate_records_everything},
    {"sampler: weights are size over probability", test_weights_are_size_over_probability},
    {"sampler: frequency and unbiased sum", test_sampling_frequency_and_unbiased_sum},
    {"sampler: a seed repeats the choices", test_seed_repeats_the_choices},
    {NULL, NULL},
};
