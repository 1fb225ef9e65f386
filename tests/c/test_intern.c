/* test_intern.c - interned strings, frames and nodes (lt_intern.h). */
#include <stdlib.h>

#include "check.h"
#include "record/lt_intern.h"
#include "base/lt_rawalloc.h"

static int
string_is(const lt_intern *in, uint32_t id, const char *s, size_t len)
{
    return id < in->nstrings && in->strings[id].len == len &&
           (len == 0 || memcmp(in->strings[id].ptr, s, len) == 0);
}

static void
test_intern_init(void)
{
    size_t start = lt_raw_current_bytes();
    lt_intern in;
    CHECK(lt_intern_init(&in) == 0);
    /* The root node: the empty stack, with no frame. */
    CHECK_U64(in.nnodes, ==, 1);
    CHECK_U64(in.nodes[LT_ROOT_NODE].parent, ==, LT_ROOT_NODE);
    CHECK_U64(in.nodes[LT_ROOT_NODE].frame, ==, LT_NO_ID);
    CHECK_U64(in.nodes[LT_ROOT_NODE].alloc_count, ==, 0);
    CHECK_U64(in.nodes[LT_ROOT_NODE].live_bytes, ==, 0);
    /* Frame 0: the truncation marker. */
    CHECK_U64(in.nframes, ==, 1);
    const lt_frame *marker = &in.frames[LT_TRUNCATED_FRAME];
    CHECK(string_is(&in, marker->function, "<truncated>", 11));
    CHECK(string_is(&in, marker->file, "", 0));
    CHECK_I64(marker->line, ==, -1);
    /* Its strings are the ordinary interned ones. */
    CHECK_U64(lt_intern_string(&in, "<truncated>", 11), ==, marker->function);
    CHECK_U64(lt_intern_string(&in, "", 0), ==, marker->file);
    CHECK_U64(in.nstrings, ==, 2);
    CHECK_U64(lt_raw_current_bytes() - start, ==, lt_intern_memory(&in));
    lt_intern_destroy(&in);
    CHECK_U64(lt_raw_current_bytes(), ==, start);
}

static void
test_intern_strings(void)
{
    size_t start = lt_raw_current_bytes();
    lt_intern in;
    CHECK(lt_intern_init(&in) == 0);
    uint32_t base = in.nstrings;

    uint32_t abc = lt_intern_string(&in, "abc", 3);
    CHECK_U64(abc, ==, base); /* ids are dense */
    /* Same content from another buffer: same id. */
    char copy[] = "abc";
    CHECK_U64(lt_intern_string(&in, copy, 3), ==, abc);
    uint32_t abd = lt_intern_string(&in, "abd", 3);
    CHECK_U64(abd, ==, base + 1);
    /* A prefix is another string. */
    uint32_t ab = lt_intern_string(&in, "abc", 2);
    CHECK(ab != abc && ab != abd);
    CHECK(string_is(&in, ab, "ab", 2));

    /* Embedded NULs are content like any other byte. */
    uint32_t nul1 = lt_intern_string(&in, "a\0b", 3);
    uint32_t nul2 = lt_intern_string(&in, "a\0c", 3);
    uint32_t nul3 = lt_intern_string(&in, "a\0", 2);
    uint32_t a = lt_intern_string(&in, "a", 1);
    CHECK(nul1 != nul2 && nul1 != nul3 && nul2 != nul3 && nul3 != a && nul1 != a);
    CHECK_U64(lt_intern_string(&in, "a\0b", 3), ==, nul1);
    CHECK(string_is(&in, nul1, "a\0b", 3));
    CHECK(string_is(&in, nul3, "a\0", 2));
    const char zeros[8] = {0};
    uint32_t z4 = lt_intern_string(&in, zeros, 4);
    uint32_t z5 = lt_intern_string(&in, zeros, 5);
    CHECK(z4 != z5);
    CHECK_U64(lt_intern_string(&in, zeros, 4), ==, z4);

    /* Strings longer than a chunk get a block of their own, and small ones
     * around them still land in the shared chunk. */
    enum { LONG = 200 * 1024 };
    char *big = malloc(LONG);
    for (size_t i = 0; i < LONG; i++) {
        big[i] = (char)(i * 7 + i / 251);
    }
    uint32_t big1 = lt_intern_string(&in, big, LONG);
    uint32_t small = lt_intern_string(&in, "small after big", 15);
    big[LONG - 1] ^= 1;
    uint32_t big2 = lt_intern_string(&in, big, LONG);
    CHECK(big1 != big2);
    uint32_t exact = lt_intern_string(&in, big, 64 * 1024); /* exactly one chunk */
    big[LONG - 1] ^= 1;
    CHECK_U64(lt_intern_string(&in, big, LONG), ==, big1);
    CHECK(string_is(&in, big1, big, LONG));
    CHECK(string_is(&in, exact, big, 64 * 1024));
    CHECK(string_is(&in, small, "small after big", 15));
    CHECK_U64(in.strings[big2].len, ==, LONG);
    free(big);

    /* Many strings: the map and the array grow; ids stay dense and stable. */
    enum { MANY = 100000 };
    uint32_t first = in.nstrings;
    char buf[64];
    for (uint32_t i = 0; i < MANY; i++) {
        int n = snprintf(buf, sizeof(buf), "module_%u.function_%u", i % 977, i);
        CHECK_U64(lt_intern_string(&in, buf, (size_t)n), ==, first + i);
    }
    for (uint32_t i = 0; i < MANY; i++) {
        int n = snprintf(buf, sizeof(buf), "module_%u.function_%u", i % 977, i);
        uint32_t id = lt_intern_string(&in, buf, (size_t)n);
        CHECK_U64(id, ==, first + i);
        CHECK(string_is(&in, id, buf, (size_t)n));
    }
    CHECK_U64(in.nstrings, ==, first + MANY);
    /* The early strings survived all that growth. */
    CHECK(string_is(&in, abc, "abc", 3));
    CHECK_U64(lt_intern_string(&in, "abd", 3), ==, abd);
    CHECK_U64(lt_intern_string(&in, "a\0c", 3), ==, nul2);
    CHECK_U64(lt_raw_current_bytes() - start, ==, lt_intern_memory(&in));
    lt_intern_destroy(&in);
    CHECK_U64(lt_raw_current_bytes(), ==, start);
}

static void
test_intern_frames(void)
{
    size_t start = lt_raw_current_bytes();
    lt_intern in;
    CHECK(lt_intern_init(&in) == 0);
    uint32_t fn = lt_intern_string(&in, "handler", 7);
    uint32_t file = lt_intern_string(&in, "/srv/app.py", 11);
    uintptr_t code = 0x7f0012340000;

    CHECK_U64(lt_intern_find_frame(&in, code, 10, 111), ==, LT_NO_ID);
    uint32_t f1 = lt_intern_add_frame(&in, code, 10, 111, fn, file, 42);
    CHECK_U64(f1, ==, 1); /* after the truncation marker */
    CHECK_U64(lt_intern_find_frame(&in, code, 10, 111), ==, f1);
    CHECK_U64(in.frames[f1].function, ==, fn);
    CHECK_U64(in.frames[f1].file, ==, file);
    CHECK_I64(in.frames[f1].line, ==, 42);
    CHECK_U64(in.frames[f1].fingerprint, ==, 111);

    /* The key is the pair: another position or another code object differs. */
    CHECK_U64(lt_intern_find_frame(&in, code, 12, 111), ==, LT_NO_ID);
    CHECK_U64(lt_intern_find_frame(&in, code + 16, 10, 111), ==, LT_NO_ID);
    uint32_t f2 = lt_intern_add_frame(&in, code, 12, 111, fn, file, 43);
    CHECK(f2 != f1);
    CHECK_U64(lt_intern_find_frame(&in, code, 10, 111), ==, f1);
    CHECK_U64(lt_intern_find_frame(&in, code, 12, 111), ==, f2);

    /* A code object freed and another allocated at its address: the
     * fingerprint differs, the old frame is not found, and adding gives a new
     * id while the old frame keeps its data (nodes still point to it). */
    CHECK_U64(lt_intern_find_frame(&in, code, 10, 222), ==, LT_NO_ID);
    uint32_t other = lt_intern_string(&in, "other", 5);
    uint32_t f3 = lt_intern_add_frame(&in, code, 10, 222, other, file, 7);
    CHECK(f3 != f1 && f3 != f2);
    CHECK_U64(lt_intern_find_frame(&in, code, 10, 222), ==, f3);
    CHECK_U64(lt_intern_find_frame(&in, code, 10, 111), ==, LT_NO_ID);
    CHECK_U64(in.frames[f1].function, ==, fn);
    CHECK_I64(in.frames[f1].line, ==, 42);
    CHECK_U64(in.frames[f3].function, ==, other);
    uint32_t before = in.nframes;
    /* The same code object coming back is a new frame again. */
    uint32_t f4 = lt_intern_add_frame(&in, code, 10, 111, fn, file, 42);
    CHECK(f4 != f1 && f4 != f3);
    CHECK_U64(in.nframes, ==, before + 1);
    CHECK_U64(lt_intern_find_frame(&in, code, 10, 111), ==, f4);

    /* Unknown and extreme line numbers are kept. */
    uint32_t f5 = lt_intern_add_frame(&in, code + 32, 0, 1, fn, file, -1);
    uint32_t f6 = lt_intern_add_frame(&in, code + 32, 2, 1, fn, file, INT32_MAX);
    CHECK_I64(in.frames[f5].line, ==, -1);
    CHECK_I64(in.frames[f6].line, ==, INT32_MAX);

    /* Growth: many frames of many code objects; all found afterwards. */
    enum { MANY = 50000 };
    uint32_t ids[MANY / 10];
    for (uint32_t i = 0; i < MANY; i++) {
        uintptr_t c = 0x550000000000 + (uintptr_t)(i / 10) * 0x100;
        uint32_t id = lt_intern_add_frame(&in, c, (i % 10) * 2, i / 10, fn, file, (int32_t)i);
        CHECK(id != LT_NO_ID);
        if (i % 10 == 3) {
            ids[i / 10] = id;
        }
    }
    for (uint32_t k = 0; k < MANY / 10; k++) {
        uintptr_t c = 0x550000000000 + (uintptr_t)k * 0x100;
        uint32_t id = lt_intern_find_frame(&in, c, 6, k);
        CHECK_U64(id, ==, ids[k]);
        CHECK_I64(in.frames[id].line, ==, (int64_t)k * 10 + 3);
    }
    CHECK_U64(lt_intern_find_frame(&in, code, 12, 111), ==, f2);
    CHECK_U64(lt_raw_current_bytes() - start, ==, lt_intern_memory(&in));
    lt_intern_destroy(&in);
    CHECK_U64(lt_raw_current_bytes(), ==, start);
}

static void
test_intern_nodes(void)
{
    size_t start = lt_raw_current_bytes();
    lt_intern in;
    CHECK(lt_intern_init(&in) == 0);
    uint32_t s = lt_intern_string(&in, "f", 1);
    uint32_t fa = lt_intern_add_frame(&in, 0x1000, 0, 1, s, s, 1);
    uint32_t fb = lt_intern_add_frame(&in, 0x1000, 2, 1, s, s, 2);

    uint32_t a = lt_intern_node(&in, LT_ROOT_NODE, fa);
    CHECK_U64(a, ==, 1); /* after the root */
    CHECK_U64(lt_intern_node(&in, LT_ROOT_NODE, fa), ==, a);
    uint32_t b = lt_intern_node(&in, LT_ROOT_NODE, fb);
    uint32_t ab = lt_intern_node(&in, a, fb);
    uint32_t aa = lt_intern_node(&in, a, fa);
    CHECK(b != a && ab != a && ab != b && aa != ab && aa != a);
    CHECK_U64(lt_intern_node(&in, a, fb), ==, ab);
    CHECK_U64(in.nodes[ab].parent, ==, a);
    CHECK_U64(in.nodes[ab].frame, ==, fb);
    CHECK_U64(in.nodes[ab].alloc_count, ==, 0);
    /* The truncation marker is a frame like the others. */
    uint32_t t = lt_intern_node(&in, ab, LT_TRUNCATED_FRAME);
    CHECK_U64(lt_intern_node(&in, ab, LT_TRUNCATED_FRAME), ==, t);
    CHECK_U64(in.nodes[t].frame, ==, LT_TRUNCATED_FRAME);

    /* Counters set by hand survive the array growing under them. */
    in.nodes[ab].live_bytes = 1234;
    in.nodes[ab].alloc_count = 5;

    /* 100k nodes: a deep chain and a wide fan; every one found again. */
    enum { DEEP = 50000, WIDE = 50000 };
    uint32_t *chain = malloc(DEEP * sizeof(uint32_t));
    uint32_t *fan = malloc(WIDE * sizeof(uint32_t));
    uint32_t parent = b;
    for (uint32_t i = 0; i < DEEP; i++) {
        chain[i] = lt_intern_node(&in, parent, i % 2 ? fa : fb);
        CHECK(chain[i] != LT_NO_ID);
        parent = chain[i];
    }
    for (uint32_t i = 0; i < WIDE; i++) {
        /* Frames need not be defined for the node table: it keys on ids. */
        fan[i] = lt_intern_node(&in, a, 1000 + i);
        CHECK(fan[i] != LT_NO_ID);
    }
    CHECK_U64(in.nnodes, >=, 100000);
    uint32_t nnodes = in.nnodes;
    parent = b;
    for (uint32_t i = 0; i < DEEP; i++) {
        CHECK_U64(lt_intern_node(&in, parent, i % 2 ? fa : fb), ==, chain[i]);
        CHECK_U64(in.nodes[chain[i]].parent, ==, parent);
        CHECK(chain[i] > parent);
        parent = chain[i];
    }
    for (uint32_t i = 0; i < WIDE; i++) {
        CHECK_U64(lt_intern_node(&in, a, 1000 + i), ==, fan[i]);
        CHECK_U64(in.nodes[fan[i]].frame, ==, 1000 + i);
    }
    CHECK_U64(in.nnodes, ==, nnodes); /* lookups created nothing */
    CHECK_U64(in.nodes[ab].live_bytes, ==, 1234);
    CHECK_U64(in.nodes[ab].alloc_count, ==, 5);
    CHECK_U64(in.nodes[LT_ROOT_NODE].frame, ==, LT_NO_ID);
    CHECK_U64(lt_raw_current_bytes() - start, ==, lt_intern_memory(&in));
    free(chain);
    free(fan);
    lt_intern_destroy(&in);
    CHECK_U64(lt_raw_current_bytes(), ==, start);
}

const test_case intern_tests[] = {
    {"intern_init", test_intern_init},
    {"intern_strings", test_intern_strings},
    {"intern_frames", test_intern_frames},
    {"intern_nodes", test_intern_nodes},
    {NULL, NULL},
};
