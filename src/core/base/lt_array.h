/* lt_array.h - growing a heap array by doubling, for the reading side.
 *
 * The capture decoder, reader and analyser keep what they decode in arrays
 * that grow as records come. Their memory comes from libc's realloc: they
 * run in the reporting process (or in a tracked one with the GIL released,
 * outside any session's hooks), never on the hot path, so lt_rawalloc's
 * accounting does not apply. Not thread-safe: one array, one caller.
 */
#ifndef LT_ARRAY_H
#define LT_ARRAY_H

#include <stddef.h>
#include <stdint.h>
#include <stdlib.h>

/* Makes room for `need` elements of elsize bytes in *array, whose capacity
 * is *cap elements, doubling from 64. Returns 0, or -1 when memory is short
 * or the size would overflow; *array and *cap are then unchanged. */
static inline int
lt_array_reserve(void **array, size_t *cap, size_t need, size_t elsize)
{
    if (need <= *cap) {
        return 0;
    }
    if (elsize && need > SIZE_MAX / elsize) {
        return -1;
    }
    size_t new_cap = *cap ? *cap : 64;
    while (new_cap < need) {
        new_cap = new_cap > SIZE_MAX / 2 ? need : new_cap * 2;
    }
    if (elsize && new_cap > SIZE_MAX / elsize) {
        new_cap = need;
    }
    void *bigger = realloc(*array, new_cap * elsize);
    if (!bigger) {
        return -1;
    }
    *array = bigger;
    *cap = new_cap;
    return 0;
}

#endif /* LT_ARRAY_H */
