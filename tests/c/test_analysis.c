/* test_analysis.c - the streaming analyzer (lt_stream + lt_analysis) against
 * the whole-file reader (lt_reader), which the rest of the tests pin down.
 *
 * For the sample capture cut at every offset, and with bytes flipped, both
 * must agree: the same error message, or the same tables, with the analyzer's
 * raw sites equal to the reader's last snapshot, its sites' live bytes at the
 * last snapshot and at the peak (the first snapshot with the highest heap)
 * equal to the reader's snapshots folded by the trimming, and the same RSS per
 * snapshot and native maps (the sample has both). A record larger than the stream's chunk
 * checks that the buffer grows.
 */
#include <stdlib.h>
#include <unistd.h>

#include "check.h"
#include "analyze/lt_analysis.h"
#include "capture/lt_reader.h"
#include "capture/lt_stream.h"

#define SAMPLED_OFFSETS 400 /* cuts and flips tried per test, about */

typedef struct {
    uint8_t *data;
    size_t size;
} bytes;

static int
read_file(const char *path, bytes *out)
{
    FILE *f = fopen(path, "rb");
    if (!f) {
        return -1;
    }
    fseek(f, 0, SEEK_END);
    long size = ftell(f);
    fseek(f, 0, SEEK_SET);
    out->data = malloc(size > 0 ? (size_t)size : 1);
    out->size = out->data ? fread(out->data, 1, (size_t)size, f) : 0;
    fclose(f);
    return out->data && out->size == (size_t)size ? 0 : -1;
}

static int
write_file(const char *path, const uint8_t *data, size_t size)
{
    FILE *f = fopen(path, "wb");
    if (!f) {
        return -1;
    }
    size_t written = size ? fwrite(data, 1, size, f) : 0;
    return fclose(f) == 0 && written == size ? 0 : -1;
}

/* The last snapshot, untrimmed, besides everything else. */
static int
analyse(lt_analysis *a, const char *path)
{
    lt_analysis_options o = {.raw_pick = 1, .raw_snapshot = -1};
    return lt_analysis_read(a, path, &o);
}

/* Checks that the live bytes of snapshot `snap` of the reader, folded onto the
 * analyzer's sites, are `field` of each site (live or peak bytes). */
static void
check_folded(const lt_analysis *a, const lt_rsnapshot *snap, int peak)
{
    uint64_t *want = calloc(a->sites.nsites + 1, sizeof(uint64_t));
    if (!want) {
        return;
    }
    for (size_t k = 0; k < snap->nsites; k++) {
        uint32_t node = snap->sites[k].node;
        if (a->trim.reason[node] == LT_TRIM_SHOWN) {
            want[a->trim.target[node]] += snap->sites[k].live_bytes;
        }
    }
    for (size_t g = 0; g < a->sites.nsites; g++) {
        const lt_asite *site = &a->sites.site[g];
        CHECK_U64(peak ? site->peak_bytes : site->live_bytes, ==, want[g]);
    }
    free(want);
}

static int
same_sites(const lt_rsite *a, size_t na, const lt_rsite *b, size_t nb)
{
    if (na != nb) {
        return 0;
    }
    for (size_t i = 0; i < na; i++) {
        if (a[i].node != b[i].node || a[i].live_count != b[i].live_count ||
            a[i].live_bytes != b[i].live_bytes || a[i].alloc_count != b[i].alloc_count ||
            a[i].alloc_bytes != b[i].alloc_bytes) {
            return 0;
        }
    }
    return 1;
}

/* Analyses data (written to path) and parses it whole; checks they agree.
 * Returns 1 when both accepted it. */
static int
check_agree(const char *path, const uint8_t *data, size_t size, const char *what)
{
    if (write_file(path, data, size) < 0) {
        check_report(__FILE__, __LINE__, "cannot write %s", path);
        return 0;
    }
    lt_capture cap;
    lt_analysis a;
    int r_read = lt_reader_parse(&cap, data, size);
    int r_stream = analyse(&a, path);
    int accepted = 0;
    if (size == 0) {
        CHECK(r_stream < 0);
        CHECK_CONTAINS(a.error, "is empty");
    }
    else if (r_read != r_stream) {
        check_report(__FILE__, __LINE__, "%s: reader %d (\"%s\"), analyzer %d (\"%s\")", what,
                     r_read, cap.error, r_stream, a.error);
    }
    else if (r_read < 0) {
        if (strcmp(cap.error, a.error) != 0) {
            check_report(__FILE__, __LINE__, "%s: reader \"%s\", analyzer \"%s\"", what, cap.error,
                         a.error);
        }
    }
    else {
        accepted = 1;
        CHECK(a.complete == cap.complete);
        CHECK_U64(a.valid_size, ==, cap.valid_size);
        CHECK_U64(a.file_size, ==, cap.file_size);
        CHECK_U64(a.nstrings, ==, cap.nstrings);
        CHECK_U64(a.nframes, ==, cap.nframes);
        CHECK_U64(a.nnodes, ==, cap.nnodes);
        CHECK_U64(a.nsnapshots, ==, cap.nsnapshots);
        CHECK_U64(a.nmeta, ==, 2 * cap.nmeta);
        CHECK(a.has_stats == cap.has_stats);
        CHECK(memcmp(a.stats, cap.stats, sizeof(a.stats)) == 0);
        for (size_t i = 0; i < a.nstrings && i < cap.nstrings; i++) {
            CHECK_BYTES(a.text + a.strings[i].offset, a.strings[i].len, cap.strings[i].ptr,
                        cap.strings[i].len);
        }
        if (a.nnodes == cap.nnodes) {
            CHECK(memcmp(a.nodes, cap.nodes, a.nnodes * sizeof(lt_rnode)) == 0);
        }
        if (a.nframes == cap.nframes && a.nframes) {
            CHECK(memcmp(a.frames, cap.frames, a.nframes * sizeof(lt_rframe)) == 0);
        }
        CHECK_U64(a.nnative_maps, ==, cap.nnative_maps);
        for (size_t i = 0; i < a.nnative_maps && i < cap.nnative_maps; i++) {
            const lt_anative_map *m = &a.native_maps[i];
            CHECK_U64(m->base, ==, cap.native_maps[i].base);
            CHECK_U64(m->start, ==, cap.native_maps[i].start);
            CHECK_U64(m->end, ==, cap.native_maps[i].end);
            CHECK_BYTES(a.text + m->path.offset, m->path.len, cap.native_maps[i].path.ptr,
                        cap.native_maps[i].path.len);
            CHECK_BYTES(a.text + m->build_id.offset, m->build_id.len,
                        cap.native_maps[i].build_id.ptr, cap.native_maps[i].build_id.len);
        }
        size_t peak = 0;
        for (size_t i = 0; i < cap.nsnapshots && i < a.nsnapshots; i++) {
            const lt_rsnapshot *s = &cap.snapshots[i];
            CHECK_U64(a.snapshots[i].heap_bytes, ==, s->heap_bytes);
            CHECK_U64(a.snapshots[i].time_ns, ==, s->time_ns);
            CHECK_U64(a.snapshots[i].label, ==, s->label);
            CHECK(a.snapshots[i].has_rss == s->has_rss);
            CHECK_U64(a.snapshots[i].rss_bytes, ==, s->rss_bytes);
            if (s->heap_bytes > cap.snapshots[peak].heap_bytes) {
                peak = i;
            }
        }
        if (cap.nsnapshots) {
            const lt_rsnapshot *last = &cap.snapshots[cap.nsnapshots - 1];
            CHECK(same_sites(a.raw.sites, a.raw.nsites, last->sites, last->nsites));
            CHECK_U64(a.peak_index, ==, peak);
            check_folded(&a, last, 0);
            check_folded(&a, &cap.snapshots[peak], 1);
        }
    }
    lt_reader_close(&cap);
    lt_analysis_free(&a);
    return accepted;
}

static int
load_sample(char *path, size_t path_size, bytes *sample)
{
    check_temp_path(path, path_size);
    if (write_sample_capture(path) < 0 || read_file(path, sample) < 0) {
        check_report(__FILE__, __LINE__, "cannot write the sample capture");
        return -1;
    }
    return 0;
}

static void
test_analysis_agrees_cut_everywhere(void)
{
    char path[64];
    bytes sample;
    if (load_sample(path, sizeof(path), &sample) < 0) {
        return;
    }
    /* Every offset of the header and the first records, then a stride (the
     * reader's own tests cover every offset; this compares the two). */
    size_t accepted = 0, tried = 0;
    size_t stride = sample.size / SAMPLED_OFFSETS + 1;
    for (size_t n = 0; n <= sample.size; n += n < 256 ? 1 : stride) {
        char what[64];
        snprintf(what, sizeof(what), "cut at %zu", n);
        accepted += (size_t)check_agree(path, sample.data, n, what);
        tried++;
    }
    accepted += (size_t)check_agree(path, sample.data, sample.size, "whole");
    CHECK(accepted > tried / 2);
    free(sample.data);
    unlink(path);
}

static void
test_analysis_agrees_bytes_flipped(void)
{
    char path[64];
    bytes sample;
    if (load_sample(path, sizeof(path), &sample) < 0) {
        return;
    }
    test_rng rng = {42};
    size_t stride = 2 * sample.size / SAMPLED_OFFSETS + 1;
    uint8_t *copy = malloc(sample.size);
    CHECK(copy != NULL);
    for (size_t at = 0; copy && at < sample.size; at += 1 + test_below(&rng, stride)) {
        memcpy(copy, sample.data, sample.size);
        copy[at] ^= (uint8_t)(1 + test_below(&rng, 255));
        char what[64];
        snprintf(what, sizeof(what), "byte %zu flipped", at);
        check_agree(path, copy, sample.size, what);
    }
    free(copy);
    free(sample.data);
    unlink(path);
}

/* A string record larger than the stream's chunk, then a snapshot. */
static void
test_analysis_record_larger_than_a_chunk(void)
{
    size_t big = 3 * LT_STREAM_CHUNK + 7;
    size_t cap = big + 256;
    uint8_t *data = calloc(1, cap);
    CHECK(data != NULL);
    if (!data) {
        return;
    }
    size_t n = 0;
    memcpy(data, LT_MAGIC, LT_MAGIC_SIZE);
    data[8] = LT_FORMAT_MAJOR;
    n = LT_HEADER_SIZE;
    data[n++] = LT_REC_STRING;
    n += lt_varint_encode(big, data + n);
    memset(data + n, 'x', big);
    n += big;
    /* snapshot 0: mark, time 5, no label, heap 0/0, one site at the root */
    const uint8_t snap[] = {0, 1, 5, 0, 9, 1, 1, 0, 1, 9, 1, 9};
    data[n++] = LT_REC_SNAPSHOT;
    data[n++] = sizeof(snap);
    memcpy(data + n, snap, sizeof(snap));
    n += sizeof(snap);
    char path[64];
    check_temp_path(path, sizeof(path));
    CHECK(check_agree(path, data, n, "big string"));
    lt_analysis a;
    CHECK(analyse(&a, path) == 0);
    CHECK_U64(a.nstrings, ==, 1);
    CHECK_U64(a.strings[0].len, ==, big);
    CHECK_U64(a.raw.nsites, ==, 1);
    CHECK_U64(a.raw.sites[0].live_bytes, ==, 9);
    CHECK(!a.complete);
    CHECK_U64(a.valid_size, ==, n);
    lt_analysis_free(&a);
    unlink(path);
    free(data);
}

const test_case analysis_tests[] = {
    {"analysis_agrees_cut_everywhere", test_analysis_agrees_cut_everywhere},
    {"analysis_agrees_bytes_flipped", test_analysis_agrees_bytes_flipped},
    {"analysis_record_larger_than_a_chunk", test_analysis_record_larger_than_a_chunk},
    {NULL, NULL},
};
