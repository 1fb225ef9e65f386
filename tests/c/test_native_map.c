/* test_native_map.c - the NATIVE_MAP record (0x41): written, read back,
 * rejected when inconsistent. */
#include <stdlib.h>
#include <unistd.h>

#include "capture_check.h"
#include "check.h"
#include "record/lt_intern.h"
#include "capture/lt_reader.h"
#include "capture/lt_writer.h"

/* Writes a capture with the given maps and one snapshot; returns 0 or -1. */
static int
write_with_maps(const char *path, const uint64_t (*ranges)[3], size_t n)
{
    static const uint8_t build_id[] = {0xde, 0xad, 0xbe, 0xef};
    lt_intern in;
    lt_writer w;
    if (lt_intern_init(&in) < 0) {
        return -1;
    }
    int r = lt_writer_open(&w, path);
    for (size_t i = 0; r == 0 && i < n; i++) {
        r = lt_writer_native_map(&w, ranges[i][0], ranges[i][1], ranges[i][2], "/lib/x.so", 9,
                                 build_id, i % 2 ? 0 : sizeof(build_id));
    }
    lt_snapshot_info info = {LT_SNAP_FINAL, 1, LT_NO_ID, 0, 0};
    if (r == 0) {
        r = lt_writer_snapshot(&w, &in, &info);
    }
    if (r == 0) {
        r = lt_writer_close(&w);
    }
    else {
        lt_writer_abandon(&w);
    }
    lt_intern_destroy(&in);
    return r;
}

static void
test_native_map_round_trip(void)
{
    char path[4096];
    check_temp_path(path, sizeof(path));
    const uint64_t ranges[][3] = {{0x7f0000000000ull, 0x7f0000001000ull, 0x7f0000009000ull},
                                  {0, 0x400000, 0x600000}};
    CHECK(write_with_maps(path, ranges, 2) == 0);
    lt_capture cap;
    CHECK(lt_reader_open(&cap, path) == 0);
    CHECK(cap.complete);
    CHECK_U64(cap.nnative_maps, ==, 2);
    for (size_t i = 0; i < cap.nnative_maps && i < 2; i++) {
        const lt_rnative_map *m = &cap.native_maps[i];
        CHECK_U64(m->base, ==, ranges[i][0]);
        CHECK_U64(m->start, ==, ranges[i][1]);
        CHECK_U64(m->end, ==, ranges[i][2]);
        CHECK_BYTES(m->path.ptr, m->path.len, "/lib/x.so", 9);
        CHECK_U64(m->build_id.len, ==, i % 2 ? 0 : 4);
    }
    CHECK(capture_check(&cap, NULL) == NULL);
    lt_reader_close(&cap);
    unlink(path);
}

static void
test_native_map_end_before_start_is_rejected(void)
{
    char path[4096];
    check_temp_path(path, sizeof(path));
    const uint64_t ranges[][3] = {{0, 0x2000, 0x1000}};
    CHECK(write_with_maps(path, ranges, 1) == 0);
    lt_capture cap;
    CHECK(lt_reader_open(&cap, path) < 0);
    CHECK_CONTAINS(cap.error, "invalid native map record");
    lt_reader_close(&cap);
    unlink(path);
}

static void
test_native_map_cut_path_is_rejected(void)
{
    /* A record whose path length runs past its payload. */
    static const uint8_t header[LT_HEADER_SIZE] = "\x89LTCAP\r\n\x01\x00\x00\x00\x00\x00\x00";
    uint8_t data[LT_HEADER_SIZE + 8];
    memcpy(data, header, LT_HEADER_SIZE);
    const uint8_t record[] = {LT_REC_NATIVE_MAP, 6, 0, 1, 2, 9, 'a', 'b'};
    memcpy(data + LT_HEADER_SIZE, record, sizeof(record));
    lt_capture cap;
    CHECK(lt_reader_parse(&cap, data, sizeof(data)) < 0);
    CHECK_CONTAINS(cap.error, "invalid native map record");
    lt_reader_close(&cap);
}

const test_case native_map_tests[] = {
    {"native_map_round_trip", test_native_map_round_trip},
    {"native_map_end_before_start_is_rejected", test_native_map_end_before_start_is_rejected},
    {"native_map_cut_path_is_rejected", test_native_map_cut_path_is_rejected},
    {NULL, NULL},
};
