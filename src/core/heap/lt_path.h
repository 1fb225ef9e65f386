/* lt_path.h - retention paths as bytes (the `path` of lt_format.h's record
 * 0x40): a growable byte buffer to encode them, and a validating decoder
 * shared by the capture reader and the Python module.
 *
 * Pure C, no Python. The buffer's memory comes from lt_rawalloc. After the
 * first allocation failure a buffer keeps `failed` set and ignores further
 * output, so an encoder checks once at the end. Not thread-safe.
 */
#ifndef LT_PATH_H
#define LT_PATH_H

#include <stddef.h>
#include <stdint.h>

#include "capture/lt_format.h"

typedef struct {
    uint8_t *data;
    size_t len, cap;
    int failed;
} lt_bytes;

void lt_bytes_varint(lt_bytes *b, uint64_t v);
/* Appends a string, cut to LT_MAX_PATH_TEXT bytes (at a UTF-8 boundary). */
void lt_bytes_str(lt_bytes *b, const char *s, size_t len);
void lt_bytes_append(lt_bytes *b, const void *data, size_t len);
void lt_bytes_free(lt_bytes *b);

typedef struct {
    uint32_t kind; /* lt_edge_kind */
    const char *text;
    size_t len;
} lt_path_edge;

typedef struct {
    uint32_t root_kind; /* lt_root_kind */
    const char *root, *target;
    size_t root_len, target_len;
    uint64_t object_bytes, retained_bytes;
    uint32_t nedges;
    lt_path_edge edges[LT_MAX_PATH_EDGES];
} lt_path;

/* Decodes a path from [*pos, end), checking every length and kind; the texts
 * point into the input. Returns 0 and advances *pos, or -1. */
int lt_path_decode(const uint8_t **pos, const uint8_t *end, lt_path *out);

#endif /* LT_PATH_H */
