/* lt_buf.h - a growing byte buffer for the reports written in C.
 *
 * The JSON, pprof and folded-stack writers (module/lt_pyjson,
 * module/lt_pyprofile) append text and varints to one buffer and hand it
 * to Python once. Memory comes from libc's realloc, as for lt_array: these
 * run in the reporting process, never on the hot path. A failed growth
 * sets `failed`, after which appends do nothing: a writer checks it once,
 * at the end, instead of after every append. Not thread-safe: one buffer,
 * one caller.
 */
#ifndef LT_BUF_H
#define LT_BUF_H

#include <stddef.h>
#include <stdint.h>
#include <stdlib.h>
#include <string.h>

typedef struct {
    char *data;
    size_t len, cap;
    int failed; /* memory ran out: the content is incomplete */
} lt_buf;

/* Makes room for `more` bytes past len. Returns 0, or -1 (and sets failed). */
static inline int
lt_buf_reserve(lt_buf *b, size_t more)
{
    if (b->failed) {
        return -1;
    }
    if (more <= b->cap - b->len) {
        return 0;
    }
    if (more > SIZE_MAX / 2 - b->len) {
        b->failed = 1;
        return -1;
    }
    size_t cap = b->cap ? b->cap : 4096;
    while (cap - b->len < more) {
        cap *= 2;
    }
    char *bigger = realloc(b->data, cap);
    if (!bigger) {
        b->failed = 1;
        return -1;
    }
    b->data = bigger;
    b->cap = cap;
    return 0;
}

static inline void
lt_buf_append(lt_buf *b, const void *bytes, size_t n)
{
    if (n && lt_buf_reserve(b, n) == 0) {
        memcpy(b->data + b->len, bytes, n);
        b->len += n;
    }
}

/* Appends a NUL-terminated string (without the NUL). */
static inline void
lt_buf_puts(lt_buf *b, const char *s)
{
    lt_buf_append(b, s, strlen(s));
}

static inline void
lt_buf_byte(lt_buf *b, char c)
{
    if (lt_buf_reserve(b, 1) == 0) {
        b->data[b->len++] = c;
    }
}

/* A newline then `n` spaces (an indented line of JSON). */
static inline void
lt_buf_newline(lt_buf *b, size_t n)
{
    if (lt_buf_reserve(b, n + 1) == 0) {
        b->data[b->len] = '\n';
        memset(b->data + b->len + 1, ' ', n);
        b->len += n + 1;
    }
}

#define LT_BUF_U64_MAX 20 /* decimal digits of UINT64_MAX */

/* Writes the decimal digits of v at p, which has room for LT_BUF_U64_MAX,
 * two at a time from the end; returns the end. For writers that reserve a
 * run of numbers at once (most of a JSON report is the digits of series). */
static inline char *
lt_buf_put_u64(char *p, uint64_t v)
{
    static const char pairs[201] = "00010203040506070809101112131415161718192021222324"
                                   "25262728293031323334353637383940414243444546474849"
                                   "50515253545556575859606162636465666768697071727374"
                                   "75767778798081828384858687888990919293949596979899";
    size_t n = 1;
    for (uint64_t x = v; x >= 10; x /= 10) {
        n++;
    }
    char *end = p + n;
    while (v >= 100) {
        unsigned two = (unsigned)(v % 100);
        v /= 100;
        end -= 2;
        memcpy(end, pairs + 2 * two, 2);
    }
    if (v >= 10) {
        memcpy(p, pairs + 2 * v, 2);
    }
    else {
        *p = (char)('0' + v);
    }
    return p + n;
}

/* The decimal digits of v. */
static inline void
lt_buf_u64(lt_buf *b, uint64_t v)
{
    if (lt_buf_reserve(b, LT_BUF_U64_MAX) == 0) {
        b->len = (size_t)(lt_buf_put_u64(b->data + b->len, v) - b->data);
    }
}

/* The decimal digits of v, with a minus sign when negative. */
static inline void
lt_buf_i64(lt_buf *b, int64_t v)
{
    if (v < 0) {
        lt_buf_byte(b, '-');
        lt_buf_u64(b, (uint64_t)0 - (uint64_t)v);
    }
    else {
        lt_buf_u64(b, (uint64_t)v);
    }
}

/* Unsigned LEB128 (protocol buffers' varint). */
static inline void
lt_buf_varint(lt_buf *b, uint64_t v)
{
    char bytes[10];
    size_t n = 0;
    while (v >= 0x80) {
        bytes[n++] = (char)((v & 0x7F) | 0x80);
        v >>= 7;
    }
    bytes[n++] = (char)v;
    lt_buf_append(b, bytes, n);
}

/* How many bytes lt_buf_varint writes for v. */
static inline size_t
lt_buf_varint_size(uint64_t v)
{
    size_t n = 1;
    while (v >= 0x80) {
        v >>= 7;
        n++;
    }
    return n;
}

static inline void
lt_buf_free(lt_buf *b)
{
    free(b->data);
    *b = (lt_buf){0};
}

#endif /* LT_BUF_H */
