/* check.h - the unit tests' own small harness.
 *
 * A test is a function; it passes when none of its CHECKs failed. Checks do
 * not stop the test (so one run shows every broken expectation), but a test
 * that loops over thousands of inputs prints only its first few failures to
 * keep the log readable. main() in test_main.c runs the tables of tests each
 * file exports and prints the "N passed, M failed" line the Python wrapper
 * (tests/test_c_units.py) looks for.
 */
#ifndef LT_TEST_CHECK_H
#define LT_TEST_CHECK_H

#include <inttypes.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>
#include <string.h>

typedef struct {
    const char *name;
    void (*run)(void);
} test_case;

/* Failed checks in the running test (reset by the runner). */
extern unsigned long check_failures;

void check_report(const char *file, int line, const char *fmt, ...)
    __attribute__((format(printf, 3, 4)));

#define CHECK(cond)                                                                               \
    do {                                                                                          \
        if (!(cond)) {                                                                            \
            check_report(__FILE__, __LINE__, "%s", #cond);                                        \
        }                                                                                         \
    } while (0)

/* Compares two unsigned 64-bit values and prints both when they differ. */
#define CHECK_U64(a, op, b)                                                                       \
    do {                                                                                          \
        uint64_t check_a_ = (uint64_t)(a), check_b_ = (uint64_t)(b);                              \
        if (!(check_a_ op check_b_)) {                                                            \
            check_report(__FILE__, __LINE__, "%s %s %s (%" PRIu64 " vs %" PRIu64 ")", #a, #op,    \
                         #b, check_a_, check_b_);                                                 \
        }                                                                                         \
    } while (0)

#define CHECK_I64(a, op, b)                                                                       \
    do {                                                                                          \
        int64_t check_a_ = (int64_t)(a), check_b_ = (int64_t)(b);                                 \
        if (!(check_a_ op check_b_)) {                                                            \
            check_report(__FILE__, __LINE__, "%s %s %s (%" PRId64 " vs %" PRId64 ")", #a, #op,    \
                         #b, check_a_, check_b_);                                                 \
        }                                                                                         \
    } while (0)

/* Checks that the NUL-terminated text contains the needle. */
#define CHECK_CONTAINS(text, needle)                                                              \
    do {                                                                                          \
        const char *check_t_ = (text);                                                            \
        if (!strstr(check_t_, (needle))) {                                                        \
            check_report(__FILE__, __LINE__, "%s contains \"%s\" (it is \"%s\")", #text,          \
                         (needle), check_t_);                                                     \
        }                                                                                         \
    } while (0)

/* Checks a (pointer, length) byte string against an expected one. */
#define CHECK_BYTES(ptr, len, want, want_len)                                                     \
    do {                                                                                          \
        size_t check_l_ = (size_t)(len), check_wl_ = (size_t)(want_len);                          \
        if (check_l_ != check_wl_ || (check_l_ && memcmp((ptr), (want), check_l_) != 0)) {        \
            check_report(__FILE__, __LINE__, "%s equals %s (lengths %zu and %zu)", #ptr, #want,   \
                         check_l_, check_wl_);                                                    \
        }                                                                                         \
    } while (0)

/* Deterministic pseudo-random numbers (splitmix64): every run tests the same
 * inputs, so a failure can be reproduced. */
typedef struct {
    uint64_t state;
} test_rng;

static inline uint64_t
test_mix64(uint64_t z)
{
    z = (z ^ (z >> 30)) * 0xBF58476D1CE4E5B9ull;
    z = (z ^ (z >> 27)) * 0x94D049BB133111EBull;
    return z ^ (z >> 31);
}

static inline uint64_t
test_rand(test_rng *rng)
{
    rng->state += 0x9E3779B97F4A7C15ull;
    return test_mix64(rng->state);
}

/* Uniform enough in [0, n) for tests (n well below 2^32). */
static inline uint64_t
test_below(test_rng *rng, uint64_t n)
{
    return test_rand(rng) % n;
}

/* The test tables of each file, terminated by {NULL, NULL}. */
extern const test_case varint_tests[];
extern const test_case sampler_tests[];
extern const test_case livetable_tests[];
extern const test_case intern_tests[];
extern const test_case capture_tests[];
extern const test_case native_map_tests[];
extern const test_case analysis_tests[];
extern const test_case path_tests[];
extern const test_case sites_tests[];
extern const test_case buf_tests[];
extern const test_case growth_tests[];
extern const test_case schedule_tests[];
extern const test_case stackcache_tests[];
extern const test_case verdicts_tests[];

/* Makes a fresh, empty temporary file (in $TMPDIR, else /tmp) and writes its
 * name to out; aborts the tests when none can be made. */
void check_temp_path(char *out, size_t size);

/* Writes the sample capture the round-trip tests use (also a fuzzing seed).
 * Returns 0 or -1. */
int write_sample_capture(const char *path);

/* Writes the capture of test_sites.c (every trimming case, three snapshots)
 * as format `major` (1: whole snapshots, 2: deltas). Returns 0 or -1. */
int write_sites_capture(const char *path, unsigned major);

#endif /* LT_TEST_CHECK_H */
