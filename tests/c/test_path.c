/* test_path.c - retention paths as bytes (lt_path.c): encoding, decoding and
 * the rules the decoder enforces. */
#include "check.h"
#include "heap/lt_path.h"

static void
encode_sample(lt_bytes *b)
{
    lt_bytes_varint(b, LT_ROOT_MODULE);
    lt_bytes_str(b, "app.cache", 9);
    lt_bytes_str(b, "Order", 5);
    lt_bytes_varint(b, 56);
    lt_bytes_varint(b, 2150);
    lt_bytes_varint(b, 2);
    lt_bytes_varint(b, LT_EDGE_ATTR);
    lt_bytes_str(b, "_CACHE", 6);
    lt_bytes_varint(b, LT_EDGE_KEY);
    lt_bytes_str(b, "'user:42'", 9);
}

static void
test_path_round_trip(void)
{
    lt_bytes b = {0};
    encode_sample(&b);
    CHECK(!b.failed);
    lt_path p;
    const uint8_t *pos = b.data;
    CHECK(lt_path_decode(&pos, b.data + b.len, &p) == 0);
    CHECK(pos == b.data + b.len);
    CHECK_U64(p.root_kind, ==, LT_ROOT_MODULE);
    CHECK_BYTES(p.root, p.root_len, "app.cache", 9);
    CHECK_BYTES(p.target, p.target_len, "Order", 5);
    CHECK_U64(p.object_bytes, ==, 56);
    CHECK_U64(p.retained_bytes, ==, 2150);
    CHECK_U64(p.nedges, ==, 2);
    CHECK_U64(p.edges[1].kind, ==, LT_EDGE_KEY);
    CHECK_BYTES(p.edges[1].text, p.edges[1].len, "'user:42'", 9);
    lt_bytes_free(&b);
}

static void
test_path_rejects_truncation(void)
{
    lt_bytes b = {0};
    encode_sample(&b);
    for (size_t cut = 0; cut < b.len; cut++) {
        lt_path p;
        const uint8_t *pos = b.data;
        CHECK(lt_path_decode(&pos, b.data + cut, &p) < 0);
    }
    lt_bytes_free(&b);
}

static void
test_path_long_text_cut_at_utf8_boundary(void)
{
    /* 2-byte characters: a cut at LT_MAX_PATH_TEXT (even) would fall between
     * characters only if the text started on an odd byte. */
    char text[LT_MAX_PATH_TEXT + 10];
    text[0] = 'x';
    for (size_t i = 1; i + 1 < sizeof(text); i += 2) {
        text[i] = (char)0xC3;
        text[i + 1] = (char)0xA9; /* é */
    }
    lt_bytes b = {0};
    lt_bytes_str(&b, text, sizeof(text) - 1);
    const uint8_t *pos = b.data;
    uint64_t len = 0;
    CHECK(lt_varint_decode(&pos, b.data + b.len, &len) == 0);
    CHECK_U64(len, <=, LT_MAX_PATH_TEXT);
    CHECK_U64(len % 2, ==, 1); /* 'x' and whole two-byte characters */
    lt_bytes_free(&b);
}

static void
test_path_rejects_bad_kinds_and_counts(void)
{
    const uint64_t cases[][8] = {
        {LT_ROOT_KIND_COUNT, 0, 0, 0, 0, 0},       /* unknown root kind */
        {0, 0, 0, 0, 0, LT_MAX_PATH_EDGES + 1},    /* too many edges */
        {0, 0, 0, 0, 0, 1, LT_EDGE_KIND_COUNT, 0}, /* unknown edge kind */
        {0, LT_MAX_PATH_TEXT + 1, 0, 0, 0, 0},     /* root text too long */
    };
    for (size_t c = 0; c < sizeof(cases) / sizeof(cases[0]); c++) {
        lt_bytes b = {0};
        for (size_t i = 0; i < 8; i++) {
            lt_bytes_varint(&b, cases[c][i]);
        }
        lt_bytes_append(&b, "xxxxxxxxxxxxxxxx", 16);
        lt_path p;
        const uint8_t *pos = b.data;
        CHECK(lt_path_decode(&pos, b.data + b.len, &p) < 0);
        lt_bytes_free(&b);
    }
}

const test_case path_tests[] = {
    {"path_round_trip", test_path_round_trip},
    {"path_rejects_truncation", test_path_rejects_truncation},
    {"path_long_text_cut_at_utf8_boundary", test_path_long_text_cut_at_utf8_boundary},
    {"path_rejects_bad_kinds_and_counts", test_path_rejects_bad_kinds_and_counts},
    {NULL, NULL},
};
