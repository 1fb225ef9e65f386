/* lt_rawalloc.h - the tracker's own memory.
 *
 * Every byte leaktrace allocates for itself goes through these functions.
 * They call libc directly - the allocator underneath CPython's RAW domain -
 * rather than any PyMem domain, so the tracker never traces itself (nor is
 * traced by another tracer that wrapped the RAW domain), and they count what
 * they hand out so that reports can state the tracker's footprint.
 *
 * Callers pass the size back when freeing (the tables know their sizes), so
 * no header is added to each block. The counters are updated atomically;
 * the functions may be called from any thread, with or without the GIL.
 */
#ifndef LT_RAWALLOC_H
#define LT_RAWALLOC_H

#include <stddef.h>

void *lt_raw_malloc(size_t size);
void *lt_raw_calloc(size_t nelem, size_t elsize);
/* Frees a block obtained from lt_raw_malloc/calloc of the given size. */
void lt_raw_free(void *ptr, size_t size);

size_t lt_raw_current_bytes(void);
size_t lt_raw_peak_bytes(void);
/* Restarts the peak at the current value (at the start of a session). */
void lt_raw_reset_peak(void);

/* For tests: allocations that would take the current total past `bytes` fail,
 * as they would when the machine runs out of memory. 0 removes the limit. */
void lt_raw_set_limit(size_t bytes);

#endif /* LT_RAWALLOC_H */
