/* test_varint.c - LEB128 varints and zigzag (lt_format.h). */
#include <stdlib.h>

#include "check.h"
#include "capture/lt_format.h"

/* Encodes v, checks the length, decodes it back from a buffer of exactly that
 * size (so a read past the end shows under ASan/valgrind). */
static void
round_trip(uint64_t v, size_t want_len)
{
    uint8_t buf[LT_VARINT_MAX_BYTES + 4];
    memset(buf, 0xAA, sizeof(buf));
    size_t n = lt_varint_encode(v, buf);
    CHECK_U64(n, ==, want_len);
    CHECK_U64(buf[n], ==, 0xAA); /* nothing written past the encoding */
    CHECK((buf[n - 1] & 0x80) == 0);
    for (size_t i = 0; i + 1 < n; i++) {
        CHECK(buf[i] & 0x80);
    }
    uint8_t *exact = malloc(n);
    memcpy(exact, buf, n);
    const uint8_t *pos = exact;
    uint64_t out = ~v;
    CHECK(lt_varint_decode(&pos, exact + n, &out) == 0);
    CHECK_U64(out, ==, v);
    CHECK(pos == exact + n);
    free(exact);
}

static size_t
expected_length(uint64_t v)
{
    size_t n = 1;
    while (v >= 0x80) {
        v >>= 7;
        n++;
    }
    return n;
}

static void
test_varint_round_trip_edges(void)
{
    round_trip(0, 1);
    round_trip(1, 1);
    round_trip(127, 1);
    round_trip(128, 2);
    round_trip(16383, 2);
    round_trip(16384, 3);
    round_trip(UINT32_MAX, 5);
    round_trip((1ull << 56) - 1, 8);
    round_trip(1ull << 56, 9);
    round_trip((1ull << 63) - 1, 9);
    round_trip(1ull << 63, 10);
    round_trip(UINT64_MAX, 10);
    /* Every power of two and its neighbours. */
    for (unsigned bit = 0; bit < 64; bit++) {
        uint64_t p = 1ull << bit;
        round_trip(p, expected_length(p));
        round_trip(p - 1, expected_length(p - 1));
        round_trip(p + 1, expected_length(p + 1));
    }
}

static void
test_varint_round_trip_random(void)
{
    test_rng rng = {1};
    for (int i = 0; i < 100000; i++) {
        /* Random widths, so that short encodings are tested as much as long ones. */
        uint64_t v = test_rand(&rng) >> test_below(&rng, 64);
        round_trip(v, expected_length(v));
    }
}

static void
test_varint_known_bytes(void)
{
    uint8_t buf[LT_VARINT_MAX_BYTES];
    CHECK_U64(lt_varint_encode(300, buf), ==, 2);
    CHECK(buf[0] == 0xAC && buf[1] == 0x02);
    CHECK_U64(lt_varint_encode(UINT64_MAX, buf), ==, 10);
    for (int i = 0; i < 9; i++) {
        CHECK_U64(buf[i], ==, 0xFF);
    }
    CHECK_U64(buf[9], ==, 0x01);
    CHECK_U64(lt_varint_encode(1ull << 63, buf), ==, 10);
    for (int i = 0; i < 9; i++) {
        CHECK_U64(buf[i], ==, 0x80);
    }
    CHECK_U64(buf[9], ==, 0x01);
}

/* Decodes [data, data + len) from an exact-size copy; returns the result and
 * checks that a failure leaves the position where it was. */
static int
decode(const uint8_t *data, size_t len, uint64_t *v, size_t *used)
{
    uint8_t *copy = malloc(len ? len : 1);
    if (len) {
        memcpy(copy, data, len);
    }
    const uint8_t *pos = copy;
    int r = lt_varint_decode(&pos, copy + len, v);
    if (r < 0) {
        CHECK(pos == copy);
    }
    *used = (size_t)(pos - copy);
    free(copy);
    return r;
}

static void
test_varint_decode_rejects_truncated(void)
{
    uint64_t v = 0;
    size_t used;
    CHECK(decode(NULL, 0, &v, &used) < 0);
    const uint64_t values[] = {128, 300, UINT32_MAX, 1ull << 63, UINT64_MAX};
    for (size_t k = 0; k < sizeof(values) / sizeof(values[0]); k++) {
        uint8_t buf[LT_VARINT_MAX_BYTES];
        size_t n = lt_varint_encode(values[k], buf);
        for (size_t cut = 0; cut < n; cut++) {
            CHECK(decode(buf, cut, &v, &used) < 0);
        }
        CHECK(decode(buf, n, &v, &used) == 0);
        CHECK_U64(v, ==, values[k]);
    }
    /* Continuation bits to the very end of the input. */
    const uint8_t cont[] = {0x80, 0x80, 0x80};
    CHECK(decode(cont, sizeof(cont), &v, &used) < 0);
}

static void
test_varint_decode_rejects_overlong(void)
{
    uint64_t v = 0;
    size_t used;
    /* Eleven bytes for the value 0: it would fit, but the format allows ten. */
    uint8_t eleven[11];
    memset(eleven, 0x80, 10);
    eleven[10] = 0x00;
    CHECK(decode(eleven, sizeof(eleven), &v, &used) < 0);
    /* Eleven bytes for a value of more than 64 bits. */
    memset(eleven, 0xFF, 9);
    eleven[9] = 0x81;
    eleven[10] = 0x01;
    CHECK(decode(eleven, sizeof(eleven), &v, &used) < 0);
    /* Ten bytes whose last one carries bits past 2^63. */
    uint8_t ten[10];
    for (unsigned last = 0x02; last <= 0x7F; last++) {
        memset(ten, 0xFF, 9);
        ten[9] = (uint8_t)last;
        CHECK(decode(ten, sizeof(ten), &v, &used) < 0);
    }
    /* A tenth byte with its continuation bit set. */
    memset(ten, 0x80, 9);
    ten[9] = 0x81;
    CHECK(decode(ten, sizeof(ten), &v, &used) < 0);
    /* The largest ten-byte values are accepted. */
    memset(ten, 0xFF, 9);
    ten[9] = 0x01;
    CHECK(decode(ten, sizeof(ten), &v, &used) == 0);
    CHECK_U64(v, ==, UINT64_MAX);
    CHECK_U64(used, ==, 10);
    memset(ten, 0xFF, 9);
    ten[9] = 0x00;
    CHECK(decode(ten, sizeof(ten), &v, &used) == 0);
    CHECK_U64(v, ==, (1ull << 63) - 1);
}

static void
test_varint_decode_stops_at_terminator(void)
{
    /* Trailing bytes belong to the next field. */
    const uint8_t data[] = {0x05, 0xFF, 0xFF};
    const uint8_t *pos = data;
    uint64_t v = 0;
    CHECK(lt_varint_decode(&pos, data + sizeof(data), &v) == 0);
    CHECK_U64(v, ==, 5);
    CHECK(pos == data + 1);
    /* Padded (non-minimal) encodings within ten bytes decode to their value:
     * the format bounds the length, not the form. */
    const uint8_t padded[] = {0x81, 0x80, 0x00};
    pos = padded;
    CHECK(lt_varint_decode(&pos, padded + sizeof(padded), &v) == 0);
    CHECK_U64(v, ==, 1);
    CHECK(pos == padded + 3);
}

static void
test_zigzag(void)
{
    CHECK_U64(lt_zigzag_encode(0), ==, 0);
    CHECK_U64(lt_zigzag_encode(-1), ==, 1);
    CHECK_U64(lt_zigzag_encode(1), ==, 2);
    CHECK_U64(lt_zigzag_encode(-2), ==, 3);
    CHECK_U64(lt_zigzag_encode(INT64_MAX), ==, UINT64_MAX - 1);
    CHECK_U64(lt_zigzag_encode(INT64_MIN), ==, UINT64_MAX);
    const int64_t values[] = {0,         1,         -1,        63,        -64,          64,
                              INT32_MAX, INT32_MIN, INT64_MAX, INT64_MIN, INT64_MIN + 1};
    for (size_t i = 0; i < sizeof(values) / sizeof(values[0]); i++) {
        CHECK_I64(lt_zigzag_decode(lt_zigzag_encode(values[i])), ==, values[i]);
        /* And through the varint, as the writer stores line numbers. */
        uint8_t buf[LT_VARINT_MAX_BYTES];
        size_t n = lt_varint_encode(lt_zigzag_encode(values[i]), buf);
        const uint8_t *pos = buf;
        uint64_t raw = 0;
        CHECK(lt_varint_decode(&pos, buf + n, &raw) == 0);
        CHECK_I64(lt_zigzag_decode(raw), ==, values[i]);
    }
    /* Small magnitudes stay short: -1 is one byte, not ten. */
    uint8_t buf[LT_VARINT_MAX_BYTES];
    CHECK_U64(lt_varint_encode(lt_zigzag_encode(-1), buf), ==, 1);
    CHECK_U64(lt_varint_encode(lt_zigzag_encode(-64), buf), ==, 1);
    CHECK_U64(lt_varint_encode(lt_zigzag_encode(-65), buf), ==, 2);
    test_rng rng = {2};
    for (int i = 0; i < 100000; i++) {
        int64_t v = (int64_t)test_rand(&rng) >> test_below(&rng, 64);
        CHECK_I64(lt_zigzag_decode(lt_zigzag_encode(v)), ==, v);
        uint64_t u = test_rand(&rng);
        CHECK_U64(lt_zigzag_encode(lt_zigzag_decode(u)), ==, u);
    }
}

const test_case varint_tests[] = {
    {"varint_round_trip_edges", test_varint_round_trip_edges},
    {"varint_round_trip_random", test_varint_round_trip_random},
    {"varint_known_bytes", test_varint_known_bytes},
    {"varint_decode_rejects_truncated", test_varint_decode_rejects_truncated},
    {"varint_decode_rejects_overlong", test_varint_decode_rejects_overlong},
    {"varint_decode_stops_at_terminator", test_varint_decode_stops_at_terminator},
    {"zigzag", test_zigzag},
    {NULL, NULL},
};
