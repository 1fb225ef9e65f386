/* test_capture.c - the writer and the reader together (lt_writer.h, lt_reader.h):
 * round trips, truncated and partial captures, corrupted bytes and crafted
 * records that lie about their sizes.
 */
#include <errno.h>
#include <stdlib.h>
#include <sys/stat.h>
#include <unistd.h>

#include "capture_check.h"
#include "check.h"
#include "record/lt_intern.h"
#include "base/lt_rawalloc.h"
#include "capture/lt_reader.h"
#include "record/lt_rss.h"
#include "capture/lt_writer.h"

/* A string literal as (pointer, length), embedded NULs included. */
#define LIT(s) s, sizeof(s) - 1

/* ---- files ---- */

/* Reads a whole file into a buffer of exactly its size (so that a read past
 * the end shows under ASan/valgrind). */
static uint8_t *
read_file(const char *path, size_t *size)
{
    FILE *f = fopen(path, "rb");
    if (!f) {
        return NULL;
    }
    fseek(f, 0, SEEK_END);
    long n = ftell(f);
    fseek(f, 0, SEEK_SET);
    uint8_t *data = malloc(n > 0 ? (size_t)n : 1);
    if (n > 0 && fread(data, 1, (size_t)n, f) != (size_t)n) {
        free(data);
        fclose(f);
        return NULL;
    }
    fclose(f);
    *size = (size_t)n;
    return data;
}

static int
write_file(const char *path, const void *data, size_t size)
{
    FILE *f = fopen(path, "wb");
    if (!f) {
        return -1;
    }
    int ok = fwrite(data, 1, size, f) == size;
    return fclose(f) == 0 && ok ? 0 : -1;
}

/* Parses an exact-size copy of [data, data + size). The copy is freed by
 * parsed_close(). */
static int
parse_copy(lt_capture *cap, const uint8_t *data, size_t size, uint8_t **copy)
{
    *copy = malloc(size ? size : 1);
    if (size) {
        memcpy(*copy, data, size);
    }
    return lt_reader_parse(cap, *copy, size);
}

static void
parsed_close(lt_capture *cap, uint8_t *copy)
{
    lt_reader_close(cap);
    free(copy);
}

/* ---- the sample capture ---- */

enum { SAMPLE_SNAPSHOTS = 3 };

static const struct {
    const char *key;
    size_t key_len;
    const char *value;
    size_t value_len;
} sample_meta[] = {
    {LIT("command"), LIT("python app.py --flag")},
    {LIT("python_version"), LIT("3.11.7")},
    {LIT(""), LIT("an empty key")},
    {LIT("empty value"), LIT("")},
    {LIT("nul\0key"), LIT("va\0lue")},
};
#define SAMPLE_NMETA (sizeof(sample_meta) / sizeof(sample_meta[0]))

/* What the sample wrote, to compare the reader's result with. */
typedef struct {
    lt_intern in;
    lt_node *nodes_at[SAMPLE_SNAPSHOTS]; /* copies of the counters at each snapshot */
    uint32_t nnodes_at[SAMPLE_SNAPSHOTS];
    lt_snapshot_info info[SAMPLE_SNAPSHOTS];
    uint64_t stats[LT_STAT_COUNT];
    uint64_t flushed; /* bytes written by the first flush */
} sample;

static void
set_counts(lt_intern *in, uint32_t node, uint64_t live_count, uint64_t live_bytes,
           uint64_t alloc_count, uint64_t alloc_bytes)
{
    in->nodes[node].live_count = live_count;
    in->nodes[node].live_bytes = live_bytes;
    in->nodes[node].alloc_count = alloc_count;
    in->nodes[node].alloc_bytes = alloc_bytes;
}

static int
sample_snapshot(lt_writer *w, sample *s, int k, lt_snapshot_kind kind, uint64_t time_ns,
                uint32_t label, uint64_t heap_bytes, uint64_t heap_count)
{
    s->info[k].kind = kind;
    s->info[k].time_ns = time_ns;
    s->info[k].label = label;
    s->info[k].heap_bytes = heap_bytes;
    s->info[k].heap_count = heap_count;
    s->nnodes_at[k] = s->in.nnodes;
    s->nodes_at[k] = malloc(s->in.nnodes * sizeof(lt_node));
    memcpy(s->nodes_at[k], s->in.nodes, s->in.nnodes * sizeof(lt_node));
    return lt_writer_snapshot(w, &s->in, &s->info[k]);
}

static void
sample_free(sample *s)
{
    for (int k = 0; k < SAMPLE_SNAPSHOTS; k++) {
        free(s->nodes_at[k]);
    }
    lt_intern_destroy(&s->in);
    memset(s, 0, sizeof(*s));
}

/* Writes the sample: meta, three snapshots (definitions before the first and
 * the second, none before the third), stats, and END when finish is set (else
 * the capture stops as if the process had died). chain adds that many nodes
 * in one branch, so that node ids and deltas need multi-byte varints. */
static int
sample_write(const char *path, sample *s, int finish, uint32_t chain)
{
    memset(s, 0, sizeof(*s));
    if (lt_intern_init(&s->in) < 0) {
        return -1;
    }
    lt_intern *in = &s->in;
    lt_writer w;
    if (lt_writer_open(&w, path) < 0) {
        return -1;
    }
    int r = 0;
    for (size_t i = 0; i < SAMPLE_NMETA; i++) {
        r |= lt_writer_meta(&w, sample_meta[i].key, sample_meta[i].key_len, sample_meta[i].value,
                            sample_meta[i].value_len);
    }
    uint32_t main_fn = lt_intern_string(in, LIT("main"));
    uint32_t main_file = lt_intern_string(in, LIT("/app/main.py"));
    uint32_t helper = lt_intern_string(in, LIT("helper"));
    uint32_t helper_file = lt_intern_string(in, LIT("/app/lib/helper.py"));
    uint32_t unicode = lt_intern_string(in, LIT("h\xc3\xa9llo_w\xc3\xb6rld"));
    uint32_t odd = lt_intern_string(in, LIT("not utf-8 \xff\xfe and a NUL \0 inside"));

    uint32_t f1 = lt_intern_add_frame(in, 0x1000, 0, 1, main_fn, main_file, 10);
    uint32_t f2 = lt_intern_add_frame(in, 0x2000, 4, 2, helper, helper_file, -1);
    uint32_t f3 = lt_intern_add_frame(in, 0x3000, 8, 3, unicode, odd, INT32_MAX);
    uint32_t f4 = lt_intern_add_frame(in, 0x3000, 10, 3, unicode, odd, INT32_MIN);
    uint32_t f5 = lt_intern_add_frame(in, 0x4000, 0, 4, helper, main_file, 0);

    uint32_t n1 = lt_intern_node(in, LT_ROOT_NODE, f1);
    uint32_t n2 = lt_intern_node(in, n1, f2);
    uint32_t n3 = lt_intern_node(in, n2, f3);
    uint32_t n4 = lt_intern_node(in, LT_ROOT_NODE, f4);
    uint32_t n5 = lt_intern_node(in, n3, LT_TRUNCATED_FRAME);
    /* The root allocates too (allocations with no Python frame); n1 and n3
     * never allocate and must not appear as sites. */
    set_counts(in, LT_ROOT_NODE, 1, 100, 3, 300);
    set_counts(in, n2, 4, 400, 10, 1000);
    set_counts(in, n4, UINT64_MAX, UINT64_MAX, UINT64_MAX, UINT64_MAX);
    set_counts(in, n5, 0, 0, 7, 70); /* all freed again: a site with nothing live */
    r |= sample_snapshot(&w, s, 0, LT_SNAP_INTERVAL, 1000, LT_NO_ID, 500, 5);
    r |= lt_writer_flush(&w);
    s->flushed = w.bytes_written;

    uint32_t label = lt_intern_string(in, LIT("after warmup"));
    uint32_t f6 = lt_intern_add_frame(in, 0x5000, 2, 5, helper, helper_file, 99);
    uint32_t n6 = lt_intern_node(in, n5, f6);
    uint32_t parent = n4;
    for (uint32_t i = 0; i < chain; i++) {
        parent = lt_intern_node(in, parent, i % 2 ? f5 : f1);
        if (i == chain / 2) {
            set_counts(in, parent, 1, 16, 1, 16);
        }
    }
    if (chain) {
        set_counts(in, parent, 3, 3 << 20, 9, 9 << 20);
    }
    set_counts(in, n2, 0, 0, 12, 1200);
    set_counts(in, n6, 2, 1ull << 40, 2, 1ull << 40);
    r |= sample_snapshot(&w, s, 1, LT_SNAP_MARK, 1ull << 40, label, 1ull << 41, 6);
    r |= lt_writer_snapshot_extra(&w, 123456789); /* its RSS */
    static const uint8_t build_id[] = {1, 2, 3};
    r |= lt_writer_native_map(&w, 0x7f0000000000, 0x7f0000001000, 0x7f0000009000,
                              LIT("/usr/lib/libsample.so"), build_id, sizeof(build_id));

    set_counts(in, n6, 1, 1ull << 39, 3, 3ull << 39);
    r |= sample_snapshot(&w, s, 2, LT_SNAP_FINAL, UINT64_MAX, LT_NO_ID, 0, 0);

    for (int i = 0; i < LT_STAT_COUNT; i++) {
        s->stats[i] = (uint64_t)i * 1000 + 7;
    }
    s->stats[LT_STAT_DURATION_NS] = UINT64_MAX;
    r |= lt_writer_stats(&w, s->stats, LT_STAT_COUNT);
    if (finish) {
        r |= lt_writer_close(&w);
    }
    else {
        r |= lt_writer_flush(&w);
        lt_writer_abandon(&w);
    }
    return r ? -1 : 0;
}

int
write_sample_capture(const char *path)
{
    sample s;
    int r = sample_write(path, &s, 1, 300);
    sample_free(&s);
    return r;
}

/* Compares everything the reader returned with what the sample wrote. */
static void
check_sample(const lt_capture *cap, const sample *s, int complete)
{
    const lt_intern *in = &s->in;
    CHECK_U64(cap->major, ==, LT_FORMAT_MAJOR);
    CHECK_U64(cap->minor, ==, LT_FORMAT_MINOR);
    CHECK(cap->complete == complete);
    CHECK_U64(cap->valid_size, ==, cap->file_size);
    CHECK(capture_check(cap, NULL) == NULL);

    CHECK_U64(cap->nstrings, ==, in->nstrings);
    for (size_t i = 0; i < cap->nstrings && i < in->nstrings; i++) {
        CHECK_BYTES(cap->strings[i].ptr, cap->strings[i].len, in->strings[i].ptr,
                    in->strings[i].len);
    }
    CHECK_U64(cap->nframes, ==, in->nframes);
    for (size_t i = 0; i < cap->nframes && i < in->nframes; i++) {
        CHECK_U64(cap->frames[i].function, ==, in->frames[i].function);
        CHECK_U64(cap->frames[i].file, ==, in->frames[i].file);
        CHECK_I64(cap->frames[i].line, ==, in->frames[i].line);
    }
    CHECK_U64(cap->nnodes, ==, in->nnodes);
    CHECK_U64(cap->nodes[0].frame, ==, UINT32_MAX);
    for (size_t i = 1; i < cap->nnodes && i < in->nnodes; i++) {
        CHECK_U64(cap->nodes[i].parent, ==, in->nodes[i].parent);
        CHECK_U64(cap->nodes[i].frame, ==, in->nodes[i].frame);
    }

    CHECK_U64(cap->nsnapshots, ==, SAMPLE_SNAPSHOTS);
    for (size_t k = 0; k < cap->nsnapshots; k++) { /* only snapshot 1 has an extra */
        CHECK(cap->snapshots[k].has_rss == (k == 1));
        CHECK_U64(cap->snapshots[k].rss_bytes, ==, k == 1 ? 123456789 : 0);
    }
    CHECK_U64(cap->nnative_maps, ==, 1);
    for (size_t k = 0; k < cap->nsnapshots && k < SAMPLE_SNAPSHOTS; k++) {
        const lt_rsnapshot *snap = &cap->snapshots[k];
        const lt_snapshot_info *info = &s->info[k];
        CHECK_U64(snap->seq, ==, k);
        CHECK_U64(snap->kind, ==, info->kind);
        CHECK_U64(snap->time_ns, ==, info->time_ns);
        CHECK_U64(snap->label, ==, info->label == LT_NO_ID ? UINT32_MAX : info->label);
        CHECK_U64(snap->heap_bytes, ==, info->heap_bytes);
        CHECK_U64(snap->heap_count, ==, info->heap_count);
        size_t site = 0;
        for (uint32_t n = 0; n < s->nnodes_at[k]; n++) {
            const lt_node *want = &s->nodes_at[k][n];
            if (want->alloc_count == 0) {
                continue;
            }
            if (site >= snap->nsites) {
                CHECK(!"a site is missing from the snapshot");
                break;
            }
            const lt_rsite *got = &snap->sites[site++];
            CHECK_U64(got->node, ==, n);
            CHECK_U64(got->live_count, ==, want->live_count);
            CHECK_U64(got->live_bytes, ==, want->live_bytes);
            CHECK_U64(got->alloc_count, ==, want->alloc_count);
            CHECK_U64(got->alloc_bytes, ==, want->alloc_bytes);
        }
        CHECK_U64(snap->nsites, ==, site);
    }

    CHECK_U64(cap->nmeta, ==, SAMPLE_NMETA);
    for (size_t i = 0; i < cap->nmeta && i < SAMPLE_NMETA; i++) {
        CHECK_BYTES(cap->meta[i].key.ptr, cap->meta[i].key.len, sample_meta[i].key,
                    sample_meta[i].key_len);
        CHECK_BYTES(cap->meta[i].value.ptr, cap->meta[i].value.len, sample_meta[i].value,
                    sample_meta[i].value_len);
    }
    CHECK(cap->has_stats);
    for (int i = 0; i < LT_STAT_COUNT; i++) {
        CHECK_U64(cap->stats[i], ==, s->stats[i]);
    }
}

/* The ends of the records of a well-formed capture: bounds[0] is the end of
 * the header, bounds[i] the end of record i, types[i] its type. Returns the
 * number of bounds. */
static size_t
record_bounds(const uint8_t *data, size_t size, size_t *bounds, uint8_t *types, size_t max)
{
    size_t n = 0;
    bounds[n] = LT_HEADER_SIZE;
    types[n++] = 0;
    const uint8_t *p = data + LT_HEADER_SIZE, *end = data + size;
    while (p < end && n < max) {
        uint8_t type = *p++;
        uint64_t len = 0;
        if (lt_varint_decode(&p, end, &len) < 0 || len > (uint64_t)(end - p)) {
            CHECK(!"the sample is not well-formed");
            break;
        }
        p += len;
        bounds[n] = (size_t)(p - data);
        types[n++] = type;
    }
    CHECK(p == end);
    return n;
}

/* A sample capture in memory, with its record bounds. */
typedef struct {
    sample s;
    uint8_t *data;
    size_t size;
    size_t bounds[4096];
    uint8_t types[4096];
    size_t nbounds;
} sample_file;

static int
sample_load(sample_file *f, int finish, uint32_t chain)
{
    char path[4096];
    check_temp_path(path, sizeof(path));
    int r = sample_write(path, &f->s, finish, chain);
    CHECK(r == 0);
    f->data = read_file(path, &f->size);
    unlink(path);
    if (r < 0 || !f->data) {
        CHECK(!"cannot write or read the sample capture");
        sample_free(&f->s);
        free(f->data);
        return -1;
    }
    f->nbounds = record_bounds(f->data, f->size, f->bounds, f->types,
                               sizeof(f->bounds) / sizeof(f->bounds[0]));
    return 0;
}

static void
sample_unload(sample_file *f)
{
    sample_free(&f->s);
    free(f->data);
}

/* ---- round trips ---- */

static void
test_capture_round_trip(void)
{
    size_t start = lt_raw_current_bytes();
    char path[4096];
    check_temp_path(path, sizeof(path));
    sample s;
    CHECK(sample_write(path, &s, 1, 300) == 0);
    /* The writer returned its buffer; only the intern tables remain. */
    CHECK_U64(lt_raw_current_bytes() - start, ==, lt_intern_memory(&s.in));
    CHECK_U64(s.flushed, >, LT_HEADER_SIZE);

    size_t size;
    uint8_t *data = read_file(path, &size);
    CHECK(data != NULL);
    if (data) {
        CHECK(memcmp(data, LT_MAGIC, LT_MAGIC_SIZE) == 0);
        CHECK_U64(data[8] | data[9] << 8, ==, LT_FORMAT_MAJOR);
        lt_capture cap;
        CHECK(lt_reader_parse(&cap, data, size) == 0);
        CHECK_U64(cap.file_size, ==, size);
        check_sample(&cap, &s, 1);
        lt_reader_close(&cap);
        free(data);
    }

    /* The same through the mapping. */
    lt_capture cap;
    CHECK(lt_reader_open(&cap, path) == 0);
    CHECK(cap.owns_data);
    check_sample(&cap, &s, 1);
    lt_reader_close(&cap);
    CHECK(cap.data == NULL);

    unlink(path);
    sample_free(&s);
    CHECK_U64(lt_raw_current_bytes(), ==, start);
}

static void
test_capture_round_trip_many_nodes(void)
{
    /* A wider tree: node ids past 2^14 (three-byte deltas), most nodes not
     * sites, and one snapshot per step of growth. */
    char path[4096];
    check_temp_path(path, sizeof(path));
    lt_intern in;
    CHECK(lt_intern_init(&in) == 0);
    lt_writer w;
    CHECK(lt_writer_open(&w, path) == 0);
    enum { NODES = 40000, SNAPS = 4 };
    uint32_t file = lt_intern_string(&in, LIT("/deep.py"));
    uint64_t expect_sites[SNAPS];
    for (int k = 0; k < SNAPS; k++) {
        for (uint32_t i = 0; i < NODES / SNAPS; i++) {
            char name[32];
            int len = snprintf(name, sizeof(name), "fn%u", (unsigned)k * NODES + i);
            uint32_t fn = lt_intern_string(&in, name, (size_t)len);
            uint32_t frame = lt_intern_add_frame(&in, 0x10000 + i, (uintptr_t)k, 1, fn, file,
                                                 (int32_t)i);
            uint32_t node = lt_intern_node(&in, (i % 3) ? in.nnodes - 1 : LT_ROOT_NODE, frame);
            if (i % 1000 == 999) {
                set_counts(&in, node, i, i * 8ull, i + 1, i * 16ull);
            }
        }
        uint64_t sites = 0;
        for (uint32_t n = 0; n < in.nnodes; n++) {
            sites += in.nodes[n].alloc_count != 0;
        }
        expect_sites[k] = sites;
        lt_snapshot_info info = {LT_SNAP_INTERVAL, (uint64_t)k, LT_NO_ID, 0, 0};
        CHECK(lt_writer_snapshot(&w, &in, &info) == 0);
        CHECK(lt_writer_flush(&w) == 0);
    }
    CHECK(lt_writer_close(&w) == 0);
    lt_capture cap;
    CHECK(lt_reader_open(&cap, path) == 0);
    CHECK(cap.complete);
    CHECK_U64(cap.nnodes, ==, in.nnodes);
    CHECK_U64(cap.nframes, ==, in.nframes);
    CHECK_U64(cap.nstrings, ==, in.nstrings);
    CHECK_U64(cap.nsnapshots, ==, SNAPS);
    for (size_t k = 0; k < cap.nsnapshots && k < SNAPS; k++) {
        CHECK_U64(cap.snapshots[k].nsites, ==, expect_sites[k]);
    }
    const lt_rsnapshot *last = &cap.snapshots[cap.nsnapshots - 1];
    for (size_t i = 0; i < last->nsites; i++) {
        const lt_node *n = &in.nodes[last->sites[i].node];
        CHECK(n->alloc_count != 0);
        CHECK_U64(last->sites[i].alloc_bytes, ==, n->alloc_bytes);
        CHECK_U64(last->sites[i].live_count, ==, n->live_count);
    }
    for (size_t i = 1; i < cap.nnodes; i++) {
        CHECK_U64(cap.nodes[i].parent, ==, in.nodes[i].parent);
    }
    CHECK(capture_check(&cap, NULL) == NULL);
    lt_reader_close(&cap);
    lt_intern_destroy(&in);
    unlink(path);
}

/* ---- partial captures ---- */

static void
test_capture_without_end_is_incomplete(void)
{
    sample_file f;
    if (sample_load(&f, 0, 300) < 0) {
        return;
    }
    lt_capture cap;
    uint8_t *copy;
    CHECK(parse_copy(&cap, f.data, f.size, &copy) == 0);
    /* Everything but the END record is there. */
    check_sample(&cap, &f.s, 0);
    CHECK_U64(cap.valid_size, ==, f.size);
    CHECK(f.types[f.nbounds - 1] == LT_REC_STATS);
    parsed_close(&cap, copy);

    /* Cut in the middle of the last snapshot: the two before it remain, and
     * valid_size stops where the cut record starts. */
    size_t last_snap = 0;
    for (size_t i = 1; i < f.nbounds; i++) {
        if (f.types[i] == LT_REC_SNAPSHOT) {
            last_snap = i;
        }
    }
    CHECK(last_snap > 0);
    size_t cut = (f.bounds[last_snap - 1] + f.bounds[last_snap]) / 2;
    CHECK(parse_copy(&cap, f.data, cut, &copy) == 0);
    CHECK(!cap.complete);
    CHECK_U64(cap.valid_size, ==, f.bounds[last_snap - 1]);
    CHECK_U64(cap.nsnapshots, ==, SAMPLE_SNAPSHOTS - 1);
    CHECK_U64(cap.file_size, ==, cut);
    CHECK(!cap.has_stats);
    parsed_close(&cap, copy);
    sample_unload(&f);
}

static void
test_capture_truncated_every_offset(void)
{
    sample_file f;
    if (sample_load(&f, 1, 300) < 0) {
        return;
    }
    CHECK(f.types[f.nbounds - 1] == LT_REC_END);
    unsigned checksum = 0;
    size_t b = 0; /* the last bound at or before the cut */
    for (size_t n = 0; n <= f.size; n++) {
        while (b + 1 < f.nbounds && f.bounds[b + 1] <= n) {
            b++;
        }
        lt_capture cap;
        uint8_t *copy;
        int r = parse_copy(&cap, f.data, n, &copy);
        if (n < LT_MAGIC_SIZE) {
            CHECK(r < 0);
            CHECK_CONTAINS(cap.error, "bad magic");
        }
        else if (n < LT_HEADER_SIZE) {
            CHECK(r < 0);
            CHECK_CONTAINS(cap.error, "ends inside its header");
        }
        else if (r < 0) {
            /* A cut is never corruption: whole records stay readable. */
            check_report(__FILE__, __LINE__, "cut at byte %zu of %zu: error \"%s\"", n, f.size,
                         cap.error);
        }
        else {
            CHECK(cap.complete == (n == f.size));
            if (cap.valid_size != f.bounds[b]) {
                check_report(__FILE__, __LINE__, "cut at byte %zu: valid_size %zu, want %zu", n,
                             cap.valid_size, f.bounds[b]);
            }
            size_t snaps = 0, strings = 0, nodes = 1;
            for (size_t i = 1; i <= b; i++) {
                snaps += f.types[i] == LT_REC_SNAPSHOT;
                strings += f.types[i] == LT_REC_STRING;
                nodes += f.types[i] == LT_REC_NODE;
            }
            CHECK_U64(cap.nsnapshots, ==, snaps);
            CHECK_U64(cap.nstrings, ==, strings);
            CHECK_U64(cap.nnodes, ==, nodes);
            const char *why = capture_check(&cap, &checksum);
            if (why) {
                check_report(__FILE__, __LINE__, "cut at byte %zu: %s", n, why);
            }
        }
        parsed_close(&cap, copy);
    }
    sample_unload(&f);
}

/* ---- corruption ---- */

static void
test_capture_byte_flips(void)
{
    sample_file f;
    if (sample_load(&f, 1, 0) < 0) {
        return;
    }
    /* Every byte, changed to every other value, one at a time. */
    uint8_t *buf = malloc(f.size);
    memcpy(buf, f.data, f.size);
    unsigned checksum = 0;
    size_t accepted = 0, rejected = 0;
    for (size_t off = 0; off < f.size; off++) {
        for (unsigned value = 0; value < 256; value++) {
            if (value == f.data[off]) {
                continue;
            }
            buf[off] = (uint8_t)value;
            lt_capture cap;
            int r = lt_reader_parse(&cap, buf, f.size);
            if (r < 0) {
                rejected++;
                CHECK(cap.error[0] != '\0');
                CHECK(memchr(cap.error, '\0', sizeof(cap.error)) != NULL);
            }
            else {
                accepted++;
                const char *why = capture_check(&cap, &checksum);
                if (why) {
                    check_report(__FILE__, __LINE__, "byte %zu = 0x%02x: %s", off, value, why);
                }
            }
            if (off < LT_MAGIC_SIZE) {
                CHECK(r < 0);
                CHECK_CONTAINS(cap.error, "bad magic");
            }
            else if (off < 10) {
                /* The major version: 1 and 2 are readable (the same records,
                 * so a version 2 file relabelled 1 still parses). */
                unsigned major = (unsigned)buf[8] | (unsigned)buf[9] << 8;
                if (major >= LT_FORMAT_MAJOR_OLDEST && major <= LT_FORMAT_MAJOR) {
                    CHECK(r == 0);
                }
                else {
                    CHECK(r < 0);
                    CHECK_CONTAINS(cap.error, "version");
                }
            }
            else if (off < LT_HEADER_SIZE) {
                /* The minor version and the flags are not checked: a newer
                 * minor version is readable by design. */
                CHECK(r == 0 && cap.complete);
            }
            lt_reader_close(&cap);
        }
        buf[off] = f.data[off];
    }
    /* Both outcomes happen (changes inside strings stay valid). */
    CHECK(accepted > 0);
    CHECK(rejected > 0);
    free(buf);
    sample_unload(&f);
}

static void
test_capture_random_records(void)
{
    /* Random bytes after a valid header, in lengths from nothing to a few
     * records: whatever they say, the parse ends cleanly. */
    test_rng rng = {6};
    unsigned checksum = 0;
    for (int round = 0; round < 20000; round++) {
        size_t size = LT_HEADER_SIZE + (size_t)test_below(&rng, 200);
        uint8_t *buf = malloc(size);
        memcpy(buf, LT_MAGIC, LT_MAGIC_SIZE);
        buf[8] = 1;
        buf[9] = 0;
        memset(buf + 10, 0, 6);
        for (size_t i = LT_HEADER_SIZE; i < size; i++) {
            /* Mostly small bytes: valid-looking types and lengths go deeper. */
            uint64_t x = test_rand(&rng);
            buf[i] = (uint8_t)(x & 0x100 ? x >> 16 : (x >> 16) % 12);
        }
        lt_capture cap;
        if (lt_reader_parse(&cap, buf, size) == 0) {
            const char *why = capture_check(&cap, &checksum);
            if (why) {
                check_report(__FILE__, __LINE__, "random round %d: %s", round, why);
            }
        }
        lt_reader_close(&cap);
        free(buf);
    }
}

/* ---- crafted inputs ---- */

typedef struct {
    uint8_t data[8192];
    size_t len;
} bytes;

static void
put(bytes *b, const void *data, size_t len)
{
    if (b->len + len > sizeof(b->data)) {
        abort();
    }
    memcpy(b->data + b->len, data, len);
    b->len += len;
}

static void
put_u8(bytes *b, uint8_t v)
{
    put(b, &v, 1);
}

static void
put_varint(bytes *b, uint64_t v)
{
    uint8_t tmp[LT_VARINT_MAX_BYTES];
    put(b, tmp, lt_varint_encode(v, tmp));
}

static void
put_varints(bytes *b, size_t n, const uint64_t *v)
{
    for (size_t i = 0; i < n; i++) {
        put_varint(b, v[i]);
    }
}

#define VARINTS(b, ...)                                                                           \
    put_varints((b), sizeof((uint64_t[]){__VA_ARGS__}) / sizeof(uint64_t),                        \
                (uint64_t[]){__VA_ARGS__})

static void
put_header(bytes *b, unsigned major, unsigned minor)
{
    put(b, LT_MAGIC, LT_MAGIC_SIZE);
    uint8_t rest[8] = {
        (uint8_t)major, (uint8_t)(major >> 8), (uint8_t)minor, (uint8_t)(minor >> 8), 0, 0, 0, 0};
    put(b, rest, sizeof(rest));
}

static void
put_record(bytes *b, uint8_t type, const bytes *payload)
{
    put_u8(b, type);
    put_varint(b, payload->len);
    put(b, payload->data, payload->len);
}

/* A record whose payload is the given varints. */
#define RECORD(b, type, ...)                                                                      \
    do {                                                                                          \
        bytes payload_ = {.len = 0};                                                              \
        VARINTS(&payload_, __VA_ARGS__);                                                          \
        put_record((b), (type), &payload_);                                                       \
    } while (0)

static void
put_string_record(bytes *b, const char *s, size_t len)
{
    bytes p = {.len = 0};
    put(&p, s, len);
    put_record(b, LT_REC_STRING, &p);
}

/* Header, strings "f" (0) and "file" (1), frame 0, node 1 = (root, frame 0). */
static void
put_base(bytes *b)
{
    b->len = 0;
    put_header(b, LT_FORMAT_MAJOR, LT_FORMAT_MINOR);
    put_string_record(b, LIT("f"));
    put_string_record(b, LIT("file"));
    RECORD(b, LT_REC_FRAME, 0, 1, lt_zigzag_encode(5));
    RECORD(b, LT_REC_NODE, 0, 0);
}

/* Parses b; returns the result and leaves the capture open in *cap. */
static int
parse_bytes(lt_capture *cap, const bytes *b, uint8_t **copy)
{
    return parse_copy(cap, b->data, b->len, copy);
}

/* Expects b to be rejected with a message containing each needle. */
static void
expect_error(const bytes *b, int line, const char *needle, const char *needle2)
{
    lt_capture cap;
    uint8_t *copy;
    int r = parse_bytes(&cap, b, &copy);
    if (r == 0) {
        check_report(__FILE__, line, "accepted, expected an error containing \"%s\"", needle);
    }
    else {
        if (!strstr(cap.error, needle)) {
            check_report(__FILE__, line, "error \"%s\" lacks \"%s\"", cap.error, needle);
        }
        if (needle2 && !strstr(cap.error, needle2)) {
            check_report(__FILE__, line, "error \"%s\" lacks \"%s\"", cap.error, needle2);
        }
    }
    parsed_close(&cap, copy);
}

/* Expects b to parse, complete or not as given; returns nothing open. */
static void
expect_ok(const bytes *b, int line, int complete)
{
    lt_capture cap;
    uint8_t *copy;
    int r = parse_bytes(&cap, b, &copy);
    if (r < 0) {
        check_report(__FILE__, line, "rejected: \"%s\"", cap.error);
    }
    else {
        if (cap.complete != complete) {
            check_report(__FILE__, line, "complete is %d, expected %d", cap.complete, complete);
        }
        const char *why = capture_check(&cap, NULL);
        if (why) {
            check_report(__FILE__, line, "%s", why);
        }
    }
    parsed_close(&cap, copy);
}

static void
test_capture_header_errors(void)
{
    bytes b = {.len = 0};
    lt_capture cap;
    uint8_t *copy;

    /* Nothing, a few bytes, text. */
    CHECK(parse_copy(&cap, (const uint8_t *)"", 0, &copy) < 0);
    CHECK_CONTAINS(cap.error, "not a leaktrace capture (bad magic number)");
    parsed_close(&cap, copy);
    CHECK(parse_copy(&cap, (const uint8_t *)"\x89LT", 3, &copy) < 0);
    CHECK_CONTAINS(cap.error, "bad magic");
    parsed_close(&cap, copy);
    const char text[] = "#!/usr/bin/env python3\nprint('hello')\n";
    CHECK(parse_copy(&cap, (const uint8_t *)text, sizeof(text) - 1, &copy) < 0);
    CHECK_CONTAINS(cap.error, "bad magic");
    parsed_close(&cap, copy);

    /* The magic, then the end of the file inside the header. */
    put_header(&b, 1, 0);
    CHECK(parse_copy(&cap, b.data, 12, &copy) < 0);
    CHECK_CONTAINS(cap.error, "truncated capture: the file ends inside its header");
    parsed_close(&cap, copy);

    /* One wrong byte in the magic, anywhere. */
    for (size_t i = 0; i < LT_MAGIC_SIZE; i++) {
        bytes bad = b;
        bad.data[i] ^= 0x20;
        expect_error(&bad, __LINE__, "bad magic number", NULL);
    }

    /* Versions: a newer major version says so (and what to do); 0 is corrupt. */
    b.len = 0;
    put_header(&b, LT_FORMAT_MAJOR + 1, 0);
    expect_error(&b, __LINE__, "capture format version 3 is newer than this leaktrace reads (2)",
                 "upgrade leaktrace");
    b.len = 0;
    put_header(&b, 0x0100, 0);
    expect_error(&b, __LINE__, "version 256 is newer", NULL);
    b.len = 0;
    put_header(&b, 0xFFFF, 0);
    expect_error(&b, __LINE__, "version 65535 is newer", NULL);
    b.len = 0;
    put_header(&b, 0, 0);
    expect_error(&b, __LINE__, "corrupt capture: invalid format version 0", NULL);

    /* A newer minor version is fine; so is a header alone (an empty, partial
     * capture: the process died right after starting). */
    b.len = 0;
    put_header(&b, 1, 7);
    CHECK(parse_bytes(&cap, &b, &copy) == 0);
    CHECK(!cap.complete);
    CHECK_U64(cap.minor, ==, 7);
    CHECK_U64(cap.valid_size, ==, LT_HEADER_SIZE);
    CHECK_U64(cap.nsnapshots, ==, 0);
    CHECK_U64(cap.nnodes, ==, 1);
    parsed_close(&cap, copy);
}

static void
test_capture_crafted_counts(void)
{
    bytes b;
    size_t at;
    char where[64];

    /* A snapshot claiming 2^60 sites (and one site's worth of bytes): rejected
     * before anything is allocated for them. */
    put_base(&b);
    at = b.len;
    RECORD(&b, LT_REC_SNAPSHOT, 0, 0, 0, 0, 0, 0, 1ull << 60, 1, 1, 1, 1, 1);
    snprintf(where, sizeof(where), "invalid snapshot record at byte %zu", at);
    expect_error(&b, __LINE__, "corrupt capture", where);
    put_base(&b);
    RECORD(&b, LT_REC_SNAPSHOT, 0, 0, 0, 0, 0, 0, UINT64_MAX, 1, 1, 1, 1, 1);
    expect_error(&b, __LINE__, "invalid snapshot record", NULL);
    /* Two sites announced, one present. */
    put_base(&b);
    RECORD(&b, LT_REC_SNAPSHOT, 0, 0, 0, 0, 0, 0, 2, 1, 1, 1, 1, 1);
    expect_error(&b, __LINE__, "invalid snapshot record", NULL);
    /* Stats claiming 2^60 fields. */
    put_base(&b);
    RECORD(&b, LT_REC_STATS, 1ull << 60, 1, 2, 3);
    expect_error(&b, __LINE__, "invalid stats record", NULL);

    /* A record longer than the file is a cut record: the capture is partial
     * and ends before it. */
    put_base(&b);
    size_t before = b.len;
    put_u8(&b, LT_REC_STRING);
    put_varint(&b, 1ull << 62);
    put(&b, "abcdef", 6);
    lt_capture cap;
    uint8_t *copy;
    CHECK(parse_bytes(&cap, &b, &copy) == 0);
    CHECK(!cap.complete);
    CHECK_U64(cap.valid_size, ==, before);
    CHECK_U64(cap.nstrings, ==, 2);
    parsed_close(&cap, copy);

    /* A record length that is no varint, with more than ten bytes after it. */
    put_base(&b);
    at = b.len;
    put_u8(&b, LT_REC_STRING);
    for (int i = 0; i < 11; i++) {
        put_u8(&b, 0xFF);
    }
    put(&b, "more bytes", 10);
    snprintf(where, sizeof(where), "bad record length at byte %zu", at);
    expect_error(&b, __LINE__, where, NULL);
    /* A ten-byte length of more than 64 bits. */
    put_base(&b);
    put_u8(&b, LT_REC_STRING);
    for (int i = 0; i < 9; i++) {
        put_u8(&b, 0xFF);
    }
    put_u8(&b, 0x7F);
    put(&b, "more bytes", 10);
    expect_error(&b, __LINE__, "bad record length", NULL);
}

static void
test_capture_crafted_records(void)
{
    bytes b;
    size_t at;
    char where[96];

    /* The base alone, then END with the right counts: complete. */
    put_base(&b);
    RECORD(&b, LT_REC_SNAPSHOT, 0, 2, 9, 0, 0, 0, 1, 1, 1, 1, 1, 1);
    RECORD(&b, LT_REC_END, 2, 1, 2, 1);
    expect_ok(&b, __LINE__, 1);

    /* Data after END. */
    size_t end_len = b.len;
    put_string_record(&b, LIT("late"));
    snprintf(where, sizeof(where), "data after the closing record at byte %zu", end_len);
    expect_error(&b, __LINE__, "corrupt capture", where);
    /* END with counts that do not match what came before. */
    put_base(&b);
    RECORD(&b, LT_REC_END, 2, 1, 2, 1);
    expect_error(&b, __LINE__, "closing record does not match its contents", NULL);
    put_base(&b);
    RECORD(&b, LT_REC_END, 3, 1, 2, 0);
    expect_error(&b, __LINE__, "does not match", NULL);
    /* END without its four counts. */
    put_base(&b);
    RECORD(&b, LT_REC_END, 2, 1, 2);
    expect_error(&b, __LINE__, "invalid end record", NULL);

    /* Record types: a required one this reader does not know, and optional
     * ones it skips. */
    put_base(&b);
    at = b.len;
    RECORD(&b, 0x20, 1, 2, 3);
    snprintf(where, sizeof(where), "record type 0x20 at byte %zu", at);
    expect_error(&b, __LINE__, where, "newer version");
    put_base(&b);
    RECORD(&b, 0x00, 1);
    expect_error(&b, __LINE__, "record type 0x00", NULL);
    put_base(&b);
    /* (0x40 and up are assigned to extensions; 0x7E is not.) */
    RECORD(&b, 0x7E, 1, 2, 3);
    /* A retention record of a kind this reader does not know is skipped. */
    RECORD(&b, LT_REC_RETENTION, 9, 1, 2);
    RECORD(&b, 0xFF, 0);
    {
        bytes empty = {.len = 0};
        put_record(&b, 0x7F, &empty);
    }
    RECORD(&b, LT_REC_SNAPSHOT, 0, 0, 0, 0, 0, 0, 0);
    RECORD(&b, LT_REC_END, 2, 1, 2, 1);
    expect_ok(&b, __LINE__, 1);

    /* Retention records (0x40): a site path, a summary with a field this
     * reader does not know, then paths that break a rule each. */
    put_base(&b);
    RECORD(&b, LT_REC_RETENTION, LT_RET_SITE, 1, LT_ROOT_MODULE, 0, 0, 48, 96, 1, LT_EDGE_INDEX,
           0);
    RECORD(&b, LT_REC_RETENTION, LT_RET_HOLDER, 1, LT_HOLD_LRU_CACHE, 256, 200, LT_ROOT_MODULE, 0,
           0, 48, 0, 1, LT_EDGE_ATTR, 0);
    RECORD(&b, LT_REC_RETENTION, LT_RET_CYCLE, 2, 6, 300, 1, 1, 300, LT_ROOT_GARBAGE, 0, 0, 48,
           300, 0);
    RECORD(&b, LT_REC_RETENTION, LT_RET_SUMMARY, LT_RSUM_COUNT + 1, 1, 2, 3, 4, 5, 6, 7, 8);
    RECORD(&b, LT_REC_SNAPSHOT, 0, 0, 0, 0, 0, 0, 0);
    RECORD(&b, LT_REC_END, 2, 1, 2, 1);
    expect_ok(&b, __LINE__, 1);
    put_base(&b);
    RECORD(&b, LT_REC_RETENTION, LT_RET_SITE, 2, LT_ROOT_MODULE, 0, 0, 48, 96, 0);
    expect_error(&b, __LINE__, "invalid retention record", NULL); /* node 2 undefined */
    put_base(&b);
    RECORD(&b, LT_REC_RETENTION, LT_RET_SITE, 1, LT_ROOT_KIND_COUNT, 0, 0, 48, 96, 0);
    expect_error(&b, __LINE__, "invalid retention record", NULL);
    put_base(&b);
    RECORD(&b, LT_REC_RETENTION, LT_RET_SITE, 1, LT_ROOT_MODULE, 0, 0, 48, 96, 1,
           LT_EDGE_KIND_COUNT, 0);
    expect_error(&b, __LINE__, "invalid retention record", NULL);
    put_base(&b);
    RECORD(&b, LT_REC_RETENTION, LT_RET_SUSPECT, 7, LT_ROOT_MODULE, 0, 0, 48, 96,
           LT_MAX_PATH_EDGES + 1);
    expect_error(&b, __LINE__, "invalid retention record", NULL);
    put_base(&b);
    RECORD(&b, LT_REC_RETENTION, LT_RET_SITE, 1, LT_ROOT_MODULE, LT_MAX_PATH_TEXT + 1);
    expect_error(&b, __LINE__, "invalid retention record", NULL);
    put_base(&b);
    RECORD(&b, LT_REC_RETENTION, LT_RET_HOLDER, 1, LT_HOLD_KIND_COUNT, 0, 0, LT_ROOT_MODULE, 0, 0,
           48, 0, 0);
    expect_error(&b, __LINE__, "invalid retention record", NULL);
    put_base(&b);
    RECORD(&b, LT_REC_RETENTION, LT_RET_HOLDER, 1, LT_HOLD_DICT, 0, 3);
    expect_error(&b, __LINE__, "invalid retention record", NULL); /* no path */

    /* References to what is not defined (yet). */
    put_base(&b);
    RECORD(&b, LT_REC_FRAME, 2, 0, 0);
    expect_error(&b, __LINE__, "invalid frame record", NULL);
    put_base(&b);
    RECORD(&b, LT_REC_FRAME, 0, 2, 0);
    expect_error(&b, __LINE__, "invalid frame record", NULL);
    put_base(&b);
    RECORD(&b, LT_REC_NODE, 2, 0); /* its own id as parent */
    expect_error(&b, __LINE__, "invalid node record", NULL);
    put_base(&b);
    RECORD(&b, LT_REC_NODE, 7, 0);
    expect_error(&b, __LINE__, "invalid node record", NULL);
    put_base(&b);
    RECORD(&b, LT_REC_NODE, 1, 1); /* frame 1 is not defined */
    expect_error(&b, __LINE__, "invalid node record", NULL);
    put_base(&b);
    RECORD(&b, LT_REC_NODE, 1, 0);
    expect_ok(&b, __LINE__, 0);

    /* Snapshots: sequence, kind, label, site nodes. */
    put_base(&b);
    RECORD(&b, LT_REC_SNAPSHOT, 1, 0, 0, 0, 0, 0, 0);
    expect_error(&b, __LINE__, "invalid snapshot record", NULL);
    put_base(&b);
    RECORD(&b, LT_REC_SNAPSHOT, 0, LT_SNAP_KIND_COUNT, 0, 0, 0, 0, 0);
    expect_error(&b, __LINE__, "invalid snapshot record", NULL);
    put_base(&b);
    RECORD(&b, LT_REC_SNAPSHOT, 0, 0, 0, 3, 0, 0, 0); /* label: string 2 of 2 */
    expect_error(&b, __LINE__, "invalid snapshot record", NULL);
    put_base(&b);
    RECORD(&b, LT_REC_SNAPSHOT, 0, 0, 0, 2, 0, 0, 1, 2, 1, 1, 1, 1); /* node 2 of 2 */
    expect_error(&b, __LINE__, "invalid snapshot record", NULL);
    put_base(&b);
    RECORD(&b, LT_REC_SNAPSHOT, 0, 0, 0, 2, 0, 0, 2, 0, 1, 1, 1, 1, 0, 1, 1, 1, 1); /* dup */
    expect_error(&b, __LINE__, "invalid snapshot record", NULL);
    put_base(&b);
    RECORD(&b, LT_REC_SNAPSHOT, 0, 0, 0, 2, 0, 0, 2, 0, 1, 1, 1, 1, 1, 1, 1, 1, 1);
    RECORD(&b, LT_REC_SNAPSHOT, 1, 1, 0, 0, 0, 0, 0);
    RECORD(&b, LT_REC_SNAPSHOT, 0, 1, 0, 0, 0, 0, 0); /* seq goes back */
    expect_error(&b, __LINE__, "invalid snapshot record", NULL);
    {
        /* The valid part of that: the root and node 1 as sites, label "file". */
        put_base(&b);
        RECORD(&b, LT_REC_SNAPSHOT, 0, 2, 77, 2, 5, 6, 2, 0, 1, 2, 3, 4, 1, 5, 6, 7, 8);
        lt_capture cap;
        uint8_t *copy;
        CHECK(parse_bytes(&cap, &b, &copy) == 0);
        CHECK_U64(cap.nsnapshots, ==, 1);
        if (cap.nsnapshots == 1) {
            const lt_rsnapshot *s = &cap.snapshots[0];
            CHECK_U64(s->kind, ==, LT_SNAP_FINAL);
            CHECK_U64(s->time_ns, ==, 77);
            CHECK_U64(s->label, ==, 1);
            CHECK_U64(s->heap_bytes, ==, 5);
            CHECK_U64(s->heap_count, ==, 6);
            CHECK_U64(s->nsites, ==, 2);
            CHECK_U64(s->sites[0].node, ==, 0);
            CHECK_U64(s->sites[0].live_count, ==, 1);
            CHECK_U64(s->sites[0].alloc_bytes, ==, 4);
            CHECK_U64(s->sites[1].node, ==, 1);
            CHECK_U64(s->sites[1].live_bytes, ==, 6);
        }
        parsed_close(&cap, copy);
    }

    /* A payload with a byte left over. */
    put_base(&b);
    at = b.len;
    RECORD(&b, LT_REC_NODE, 1, 0, 0);
    snprintf(where, sizeof(where), "invalid node record at byte %zu", at);
    expect_error(&b, __LINE__, where, NULL);
    put_base(&b);
    RECORD(&b, LT_REC_FRAME, 0, 1, 0, 9);
    expect_error(&b, __LINE__, "invalid frame record", NULL);

    /* Meta: a key longer than its record; a key without a value. */
    put_base(&b);
    RECORD(&b, LT_REC_META, 100, 1, 2);
    expect_error(&b, __LINE__, "invalid meta record", NULL);
    put_base(&b);
    {
        bytes p = {.len = 0};
        put_varint(&p, 3);
        put(&p, "key", 3);
        put_record(&b, LT_REC_META, &p);
    }
    expect_error(&b, __LINE__, "invalid meta record", NULL);

    /* Stats: more fields than this reader knows are skipped, fewer leave the
     * rest at zero. */
    put_base(&b);
    {
        bytes p = {.len = 0};
        put_varint(&p, LT_STAT_COUNT + 3);
        for (int i = 0; i < LT_STAT_COUNT + 3; i++) {
            put_varint(&p, 100 + (uint64_t)i);
        }
        put_record(&b, LT_REC_STATS, &p);
    }
    lt_capture cap;
    uint8_t *copy;
    CHECK(parse_bytes(&cap, &b, &copy) == 0);
    CHECK(cap.has_stats);
    CHECK_U64(cap.stats[0], ==, 100);
    CHECK_U64(cap.stats[LT_STAT_COUNT - 1], ==, 100 + LT_STAT_COUNT - 1);
    parsed_close(&cap, copy);
    put_base(&b);
    RECORD(&b, LT_REC_STATS, 2, 11, 22);
    CHECK(parse_bytes(&cap, &b, &copy) == 0);
    CHECK_U64(cap.stats[0], ==, 11);
    CHECK_U64(cap.stats[1], ==, 22);
    CHECK_U64(cap.stats[2], ==, 0);
    parsed_close(&cap, copy);

    /* An empty string is a string. */
    put_base(&b);
    put_string_record(&b, "", 0);
    CHECK(parse_bytes(&cap, &b, &copy) == 0);
    CHECK_U64(cap.nstrings, ==, 3);
    CHECK_U64(cap.strings[2].len, ==, 0);
    parsed_close(&cap, copy);
}

/* ---- files and I/O errors ---- */

static void
test_capture_open_errors(void)
{
    lt_capture cap;
    CHECK(lt_reader_open(&cap, "/nonexistent-dir/none.ltc") < 0);
    CHECK_CONTAINS(cap.error, "cannot open /nonexistent-dir/none.ltc: No such file");
    lt_reader_close(&cap);

    CHECK(lt_reader_open(&cap, "/") < 0);
    CHECK_CONTAINS(cap.error, "not a regular file");
    lt_reader_close(&cap);

    char path[4096];
    check_temp_path(path, sizeof(path));
    CHECK(lt_reader_open(&cap, path) < 0);
    CHECK_CONTAINS(cap.error, "is empty");
    lt_reader_close(&cap);

    /* A file read from disk with bad contents: the error comes from the parser and
     * close() still unmaps. */
    CHECK(write_file(path, "hello world, not a capture", 26) == 0);
    CHECK(lt_reader_open(&cap, path) < 0);
    CHECK_CONTAINS(cap.error, "bad magic");
    CHECK(cap.owns_data);
    lt_reader_close(&cap);
    unlink(path);
}

static void
test_writer_errors(void)
{
    size_t start = lt_raw_current_bytes();
    lt_writer w;
    errno = 0;
    CHECK(lt_writer_open(&w, "/nonexistent-dir/out.ltc") < 0);
    CHECK_U64(errno, ==, ENOENT);
    CHECK_U64(lt_raw_current_bytes(), ==, start);

    /* A full disk: the error is kept and reported by close, once. */
    struct stat st;
    if (stat("/dev/full", &st) == 0) {
        lt_intern in;
        CHECK(lt_intern_init(&in) == 0);
        CHECK(lt_writer_open(&w, "/dev/full") == 0);
        lt_snapshot_info info = {LT_SNAP_FINAL, 0, LT_NO_ID, 0, 0};
        CHECK(lt_writer_snapshot(&w, &in, &info) == 0); /* encoding only */
        CHECK(lt_writer_flush(&w) < 0);
        CHECK_U64(w.error, ==, ENOSPC);
        /* Later output is discarded, not retried. */
        CHECK(lt_writer_meta(&w, LIT("k"), LIT("v")) == 0);
        CHECK(lt_writer_flush(&w) < 0);
        CHECK_U64(w.len, ==, 0);
        CHECK(lt_writer_close(&w) < 0);
        CHECK_U64(w.error, ==, ENOSPC);
        lt_intern_destroy(&in);
    }
    CHECK_U64(lt_raw_current_bytes(), ==, start);

    /* Abandoning discards what was never flushed, the header included: the
     * file stays empty rather than holding a record cut by the writer. */
    char path[4096];
    check_temp_path(path, sizeof(path));
    CHECK(lt_writer_open(&w, path) == 0);
    CHECK(lt_writer_meta(&w, LIT("k"), LIT("v")) == 0);
    lt_writer_abandon(&w); /* never flushed */
    size_t size = 0;
    uint8_t *data = read_file(path, &size);
    CHECK_U64(size, ==, 0);
    free(data);
    CHECK_U64(lt_raw_current_bytes(), ==, start);
    unlink(path);
}

/* ---- snapshot extras (0x42) and the RSS ---- */

static void
test_snapshot_extra(void)
{
    /* Written by the writer after its snapshot, read back onto it. */
    char path[4096];
    check_temp_path(path, sizeof(path));
    lt_intern in;
    lt_writer w;
    CHECK(lt_intern_init(&in) == 0);
    CHECK(lt_writer_open(&w, path) == 0);
    CHECK(lt_writer_snapshot_extra(&w, 1) < 0); /* no snapshot yet */
    lt_snapshot_info info = {LT_SNAP_INTERVAL, 5, LT_NO_ID, 0, 0};
    CHECK(lt_writer_snapshot(&w, &in, &info) == 0);
    CHECK(lt_writer_snapshot_extra(&w, 123456789) == 0);
    info.kind = LT_SNAP_FINAL;
    CHECK(lt_writer_snapshot(&w, &in, &info) == 0);
    CHECK(lt_writer_close(&w) == 0);
    lt_intern_destroy(&in);
    lt_capture cap;
    CHECK(lt_reader_open(&cap, path) == 0);
    CHECK_U64(cap.nsnapshots, ==, 2);
    CHECK(cap.snapshots[0].has_rss);
    CHECK_U64(cap.snapshots[0].rss_bytes, ==, 123456789);
    CHECK(!cap.snapshots[1].has_rss);
    lt_reader_close(&cap);
    unlink(path);

    /* Crafted: it must name the snapshot just read, once. */
    bytes b;
    put_base(&b);
    RECORD(&b, LT_REC_SNAPSHOT_EXTRA, 0, 4096);
    expect_error(&b, __LINE__, "invalid snapshot extra record", NULL);
    put_base(&b);
    RECORD(&b, LT_REC_SNAPSHOT, 0, 0, 0, 0, 0, 0, 0);
    RECORD(&b, LT_REC_SNAPSHOT_EXTRA, 1, 4096);
    expect_error(&b, __LINE__, "invalid snapshot extra record", NULL);
    put_base(&b);
    RECORD(&b, LT_REC_SNAPSHOT, 0, 0, 0, 0, 0, 0, 0);
    RECORD(&b, LT_REC_SNAPSHOT_EXTRA, 0, 4096);
    RECORD(&b, LT_REC_SNAPSHOT_EXTRA, 0, 4096);
    expect_error(&b, __LINE__, "invalid snapshot extra record", NULL);
    put_base(&b);
    RECORD(&b, LT_REC_SNAPSHOT, 0, 0, 0, 0, 0, 0, 0);
    RECORD(&b, LT_REC_SNAPSHOT_EXTRA, 0, 4096);
    expect_ok(&b, __LINE__, 0);

    /* The RSS of this process: whole pages, and more than nothing. */
    uint64_t rss = 0;
    CHECK(lt_rss_bytes(&rss) == 0);
    CHECK_U64(rss, >, 0);
    CHECK_U64(rss % (uint64_t)sysconf(_SC_PAGESIZE), ==, 0);
}

const test_case capture_tests[] = {
    {"capture_round_trip", test_capture_round_trip},
    {"capture_round_trip_many_nodes", test_capture_round_trip_many_nodes},
    {"capture_without_end_is_incomplete", test_capture_without_end_is_incomplete},
    {"capture_truncated_every_offset", test_capture_truncated_every_offset},
    {"capture_byte_flips", test_capture_byte_flips},
    {"capture_random_records", test_capture_random_records},
    {"capture_header_errors", test_capture_header_errors},
    {"capture_crafted_counts", test_capture_crafted_counts},
    {"capture_crafted_records", test_capture_crafted_records},
    {"capture_open_errors", test_capture_open_errors},
    {"writer_errors", test_writer_errors},
    {"snapshot_extra", test_snapshot_extra},
    {NULL, NULL},
};
