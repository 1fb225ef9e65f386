/* test_buf.c - the byte buffer of the C report writers (base/lt_buf.h). */
#include <stdlib.h>

#include "base/lt_buf.h"
#include "capture/lt_format.h"
#include "check.h"

static void
test_buf_decimal(void)
{
    lt_buf b = {0};
    const uint64_t values[] = {0, 7, 10, 99, 1000000, UINT64_MAX};
    const char *want = "0 7 10 99 1000000 18446744073709551615 -1 -9223372036854775808 42";
    for (size_t i = 0; i < sizeof(values) / sizeof(values[0]); i++) {
        lt_buf_u64(&b, values[i]);
        lt_buf_byte(&b, ' ');
    }
    lt_buf_i64(&b, -1);
    lt_buf_byte(&b, ' ');
    lt_buf_i64(&b, INT64_MIN);
    lt_buf_byte(&b, ' ');
    lt_buf_i64(&b, 42);
    CHECK(!b.failed);
    CHECK_BYTES(b.data, b.len, want, strlen(want));
    test_rng rng = {5};
    for (int i = 0; i < 10000; i++) {
        uint64_t v = test_rand(&rng) >> test_below(&rng, 64);
        char expect[32];
        int n = snprintf(expect, sizeof(expect), "%" PRIu64, v);
        b.len = 0;
        lt_buf_u64(&b, v);
        CHECK_BYTES(b.data, b.len, expect, (size_t)n);
    }
    lt_buf_free(&b);
    CHECK(b.data == NULL && b.len == 0 && b.cap == 0);
}

/* lt_buf_varint writes what the capture format's encoder writes, and says
 * how long it is beforehand. */
static void
test_buf_varint(void)
{
    lt_buf b = {0};
    test_rng rng = {6};
    for (int i = 0; i < 10000; i++) {
        uint64_t v = i < 3 ? (uint64_t[]){0, 127, UINT64_MAX}[i]
                           : test_rand(&rng) >> test_below(&rng, 64);
        uint8_t want[LT_VARINT_MAX_BYTES];
        size_t n = lt_varint_encode(v, want);
        b.len = 0;
        lt_buf_varint(&b, v);
        CHECK_BYTES(b.data, b.len, want, n);
        CHECK_U64(lt_buf_varint_size(v), ==, n);
    }
    lt_buf_free(&b);
}

/* Appends grow the buffer past its first block; newlines indent. */
static void
test_buf_grows_and_indents(void)
{
    lt_buf b = {0};
    for (int i = 0; i < 3000; i++) {
        lt_buf_puts(&b, "abc");
        lt_buf_newline(&b, 4);
    }
    CHECK(!b.failed);
    CHECK_U64(b.len, ==, 3000 * 8);
    CHECK_BYTES(b.data + 8 * 2999, 8, "abc\n    ", 8);
    CHECK(b.cap >= b.len);
    lt_buf_append(&b, "", 0);
    CHECK_U64(b.len, ==, 3000 * 8);
    lt_buf_free(&b);
}

/* A request past what memory can hold fails the buffer, which then ignores
 * appends and keeps what it had. */
static void
test_buf_failure_sticks(void)
{
    lt_buf b = {0};
    lt_buf_puts(&b, "kept");
    CHECK(lt_buf_reserve(&b, SIZE_MAX - 1) == -1);
    CHECK(b.failed);
    lt_buf_puts(&b, "lost");
    lt_buf_u64(&b, 1);
    CHECK_BYTES(b.data, b.len, "kept", 4);
    lt_buf_free(&b);
    CHECK(!b.failed);
}

const test_case buf_tests[] = {
    {"buf_decimal", test_buf_decimal},
    {"buf_varint", test_buf_varint},
    {"buf_grows_and_indents", test_buf_grows_and_indents},
    {"buf_failure_sticks", test_buf_failure_sticks},
    {NULL, NULL},
};
