/* fuzz_reader.c - libFuzzer entry point for the capture reader.
 *
 * Built by `make -C tests/c fuzz` (clang, -fsanitize=fuzzer,address,undefined).
 * Besides crashes and sanitizer reports, it aborts when an accepted capture
 * breaks the invariants the Python layer relies on (capture_check.h).
 */
#include <stdio.h>
#include <stdlib.h>

#include "capture_check.h"
#include "capture/lt_reader.h"

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size);

int
LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
    lt_capture cap;
    if (lt_reader_parse(&cap, data, size) == 0) {
        unsigned checksum = 0;
        const char *why = capture_check(&cap, &checksum);
        if (why) {
            fprintf(stderr, "fuzz_reader: accepted an inconsistent capture: %s\n", why);
            abort();
        }
    }
    else if (!cap.error[0]) {
        fprintf(stderr, "fuzz_reader: rejected without a message\n");
        abort();
    }
    lt_reader_close(&cap);
    return 0;
}
