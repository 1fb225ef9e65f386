/* fuzz_reader.c - libFuzzer entry point for the capture readers.
 *
 * Built by `make -C tests/c fuzz` (clang, -fsanitize=fuzzer,address,undefined).
 * Each input is parsed whole by lt_reader and streamed by lt_analysis (from a
 * memfd). Besides crashes and sanitizer reports, it aborts when the two
 * disagree on accepting it or on its message, or when an accepted capture
 * breaks the invariants the Python layer relies on (capture_check.h, and the
 * analyzer's sites: every node lands on a site, every ranked site is alive,
 * the sites' live bytes add up to the reader's last snapshot).
 */
#define _GNU_SOURCE
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/mman.h>
#include <unistd.h>

#include "analyze/lt_analysis.h"
#include "capture_check.h"
#include "capture/lt_reader.h"

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size);

static void
die(const char *why)
{
    fprintf(stderr, "fuzz_reader: %s\n", why);
    abort();
}

/* What must hold of an analysis the reader agreed with. */
static void
check_analysis(const lt_analysis *a, const lt_capture *cap)
{
    const lt_sites *s = &a->sites;
    if (a->nnodes != cap->nnodes || a->nsnapshots != cap->nsnapshots) {
        die("the analyzer and the reader read different tables");
    }
    if (s->nsites != a->trim.ntree) {
        die("a node of the trimmed tree without a site");
    }
    for (size_t n = 0; n < a->nnodes; n++) {
        if (a->trim.target[n] >= a->trim.ntree || a->trim.reason[n] >= LT_TRIM_REASON_COUNT) {
            die("a capture node lands outside the trimmed tree");
        }
    }
    for (size_t g = 1; g < a->trim.ntree; g++) {
        if (a->trim.parent[g] >= g) {
            die("a trimmed node whose parent is not defined before it");
        }
    }
    for (size_t i = 0; i < s->nranked; i++) {
        if (s->ranked[i] >= s->nsites || !s->site[s->ranked[i]].live_count) {
            die("a ranked site that is not alive");
        }
    }
    uint64_t total = 0, listed = 0;
    for (size_t g = 0; g < s->nsites; g++) {
        total += s->site[g].live_bytes;
    }
    for (size_t r = 0; r < LT_TRIM_REASON_COUNT; r++) {
        total += s->excluded[r].bytes;
    }
    if (cap->nsnapshots) {
        const lt_rsnapshot *last = &cap->snapshots[cap->nsnapshots - 1];
        uint64_t want = 0;
        for (size_t k = 0; k < last->nsites; k++) {
            want += last->sites[k].live_bytes;
        }
        listed = last->nsites;
        if (total != want) {
            die("the sites do not add up to the last snapshot");
        }
    }
    if (s->nodes_start[s->nsites] > listed) {
        die("more site nodes than listed nodes");
    }
}

int
LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
    lt_capture cap;
    int r_read = lt_reader_parse(&cap, data, size);
    if (r_read == 0) {
        unsigned checksum = 0;
        const char *why = capture_check(&cap, &checksum);
        if (why) {
            fprintf(stderr, "fuzz_reader: accepted an inconsistent capture: %s\n", why);
            abort();
        }
    }
    else if (!cap.error[0]) {
        die("rejected without a message");
    }
    int fd = memfd_create("capture", 0);
    if (fd >= 0 && size > 0 && write(fd, data, size) == (ssize_t)size) {
        char path[64];
        snprintf(path, sizeof(path), "/proc/self/fd/%d", fd);
        static const char *const runpy[] = {"<frozen runpy>"};
        lt_analysis_options o = {
            .trim = {"/pkg/", 5, runpy, 1, 0}, .picks = {0, -1}, .npicks = 2, .max_points = 16};
        lt_analysis a;
        int r_stream = lt_analysis_read(&a, path, &o);
        /* The reader refuses what it cannot hold whole; the analyzer reads it. */
        int too_large = r_read < 0 && strstr(cap.error, "too large to read whole");
        if (!too_large && (r_stream < 0) != (r_read < 0)) {
            fprintf(stderr, "fuzz_reader: reader \"%s\", analyzer \"%s\"\n", cap.error, a.error);
            abort();
        }
        if (!too_large && r_read < 0 && strcmp(cap.error, a.error) != 0 &&
            !strstr(a.error, "has snapshots")) {
            fprintf(stderr, "fuzz_reader: reader \"%s\", analyzer \"%s\"\n", cap.error, a.error);
            abort();
        }
        if (r_stream == 0 && r_read == 0) {
            check_analysis(&a, &cap);
        }
        lt_analysis_free(&a);
    }
    if (fd >= 0) {
        close(fd);
    }
    lt_reader_close(&cap);
    return 0;
}
