/* lt_path.c - see lt_path.h. */
#include "heap/lt_path.h"

#include <string.h>

#include "base/lt_rawalloc.h"

static int
reserve(lt_bytes *b, size_t extra)
{
    if (b->failed) {
        return -1;
    }
    if (b->len + extra <= b->cap) {
        return 0;
    }
    size_t cap = b->cap ? b->cap : 256;
    while (cap < b->len + extra) {
        cap *= 2;
    }
    uint8_t *data = lt_raw_malloc(cap);
    if (!data) {
        b->failed = 1;
        return -1;
    }
    if (b->len) {
        memcpy(data, b->data, b->len);
    }
    lt_raw_free(b->data, b->cap);
    b->data = data;
    b->cap = cap;
    return 0;
}

void
lt_bytes_append(lt_bytes *b, const void *data, size_t len)
{
    if (reserve(b, len) == 0 && len) {
        memcpy(b->data + b->len, data, len);
        b->len += len;
    }
}

void
lt_bytes_varint(lt_bytes *b, uint64_t v)
{
    if (reserve(b, LT_VARINT_MAX_BYTES) == 0) {
        b->len += lt_varint_encode(v, b->data + b->len);
    }
}

void
lt_bytes_str(lt_bytes *b, const char *s, size_t len)
{
    if (len > LT_MAX_PATH_TEXT) {
        len = LT_MAX_PATH_TEXT;
        /* Do not split a UTF-8 sequence: back up over continuation bytes. */
        while (len > 0 && ((unsigned char)s[len] & 0xC0) == 0x80) {
            len--;
        }
    }
    lt_bytes_varint(b, len);
    lt_bytes_append(b, s, len);
}

void
lt_bytes_free(lt_bytes *b)
{
    lt_raw_free(b->data, b->cap);
    memset(b, 0, sizeof(*b));
}

static int
read_text(const uint8_t **pos, const uint8_t *end, const char **text, size_t *len)
{
    uint64_t n;
    if (lt_varint_decode(pos, end, &n) < 0 || n > LT_MAX_PATH_TEXT || n > (uint64_t)(end - *pos)) {
        return -1;
    }
    *text = (const char *)*pos;
    *len = (size_t)n;
    *pos += n;
    return 0;
}

int
lt_path_decode(const uint8_t **pos, const uint8_t *end, lt_path *out)
{
    const uint8_t *p = *pos;
    uint64_t root_kind, nedges;
    if (lt_varint_decode(&p, end, &root_kind) < 0 || root_kind >= LT_ROOT_KIND_COUNT ||
        read_text(&p, end, &out->root, &out->root_len) < 0 ||
        read_text(&p, end, &out->target, &out->target_len) < 0 ||
        lt_varint_decode(&p, end, &out->object_bytes) < 0 ||
        lt_varint_decode(&p, end, &out->retained_bytes) < 0 ||
        lt_varint_decode(&p, end, &nedges) < 0 || nedges > LT_MAX_PATH_EDGES) {
        return -1;
    }
    out->root_kind = (uint32_t)root_kind;
    out->nedges = (uint32_t)nedges;
    for (uint32_t i = 0; i < out->nedges; i++) {
        uint64_t kind;
        if (lt_varint_decode(&p, end, &kind) < 0 || kind >= LT_EDGE_KIND_COUNT ||
            read_text(&p, end, &out->edges[i].text, &out->edges[i].len) < 0) {
            return -1;
        }
        out->edges[i].kind = (uint32_t)kind;
    }
    *pos = p;
    return 0;
}
