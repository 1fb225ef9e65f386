/* test_main.c - runs the C unit tests.
 *
 *   test_units [SUBSTRING]        run every test whose name contains SUBSTRING
 *   test_units --write-seed FILE  write the sample capture (a fuzzing seed)
 *
 * Prints one line per test and, last, "N passed, M failed"; exits 1 when a
 * test failed.
 */
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <time.h>
#include <unistd.h>

#include "check.h"

/* Past this many failures in one test, the rest are only counted. */
#define MAX_REPORTED_FAILURES 10

unsigned long check_failures;

void
check_temp_path(char *out, size_t size)
{
    const char *dir = getenv("TMPDIR");
    snprintf(out, size, "%s/lt_unit_XXXXXX", dir && *dir ? dir : "/tmp");
    int fd = mkstemp(out);
    if (fd < 0) {
        perror("mkstemp");
        abort();
    }
    close(fd);
}

void
check_report(const char *file, int line, const char *fmt, ...)
{
    check_failures++;
    if (check_failures > MAX_REPORTED_FAILURES) {
        return;
    }
    va_list args;
    va_start(args, fmt);
    printf("    %s:%d: check failed: ", file, line);
    vprintf(fmt, args);
    printf("\n");
    va_end(args);
    fflush(stdout);
}

static double
now_seconds(void)
{
    struct timespec ts;
    clock_gettime(CLOCK_MONOTONIC, &ts);
    return (double)ts.tv_sec + (double)ts.tv_nsec / 1e9;
}

int
main(int argc, char **argv)
{
    if (argc == 3 && strcmp(argv[1], "--write-seed") == 0) {
        /* The sample (delta snapshots), and the sites capture of test_sites.c
         * as format 2 and as format 1, next to it. */
        char path[4096];
        for (unsigned major = 0; major <= 2; major++) {
            snprintf(path, sizeof(path), "%s%s", argv[2],
                     major == 0   ? ""
                     : major == 1 ? ".sites-v1.ltc"
                                  : ".sites-v2.ltc");
            if ((major ? write_sites_capture(path, major) : write_sample_capture(path)) < 0) {
                perror(path);
                return 1;
            }
        }
        return 0;
    }
    const char *filter = argc > 1 ? argv[1] : NULL;
    const test_case *tables[] = {varint_tests,     livetable_tests, intern_tests, capture_tests,
                                 native_map_tests, analysis_tests,  path_tests,   sampler_tests,
                                 sites_tests,      buf_tests,       growth_tests, schedule_tests,
                                 stackcache_tests, verdicts_tests};
    unsigned passed = 0, failed = 0;
    for (size_t t = 0; t < sizeof(tables) / sizeof(tables[0]); t++) {
        for (const test_case *tc = tables[t]; tc->name; tc++) {
            if (filter && !strstr(tc->name, filter)) {
                continue;
            }
            printf("%s\n", tc->name);
            fflush(stdout);
            check_failures = 0;
            double start = now_seconds();
            tc->run();
            double elapsed = now_seconds() - start;
            if (check_failures) {
                printf("  FAILED (%lu failed checks, %.2f s)\n", check_failures, elapsed);
                failed++;
            }
            else {
                printf("  ok (%.2f s)\n", elapsed);
                passed++;
            }
            fflush(stdout);
        }
    }
    printf("%u passed, %u failed\n", passed, failed);
    return failed ? 1 : 0;
}
