/* lt_stream.c - see lt_stream.h. */
#include "capture/lt_stream.h"

#include <errno.h>
#include <fcntl.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

#include "base/lt_error.h"

#define fail(s, ...) lt_error_set((s)->error, sizeof((s)->error), __VA_ARGS__)

/* Makes at least `need` unconsumed bytes available, or as many as the file
 * still has. Returns 0 or -1 (error set). */
static int
fill(lt_stream *s, size_t need)
{
    if (s->end - s->start >= need) {
        return 0;
    }
    if (s->cap - s->start < need) {
        memmove(s->buf, s->buf + s->start, s->end - s->start);
        s->buf_offset += s->start;
        s->end -= s->start;
        s->start = 0;
    }
    if (s->cap < need) {
        size_t cap = s->cap;
        while (cap < need) {
            cap *= 2;
        }
        uint8_t *bigger = realloc(s->buf, cap);
        if (!bigger) {
            return fail(s, "out of memory while reading the capture");
        }
        s->buf = bigger;
        s->cap = cap;
    }
    while (s->end - s->start < need && s->read_size < s->file_size) {
        uint64_t left = s->file_size - s->read_size;
        size_t room = s->cap - s->end;
        ssize_t n = read(s->fd, s->buf + s->end, left < room ? (size_t)left : room);
        if (n < 0 && errno == EINTR) {
            continue;
        }
        if (n < 0) {
            return fail(s, "cannot read the capture: %s", strerror(errno));
        }
        if (n == 0) {
            s->file_size = s->read_size; /* it shrank meanwhile */
            break;
        }
        s->end += (size_t)n;
        s->read_size += (uint64_t)n;
    }
    return 0;
}

int
lt_stream_open(lt_stream *s, const char *path)
{
    memset(s, 0, sizeof(*s));
    s->fd = -1;
    /* Non-blocking, so that a FIFO fails the regular-file check instead of
     * waiting for a writer. */
    int fd = open(path, O_RDONLY | O_CLOEXEC | O_NONBLOCK);
    if (fd < 0) {
        return fail(s, "cannot open %s: %s", path, strerror(errno));
    }
    struct stat st;
    if (fstat(fd, &st) < 0) {
        fail(s, "cannot read %s: %s", path, strerror(errno));
        goto error;
    }
    if (!S_ISREG(st.st_mode)) {
        fail(s, "cannot read %s: not a regular file", path);
        goto error;
    }
    if (st.st_size == 0) {
        fail(s, "not a leaktrace capture: %s is empty", path);
        goto error;
    }
    s->fd = fd;
    s->file_size = (uint64_t)st.st_size;
    s->cap = LT_STREAM_CHUNK;
    s->buf = malloc(s->cap);
    if (!s->buf) {
        fail(s, "out of memory while reading the capture");
        goto error;
    }
    if (fill(s, LT_HEADER_SIZE) < 0) {
        goto error;
    }
    const uint8_t *h = s->buf;
    size_t got = s->end;
    if (got < LT_MAGIC_SIZE || memcmp(h, LT_MAGIC, LT_MAGIC_SIZE) != 0) {
        fail(s, "not a leaktrace capture (bad magic number)");
        goto error;
    }
    if (got < LT_HEADER_SIZE) {
        fail(s, "truncated capture: the file ends inside its header");
        goto error;
    }
    s->major = (unsigned)h[8] | (unsigned)h[9] << 8;
    s->minor = (unsigned)h[10] | (unsigned)h[11] << 8;
    if (s->major > LT_FORMAT_MAJOR) {
        fail(s,
             "capture format version %u is newer than this leaktrace reads (%u); upgrade "
             "leaktrace",
             s->major, LT_FORMAT_MAJOR);
        goto error;
    }
    if (s->major < LT_FORMAT_MAJOR_OLDEST) {
        fail(s, "corrupt capture: invalid format version %u", s->major);
        goto error;
    }
    s->start = LT_HEADER_SIZE;
    return 0;
error:
    close(fd);
    free(s->buf);
    s->buf = NULL;
    s->fd = -1;
    return -1;
}

int
lt_stream_next(lt_stream *s, lt_srecord *rec)
{
    rec->offset = lt_stream_position(s);
    if (fill(s, 1 + LT_VARINT_MAX_BYTES) < 0) {
        return -1;
    }
    if (s->start == s->end) {
        return 0;
    }
    const uint8_t *pos = s->buf + s->start + 1;
    const uint8_t *end = s->buf + s->end;
    uint64_t len;
    if (lt_varint_decode(&pos, end, &len) < 0) {
        if (end - (s->buf + s->start + 1) < LT_VARINT_MAX_BYTES) {
            return 0; /* cut inside the record header */
        }
        return fail(s, "corrupt capture: bad record length at byte %llu",
                    (unsigned long long)rec->offset);
    }
    size_t header = (size_t)(pos - (s->buf + s->start));
    if (len > s->file_size - rec->offset - header) {
        return 0; /* cut inside the record */
    }
    if (fill(s, header + (size_t)len) < 0) {
        return -1;
    }
    if (s->end - s->start < header + len) {
        return 0; /* the file shrank while it was read */
    }
    rec->type = s->buf[s->start];
    rec->payload = s->buf + s->start + header;
    rec->len = (size_t)len;
    s->start += header + (size_t)len;
    return 1;
}

void
lt_stream_limit(lt_stream *s, uint64_t size)
{
    if (size >= s->file_size) {
        return;
    }
    s->file_size = size;
    if (s->read_size > size) {
        uint64_t end = size > s->buf_offset ? size - s->buf_offset : 0;
        s->end = end < s->end ? (size_t)end : s->end;
        s->start = s->start < s->end ? s->start : s->end;
        s->read_size = size;
    }
}

uint64_t
lt_stream_position(const lt_stream *s)
{
    return s->buf_offset + s->start;
}

void
lt_stream_close(lt_stream *s)
{
    if (s->fd >= 0) {
        close(s->fd);
    }
    free(s->buf);
    memset(s, 0, sizeof(*s));
    s->fd = -1;
}
