/* test_sites.c - what the analyzer hands every report, at exact values: the
 * trimming policy (lt_trim), delta snapshots of format 2 against the whole
 * snapshots of format 1, and the sites, peak, picks, growth series and
 * excluded sums of lt_analysis_read().
 *
 * One small capture, written twice (as version 2 deltas and as version 1
 * whole snapshots), must give the same figures:
 *
 *   frames  1 main app.py:10       2 run /pkg/leaktrace/runner.py:5
 *           3 imp <frozen importlib._bootstrap>:1
 *           4 main app.py:10 again (another file string of the same text)
 *           5 <module> <string>:1
 *   nodes   1 (root, 2) own          2 (1, 1) main under own frames
 *           3 (1, 4) as 2, by value  4 (2, 3) an import under main
 *           5 (root, 5) the -c stub  6 (5, 2) own after the stub
 *           7 (6, 1) main again      8 (root, 0) truncation marker
 *           9 (8, 2) own, but below the marker: kept
 *   snapshots (node: live_count live_bytes alloc_count alloc_bytes)
 *     0 heap 100: 0: 1 10 1 10   2: 2 200 2 200   4: 1 50 1 50
 *     1 heap 500: 3: 1 30 1 30   7: 1 70 1 70     9: 1 5 1 5
 *     2 heap 300: 2: 0 0 2 200   1: 1 1 1 1
 */
#include <stdio.h>
#include <stdlib.h>
#include <unistd.h>

#include "check.h"
#include "analyze/lt_analysis.h"
#include "analyze/lt_trim.h"
#include "capture/lt_stream.h"
#include "capture/lt_writer.h"
#include "record/lt_intern.h"

typedef struct {
    uint8_t data[2048];
    size_t len;
} buffer;

static void
put(buffer *b, const void *p, size_t n)
{
    if (b->len + n <= sizeof(b->data)) {
        memcpy(b->data + b->len, p, n);
        b->len += n;
    }
}

static void
varint(buffer *b, uint64_t v)
{
    uint8_t tmp[LT_VARINT_MAX_BYTES];
    put(b, tmp, lt_varint_encode(v, tmp));
}

static void
record(buffer *b, uint8_t type, const buffer *payload)
{
    put(b, &type, 1);
    varint(b, payload->len);
    put(b, payload->data, payload->len);
}

static void
string_record(buffer *b, const char *s)
{
    buffer p = {.len = 0};
    put(&p, s, strlen(s));
    record(b, LT_REC_STRING, &p);
}

static void
varints_record(buffer *b, uint8_t type, size_t n, const uint64_t *v)
{
    buffer p = {.len = 0};
    for (size_t i = 0; i < n; i++) {
        varint(&p, v[i]);
    }
    record(b, type, &p);
}

#define RECORD(b, type, ...)                                                                      \
    varints_record((b), (type), sizeof((uint64_t[]){__VA_ARGS__}) / sizeof(uint64_t),             \
                   (uint64_t[]){__VA_ARGS__})

typedef struct {
    uint64_t node, live_count, live_bytes, alloc_count, alloc_bytes;
} entry;

static void
snapshot_record(buffer *b, uint64_t seq, uint64_t heap, const entry *e, size_t n)
{
    buffer p = {.len = 0};
    uint64_t head[] = {seq, LT_SNAP_MARK, 1000 * (seq + 1), 0, heap, 0, n};
    for (size_t i = 0; i < sizeof(head) / sizeof(head[0]); i++) {
        varint(&p, head[i]);
    }
    uint64_t previous = 0;
    for (size_t i = 0; i < n; i++) {
        varint(&p, e[i].node - previous);
        varint(&p, e[i].live_count);
        varint(&p, e[i].live_bytes);
        varint(&p, e[i].alloc_count);
        varint(&p, e[i].alloc_bytes);
        previous = e[i].node;
    }
    record(b, LT_REC_SNAPSHOT, &p);
}

/* The capture above, as format `major`. */
static void
build(buffer *b, unsigned major)
{
    b->len = 0;
    put(b, LT_MAGIC, LT_MAGIC_SIZE);
    uint8_t version[8] = {(uint8_t)major, 0, 0, 0, 0, 0, 0, 0};
    put(b, version, sizeof(version));
    const char *strings[] = {"<truncated>", "",
                             "main",        "app.py",
                             "run",         "/pkg/leaktrace/runner.py",
                             "imp",         "<frozen importlib._bootstrap>",
                             "app.py",      "<string>",
                             "<module>"};
    for (size_t i = 0; i < sizeof(strings) / sizeof(strings[0]); i++) {
        string_record(b, strings[i]);
    }
    RECORD(b, LT_REC_FRAME, 0, 1, 0);
    RECORD(b, LT_REC_FRAME, 2, 3, lt_zigzag_encode(10));
    RECORD(b, LT_REC_FRAME, 4, 5, lt_zigzag_encode(5));
    RECORD(b, LT_REC_FRAME, 6, 7, lt_zigzag_encode(1));
    RECORD(b, LT_REC_FRAME, 2, 8, lt_zigzag_encode(10));
    RECORD(b, LT_REC_FRAME, 10, 9, lt_zigzag_encode(1));
    const uint64_t nodes[][2] = {{0, 2}, {1, 1}, {1, 4}, {2, 3}, {0, 5},
                                 {5, 2}, {6, 1}, {0, 0}, {8, 2}};
    for (size_t i = 0; i < sizeof(nodes) / sizeof(nodes[0]); i++) {
        RECORD(b, LT_REC_NODE, nodes[i][0], nodes[i][1]);
    }
    const entry s0[] = {{0, 1, 10, 1, 10}, {2, 2, 200, 2, 200}, {4, 1, 50, 1, 50}};
    const entry s1_delta[] = {{3, 1, 30, 1, 30}, {7, 1, 70, 1, 70}, {9, 1, 5, 1, 5}};
    const entry s1_whole[] = {{0, 1, 10, 1, 10}, {2, 2, 200, 2, 200}, {3, 1, 30, 1, 30},
                              {4, 1, 50, 1, 50}, {7, 1, 70, 1, 70},   {9, 1, 5, 1, 5}};
    const entry s2_delta[] = {{1, 1, 1, 1, 1}, {2, 0, 0, 2, 200}};
    const entry s2_whole[] = {{0, 1, 10, 1, 10}, {1, 1, 1, 1, 1},   {2, 0, 0, 2, 200},
                              {3, 1, 30, 1, 30}, {4, 1, 50, 1, 50}, {7, 1, 70, 1, 70},
                              {9, 1, 5, 1, 5}};
    snapshot_record(b, 0, 100, s0, 3);
    if (major >= LT_FORMAT_DELTA_MAJOR) {
        snapshot_record(b, 1, 500, s1_delta, 3);
        snapshot_record(b, 2, 300, s2_delta, 2);
    }
    else {
        snapshot_record(b, 1, 500, s1_whole, 6);
        snapshot_record(b, 2, 300, s2_whole, 7);
    }
    RECORD(b, LT_REC_END, 11, 6, 10, 3);
}

int
write_sites_capture(const char *path, unsigned major)
{
    buffer b;
    build(&b, major);
    FILE *f = fopen(path, "wb");
    if (!f) {
        return -1;
    }
    size_t written = fwrite(b.data, 1, b.len, f);
    return fclose(f) == 0 && written == b.len ? 0 : -1;
}

static const char *const RUNPY[] = {"<frozen runpy>"};

static lt_analysis_options
options(int include_all)
{
    lt_analysis_options o = {
        .trim = {"/pkg/leaktrace/", 15, RUNPY, 1, include_all},
        .picks = {0, -1},
        .npicks = 2,
        .max_points = 128,
    };
    return o;
}

static int
analyse(lt_analysis *a, const buffer *b, const lt_analysis_options *o)
{
    char path[] = "/tmp/lt-test-sites-XXXXXX";
    int fd = mkstemp(path);
    if (fd < 0 || write(fd, b->data, b->len) != (ssize_t)b->len) {
        check_report(__FILE__, __LINE__, "cannot write %s", path);
        if (fd >= 0) {
            close(fd);
        }
        memset(a, 0, sizeof(*a));
        return -1;
    }
    close(fd);
    int r = lt_analysis_read(a, path, o);
    unlink(path);
    if (r < 0) {
        check_report(__FILE__, __LINE__, "rejected: %s", a->error);
    }
    return r;
}

/* The trimmed node reached from the root through these frames (outermost
 * first), or UINT32_MAX. */
static uint32_t
find(const lt_trim *t, size_t n, const uint32_t *frames)
{
    uint32_t at = 0;
    for (size_t i = 0; i < n; i++) {
        uint32_t next = UINT32_MAX;
        for (uint32_t k = 1; k < t->ntree; k++) {
            if (t->parent[k] == at && t->frame[k] == frames[i]) {
                next = k;
            }
        }
        if (next == UINT32_MAX) {
            return next;
        }
        at = next;
    }
    return at;
}

static void
check_figures(unsigned major)
{
    buffer b;
    build(&b, major);
    lt_analysis_options o = options(0);
    lt_analysis a;
    if (analyse(&a, &b, &o) < 0) {
        lt_analysis_free(&a);
        return;
    }
    const lt_trim *t = &a.trim;
    /* Strings and frames are one per value. */
    CHECK_U64(t->ndistinct, ==, 10);
    CHECK_U64(t->nframes, ==, 5);
    CHECK_U64(t->frame_canon[4], ==, t->frame_canon[1]);
    /* Trimming: own frames go at the outer end (after the stub too); a
     * truncated stack is kept whole; the import is summed up. */
    uint32_t main_frame = t->frame_canon[1];
    uint32_t t_main = find(t, 1, &main_frame);
    CHECK(t_main != UINT32_MAX);
    CHECK_U64(t->target[2], ==, t_main);
    CHECK_U64(t->target[3], ==, t_main);
    CHECK_U64(t->target[7], ==, t_main);
    CHECK_U64(t->reason[0], ==, LT_TRIM_FRAMELESS);
    CHECK_U64(t->reason[1], ==, LT_TRIM_OWN);
    CHECK_U64(t->reason[4], ==, LT_TRIM_IMPORTS);
    CHECK_U64(t->reason[6], ==, LT_TRIM_OWN);
    CHECK_U64(t->reason[7], ==, LT_TRIM_SHOWN);
    CHECK_U64(t->reason[9], ==, LT_TRIM_SHOWN);
    uint32_t marker_path[] = {LT_TRIM_TRUNCATED, t->frame_canon[2]};
    uint32_t t_marked = find(t, 2, marker_path);
    CHECK(t_marked != UINT32_MAX);
    CHECK_U64(t->target[9], ==, t_marked);
    uint32_t stub_frame = t->frame_canon[5];
    uint32_t t_stub = find(t, 1, &stub_frame);
    CHECK(t_stub != UINT32_MAX && t->target[5] == t_stub);

    /* The sites at the last snapshot, the peak (snapshot 1) and the ranking. */
    CHECK_U64(a.nsnapshots, ==, 3);
    CHECK_U64(a.peak_index, ==, 1);
    const lt_asite *m = &a.sites.site[t_main];
    CHECK_U64(m->live_count, ==, 2);
    CHECK_U64(m->live_bytes, ==, 100);
    CHECK_U64(m->alloc_count, ==, 4);
    CHECK_U64(m->alloc_bytes, ==, 300);
    CHECK_U64(m->peak_count, ==, 4);
    CHECK_U64(m->peak_bytes, ==, 300);
    CHECK_U64(m->first_node, ==, 2);
    CHECK_U64(a.sites.site[t_marked].live_bytes, ==, 5);
    CHECK_U64(a.sites.site[t_marked].first_node, ==, 9);
    CHECK_U64(a.sites.site[t_stub].live_count, ==, 0);
    CHECK_U64(a.sites.site[0].live_bytes, ==, 0); /* the own and frameless blocks are not here */
    CHECK_U64(a.sites.nranked, ==, 2);
    if (a.sites.nranked == 2) {
        CHECK_U64(a.sites.ranked[0], ==, t_main);
        CHECK_U64(a.sites.ranked[1], ==, t_marked);
    }
    CHECK_U64(a.sites.excluded[LT_TRIM_FRAMELESS].bytes, ==, 10);
    CHECK_U64(a.sites.excluded[LT_TRIM_FRAMELESS].count, ==, 1);
    CHECK_U64(a.sites.excluded[LT_TRIM_IMPORTS].bytes, ==, 50);
    CHECK_U64(a.sites.excluded[LT_TRIM_OWN].bytes, ==, 1);

    /* Picks: the first snapshot and the last (-1). */
    CHECK_U64(a.sites.npicks, ==, 2);
    CHECK_U64(a.sites.picks[0].index, ==, 0);
    CHECK_U64(a.sites.picks[1].index, ==, 2);
    CHECK_U64(a.sites.picks[0].sites[t_main].bytes, ==, 200);
    CHECK_U64(a.sites.picks[0].sites[t_main].count, ==, 2);
    CHECK_U64(a.sites.picks[0].sites[t_marked].bytes, ==, 0);
    CHECK_U64(a.sites.picks[0].nranked, ==, 1);
    CHECK_U64(a.sites.picks[1].sites[t_main].bytes, ==, 100);
    CHECK_U64(a.sites.picks[1].nranked, ==, 2);

    /* Series: every snapshot (three, fewer than max_points). */
    CHECK_U64(a.sites.npoints, ==, 3);
    CHECK_U64(a.sites.nrows, ==, 2);
    if (m->row != LT_NO_ROW && a.sites.site[t_marked].row != LT_NO_ROW) {
        const uint64_t *sm = a.sites.series + m->row * a.sites.npoints;
        const uint64_t *sk = a.sites.series + a.sites.site[t_marked].row * a.sites.npoints;
        CHECK_U64(sm[0], ==, 200);
        CHECK_U64(sm[1], ==, 300);
        CHECK_U64(sm[2], ==, 100);
        CHECK_U64(sk[0], ==, 0);
        CHECK_U64(sk[1], ==, 5);
        CHECK_U64(sk[2], ==, 5);
    }
    else {
        check_report(__FILE__, __LINE__, "sites without a series row");
    }
    /* Work: every node's allocated bytes, at each point. */
    CHECK_U64(a.sites.work[0], ==, 260);
    CHECK_U64(a.sites.work[1], ==, 365);
    CHECK_U64(a.sites.work[2], ==, 366);
    /* The capture nodes of each site. */
    CHECK_U64(a.sites.nodes_start[t_main + 1] - a.sites.nodes_start[t_main], ==, 3);
    const uint32_t *held = a.sites.nodes + a.sites.nodes_start[t_main];
    CHECK(held[0] == 2 && held[1] == 3 && held[2] == 7);
    CHECK_U64(a.sites.nodes_start[t_marked + 1] - a.sites.nodes_start[t_marked], ==, 1);
    CHECK_U64(a.sites.nodes_start[a.trim.ntree], ==, 4);
    CHECK(a.complete);
    lt_analysis_free(&a);

    /* --all: nothing is summed up; the own and frameless blocks land on the
     * root, the import under main. */
    o = options(1);
    if (analyse(&a, &b, &o) == 0) {
        CHECK_U64(a.sites.site[0].live_bytes, ==, 11);
        CHECK_U64(a.sites.site[0].live_count, ==, 2);
        CHECK_U64(a.sites.excluded[LT_TRIM_IMPORTS].bytes, ==, 0);
        uint32_t import_path[] = {a.trim.frame_canon[1], a.trim.frame_canon[3]};
        uint32_t t_import = find(&a.trim, 2, import_path);
        CHECK(t_import != UINT32_MAX && a.sites.site[t_import].live_bytes == 50);
    }
    lt_analysis_free(&a);
}

static void
test_sites_delta_snapshots(void)
{
    check_figures(LT_FORMAT_MAJOR);
}

static void
test_sites_whole_snapshots_version_1(void)
{
    check_figures(1);
}

/* A pick outside the snapshots is an error naming the range. */
static void
test_sites_pick_out_of_range(void)
{
    buffer b;
    build(&b, LT_FORMAT_MAJOR);
    lt_analysis_options o = options(0);
    o.picks[1] = 3;
    char path[] = "/tmp/lt-test-sites-XXXXXX";
    int fd = mkstemp(path);
    CHECK(fd >= 0 && write(fd, b.data, b.len) == (ssize_t)b.len);
    if (fd >= 0) {
        close(fd);
    }
    lt_analysis a;
    CHECK(lt_analysis_read(&a, path, &o) < 0);
    CHECK_CONTAINS(a.error, "has snapshots 0 to 2, not 3");
    lt_analysis_free(&a);
    o.picks[1] = -4;
    CHECK(lt_analysis_read(&a, path, &o) < 0);
    CHECK_CONTAINS(a.error, "not -4");
    lt_analysis_free(&a);
    unlink(path);
}

/* Thinning a series as Python's growth.thin() does (values from it). */
static void
test_sites_thin_like_python(void)
{
    uint64_t out[128];
    size_t n = lt_sites_thin(200, 128, out);
    CHECK_U64(n, ==, 128);
    uint64_t sum = 0;
    for (size_t i = 0; i < n; i++) {
        sum += out[i];
    }
    CHECK_U64(sum, ==, 12736);
    const uint64_t head[] = {0, 2, 3, 5, 6, 8, 9, 11, 13, 14, 16, 17};
    for (size_t i = 0; i < 12; i++) {
        CHECK_U64(out[i], ==, head[i]);
    }
    n = lt_sites_thin(1000, 128, out);
    sum = 0;
    for (size_t i = 0; i < n; i++) {
        sum += out[i];
    }
    CHECK_U64(n, ==, 128);
    CHECK_U64(sum, ==, 63936);
    CHECK_U64(out[4], ==, 31);
    n = lt_sites_thin(131, 128, out); /* halves round to even: 22 and 65 are skipped */
    CHECK_U64(n, ==, 128);
    CHECK_U64(out[22], ==, 23);
    CHECK_U64(out[64], ==, 66);
    CHECK_U64(lt_sites_thin(3, 128, out), ==, 3);
    CHECK_U64(lt_sites_thin(0, 128, out), ==, 0);
}

/* A temporary capture to write snapshots of `in` into with w. */
static void
open_capture(char *path, size_t size, lt_intern *in, lt_writer *w)
{
    check_temp_path(path, size);
    CHECK(lt_intern_init(in) == 0);
    CHECK(lt_writer_open(w, path) == 0);
}

/* The writer lists only the nodes whose counters moved: none for a snapshot
 * with nothing new, one after one node allocated or freed, every allocated
 * node again in a reopened file. */
static void
test_sites_writer_writes_changes_only(void)
{
    char path[256];
    lt_intern in;
    lt_writer w;
    open_capture(path, sizeof(path), &in, &w);
    uint32_t fn = lt_intern_string(&in, "f", 1);
    uint32_t frame = lt_intern_add_frame(&in, 0x10, 0, 1, fn, fn, 3);
    uint32_t nodes[50];
    for (uint32_t i = 0; i < 50; i++) {
        nodes[i] = lt_intern_node(&in, i ? nodes[i - 1] : LT_ROOT_NODE, frame);
        in.nodes[nodes[i]].alloc_count = in.nodes[nodes[i]].live_count = 1;
        in.nodes[nodes[i]].alloc_bytes = in.nodes[nodes[i]].live_bytes = 8 + i;
    }
    lt_snapshot_info info = {LT_SNAP_MARK, 1, LT_NO_ID, 0, 0};
    CHECK(lt_writer_snapshot(&w, &in, &info) == 0); /* 50 sites */
    CHECK(lt_writer_snapshot(&w, &in, &info) == 0); /* none */
    in.nodes[nodes[7]].live_count = 0;              /* a free */
    CHECK(lt_writer_snapshot(&w, &in, &info) == 0); /* one */
    in.nodes[nodes[9]].alloc_count++;               /* an allocation of 0 bytes */
    in.nodes[nodes[9]].live_count++;
    CHECK(lt_writer_snapshot(&w, &in, &info) == 0); /* one */
    CHECK(lt_writer_close(&w) == 0);

    lt_stream st;
    lt_decoder d;
    CHECK(lt_stream_open(&st, path) == 0);
    CHECK_U64(st.major, ==, LT_FORMAT_MAJOR);
    CHECK(lt_decoder_init(&d, st.major) == 0);
    const size_t want[] = {50, 0, 1, 1};
    size_t k = 0;
    lt_srecord rec;
    while (lt_stream_next(&st, &rec) == 1) {
        lt_drecord out;
        if (lt_decode_record(&d, rec.type, rec.payload, rec.len, rec.offset, &out) < 0) {
            check_report(__FILE__, __LINE__, "%s", d.error);
            break;
        }
        if (rec.type == LT_REC_SNAPSHOT && k < 4) {
            CHECK_U64(out.u.snapshot.nchanged, ==, want[k]);
            CHECK_U64(out.u.snapshot.nlisted, ==, 50);
            k++;
        }
    }
    CHECK_U64(k, ==, 4);
    CHECK_U64(d.sites[nodes[9]].live_count, ==, 2);
    CHECK_U64(d.sites[nodes[7]].live_count, ==, 0);
    CHECK_U64(d.sites[nodes[7]].live_bytes, ==, 15);
    CHECK(d.complete);
    lt_decoder_free(&d);
    lt_stream_close(&st);
    lt_intern_destroy(&in);
    unlink(path);
}

/* Series rows of sites born at different snapshots, more than a tile of
 * them (lt_sites keeps rows in tiles while it reads): each row holds its
 * site's bytes at every point, zero before the site held any. */
/* Closes the capture the writer made of `in`, reads it back with no pick
 * and deletes it; returns lt_analysis_read()'s result. */
static int
close_and_read(lt_writer *w, lt_intern *in, const char *path, lt_analysis *a)
{
    CHECK(lt_writer_close(w) == 0);
    lt_intern_destroy(in);
    lt_analysis_options o = options(0);
    o.npicks = 0;
    int r = lt_analysis_read(a, path, &o);
    unlink(path);
    return r;
}

static void
test_sites_series_rows_across_tiles(void)
{
    enum { SITES = 2 * LT_SITES_TILE + 3, SNAPSHOTS = 6 };
    char path[256];
    lt_intern in;
    lt_writer w;
    open_capture(path, sizeof(path), &in, &w);
    uint32_t file = lt_intern_string(&in, "app.py", 6);
    uint32_t nodes[SITES];
    for (uint32_t i = 0; i < SITES; i++) {
        uint32_t frame = lt_intern_add_frame(&in, 0x10 + i, 0, 1, file, file, (int32_t)i + 1);
        nodes[i] = lt_intern_node(&in, LT_ROOT_NODE, frame);
    }
    lt_snapshot_info info = {LT_SNAP_MARK, 1, LT_NO_ID, 0, 0};
    for (uint32_t k = 0; k < SNAPSHOTS; k++) {
        for (uint32_t i = 0; i < SITES && i * SNAPSHOTS / SITES <= k; i++) { /* born in turn */
            lt_node *n = &in.nodes[nodes[i]];
            n->live_count = n->alloc_count = k + 1;
            n->live_bytes = 10 * (i + 1) + k;
            n->alloc_bytes = 100 * (i + 1) * (k + 1);
        }
        CHECK(lt_writer_snapshot(&w, &in, &info) == 0);
    }
    lt_analysis a;
    int r = close_and_read(&w, &in, path, &a);
    CHECK(r == 0);
    if (r == 0) {
        CHECK_U64(a.sites.npoints, ==, SNAPSHOTS);
        CHECK_U64(a.sites.nrows, ==, SITES);
        for (uint32_t i = 0; i < SITES; i++) {
            uint32_t row = a.sites.site[a.trim.target[nodes[i]]].row;
            CHECK(row != LT_NO_ROW);
            if (row == LT_NO_ROW) {
                continue;
            }
            const uint64_t *live = a.sites.series + (size_t)row * SNAPSHOTS;
            const uint64_t *alloc = a.sites.alloc_series + (size_t)row * SNAPSHOTS;
            for (uint32_t k = 0; k < SNAPSHOTS; k++) {
                int born = i * SNAPSHOTS / SITES <= k;
                CHECK_U64(live[k], ==, (born ? 10 * (i + 1) + k : 0));
                CHECK_U64(alloc[k], ==, (born ? 100 * (i + 1) * (k + 1) : 0));
            }
        }
    }
    lt_analysis_free(&a);
}

/* Sites with few distinct sizes and counts (ties everywhere), some dead at
 * the end: ranked are exactly the live ones, by most bytes, then most blocks,
 * then lowest capture node, across many runs of the sort and its merges. */
static void
test_sites_ranked(void)
{
    enum { SITES = 333 };
    char path[256];
    lt_intern in;
    lt_writer w;
    open_capture(path, sizeof(path), &in, &w);
    uint32_t file = lt_intern_string(&in, "app.py", 6);
    size_t alive = 0;
    for (uint32_t i = 0; i < SITES; i++) {
        uint32_t frame = lt_intern_add_frame(&in, 0x10 + i, 0, 1, file, file, (int32_t)i + 1);
        uint32_t node = lt_intern_node(&in, LT_ROOT_NODE, frame); /* may move in.nodes */
        lt_node *n = &in.nodes[node];
        uint32_t mix = (i * 2654435761u) >> 7;
        n->live_count = i % 11 == 5 ? 0 : 1 + mix % 3;
        n->live_bytes = n->live_count ? 64 * (1 + (mix >> 3) % 4) : 0;
        n->alloc_count = n->live_count + 1;
        n->alloc_bytes = n->live_bytes + 64;
        alive += n->live_count > 0;
    }
    lt_snapshot_info info = {LT_SNAP_MARK, 1, LT_NO_ID, 0, 0};
    CHECK(lt_writer_snapshot(&w, &in, &info) == 0);
    lt_analysis a;
    int r = close_and_read(&w, &in, path, &a);
    CHECK(r == 0);
    if (r == 0) {
        CHECK_U64(a.sites.nranked, ==, alive);
        for (size_t k = 0; k < a.sites.nranked; k++) {
            const lt_asite *g = &a.sites.site[a.sites.ranked[k]];
            CHECK(g->live_count > 0);
            if (k == 0) {
                continue;
            }
            const lt_asite *f = &a.sites.site[a.sites.ranked[k - 1]];
            int before = f->live_bytes != g->live_bytes   ? f->live_bytes > g->live_bytes
                         : f->live_count != g->live_count ? f->live_count > g->live_count
                                                          : f->first_node < g->first_node;
            CHECK(before);
        }
    }
    lt_analysis_free(&a);
}

const test_case sites_tests[] = {
    {"sites_ranked", test_sites_ranked},
    {"sites_writer_writes_changes_only", test_sites_writer_writes_changes_only},
    {"sites_series_rows_across_tiles", test_sites_series_rows_across_tiles},
    {"sites_delta_snapshots", test_sites_delta_snapshots},
    {"sites_whole_snapshots_version_1", test_sites_whole_snapshots_version_1},
    {"sites_pick_out_of_range", test_sites_pick_out_of_range},
    {"sites_thin_like_python", test_sites_thin_like_python},
    {NULL, NULL},
};
