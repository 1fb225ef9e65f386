/* lt_writer.c - see lt_writer.h. */
#include "capture/lt_writer.h"

#include <errno.h>
#include <fcntl.h>
#include <stdint.h>
#include <string.h>
#include <unistd.h>

#include "base/lt_rawalloc.h"

static int
reserve(lt_writer *w, size_t extra)
{
    if (w->len + extra <= w->cap) {
        return 0;
    }
    size_t cap = w->cap ? w->cap : 16 * 1024;
    while (cap < w->len + extra) {
        cap *= 2;
    }
    uint8_t *buf = lt_raw_malloc(cap);
    if (!buf) {
        return -1;
    }
    if (w->len) {
        memcpy(buf, w->buf, w->len);
    }
    lt_raw_free(w->buf, w->cap);
    w->buf = buf;
    w->cap = cap;
    return 0;
}

static int
put_varint(lt_writer *w, uint64_t v)
{
    if (reserve(w, LT_VARINT_MAX_BYTES) < 0) {
        return -1;
    }
    w->len += lt_varint_encode(v, w->buf + w->len);
    return 0;
}

static int
put_bytes(lt_writer *w, const void *data, size_t len)
{
    if (reserve(w, len) < 0) {
        return -1;
    }
    if (len) {
        memcpy(w->buf + w->len, data, len);
    }
    w->len += len;
    return 0;
}

static int
put_str(lt_writer *w, const char *s, size_t len)
{
    return put_varint(w, len) < 0 || put_bytes(w, s, len) < 0 ? -1 : 0;
}

/* A record is its type, its payload length, then the payload. The payload is
 * encoded after a gap as wide as the longest length varint; end_record()
 * writes the length and closes the gap. */
static int
begin_record(lt_writer *w, lt_record_type type, size_t *start)
{
    if (reserve(w, 1 + LT_VARINT_MAX_BYTES) < 0) {
        return -1;
    }
    w->buf[w->len++] = (uint8_t)type;
    *start = w->len;
    w->len += LT_VARINT_MAX_BYTES;
    return 0;
}

static void
end_record(lt_writer *w, size_t start)
{
    size_t payload_start = start + LT_VARINT_MAX_BYTES;
    size_t payload_len = w->len - payload_start;
    uint8_t len_bytes[LT_VARINT_MAX_BYTES];
    size_t n = lt_varint_encode(payload_len, len_bytes);
    memcpy(w->buf + start, len_bytes, n);
    memmove(w->buf + start + n, w->buf + payload_start, payload_len);
    w->len = start + n + payload_len;
}

static void
abort_record(lt_writer *w, size_t start)
{
    w->len = start - 1;
}

int
lt_writer_open(lt_writer *w, const char *path)
{
    memset(w, 0, sizeof(*w));
    w->fd = open(path, O_WRONLY | O_CREAT | O_TRUNC | O_CLOEXEC, 0644);
    if (w->fd < 0) {
        return -1;
    }
    w->owner = getpid();
    w->nodes_done = 1; /* the root node is implicit */
    uint8_t header[LT_HEADER_SIZE] = {0};
    memcpy(header, LT_MAGIC, LT_MAGIC_SIZE);
    header[8] = LT_FORMAT_MAJOR & 0xff;
    header[9] = LT_FORMAT_MAJOR >> 8;
    header[10] = LT_FORMAT_MINOR & 0xff;
    header[11] = LT_FORMAT_MINOR >> 8;
    if (put_bytes(w, header, sizeof(header)) < 0) {
        int saved = ENOMEM;
        close(w->fd);
        w->fd = -1;
        errno = saved;
        return -1;
    }
    return 0;
}

int
lt_writer_meta(lt_writer *w, const char *key, size_t key_len, const char *value, size_t value_len)
{
    size_t start;
    if (begin_record(w, LT_REC_META, &start) < 0) {
        return -1;
    }
    if (put_str(w, key, key_len) < 0 || put_str(w, value, value_len) < 0) {
        abort_record(w, start);
        return -1;
    }
    end_record(w, start);
    return 0;
}

static int
encode_definitions(lt_writer *w, const lt_intern *in)
{
    size_t start;
    for (; w->strings_done < in->nstrings; w->strings_done++) {
        const lt_string *s = &in->strings[w->strings_done];
        if (begin_record(w, LT_REC_STRING, &start) < 0) {
            return -1;
        }
        if (put_bytes(w, s->ptr, s->len) < 0) {
            abort_record(w, start);
            return -1;
        }
        end_record(w, start);
    }
    for (; w->frames_done < in->nframes; w->frames_done++) {
        const lt_frame *f = &in->frames[w->frames_done];
        if (begin_record(w, LT_REC_FRAME, &start) < 0) {
            return -1;
        }
        if (put_varint(w, f->function) < 0 || put_varint(w, f->file) < 0 ||
            put_varint(w, lt_zigzag_encode(f->line)) < 0) {
            abort_record(w, start);
            return -1;
        }
        end_record(w, start);
    }
    for (; w->nodes_done < in->nnodes; w->nodes_done++) {
        const lt_node *n = &in->nodes[w->nodes_done];
        if (begin_record(w, LT_REC_NODE, &start) < 0) {
            return -1;
        }
        if (put_varint(w, n->parent) < 0 || put_varint(w, n->frame) < 0) {
            abort_record(w, start);
            return -1;
        }
        end_record(w, start);
    }
    return 0;
}

static int
counters_changed(const lt_node *n, const lt_written_counters *last)
{
    return n->live_bytes != last->live_bytes || n->live_count != last->live_count ||
           n->alloc_bytes != last->alloc_bytes || n->alloc_count != last->alloc_count;
}

/* Makes room in `written` for every node; new entries are zero. */
static int
reserve_written(lt_writer *w, uint32_t nnodes)
{
    if (nnodes <= w->written_cap) {
        return 0;
    }
    uint32_t cap = w->written_cap ? w->written_cap : 1024;
    while (cap < nnodes) {
        cap = cap > UINT32_MAX / 2 ? UINT32_MAX : cap * 2;
    }
    lt_written_counters *bigger = lt_raw_calloc(cap, sizeof(*bigger));
    if (!bigger) {
        return -1;
    }
    if (w->written_cap) {
        memcpy(bigger, w->written, w->written_cap * sizeof(*bigger));
    }
    lt_raw_free(w->written, w->written_cap * sizeof(*w->written));
    w->written = bigger;
    w->written_cap = cap;
    return 0;
}

int
lt_writer_snapshot(lt_writer *w, const lt_intern *in, const lt_snapshot_info *info)
{
    if (encode_definitions(w, in) < 0 || reserve_written(w, in->nnodes) < 0) {
        return -1;
    }
    uint64_t nsites = 0;
    for (uint32_t i = 0; i < in->nnodes; i++) {
        nsites += counters_changed(&in->nodes[i], &w->written[i]);
    }
    size_t start;
    if (begin_record(w, LT_REC_SNAPSHOT, &start) < 0) {
        return -1;
    }
    uint64_t label = info->label == LT_NO_ID ? 0 : (uint64_t)info->label + 1;
    if (put_varint(w, w->snapshots) < 0 || put_varint(w, info->kind) < 0 ||
        put_varint(w, info->time_ns) < 0 || put_varint(w, label) < 0 ||
        put_varint(w, info->heap_bytes) < 0 || put_varint(w, info->heap_count) < 0 ||
        put_varint(w, nsites) < 0) {
        goto error;
    }
    uint32_t previous = 0;
    for (uint32_t i = 0; i < in->nnodes; i++) {
        const lt_node *n = &in->nodes[i];
        lt_written_counters *last = &w->written[i];
        if (!counters_changed(n, last)) {
            continue;
        }
        if (put_varint(w, i - previous) < 0 || put_varint(w, n->live_count) < 0 ||
            put_varint(w, n->live_bytes) < 0 || put_varint(w, n->alloc_count) < 0 ||
            put_varint(w, n->alloc_bytes) < 0) {
            goto error;
        }
        *last = (lt_written_counters){n->live_bytes, n->live_count, n->alloc_bytes,
                                      n->alloc_count};
        previous = i;
    }
    end_record(w, start);
    w->snapshots++;
    return 0;
error:
    abort_record(w, start);
    /* Some counters were marked written but the record is gone: the next
     * snapshot lists every node that has allocated, which a reader takes as
     * it takes any delta. */
    memset(w->written, 0, w->written_cap * sizeof(*w->written));
    return -1;
}

int
lt_writer_snapshot_extra(lt_writer *w, uint64_t rss_bytes)
{
    size_t start;
    if (w->snapshots == 0 || begin_record(w, LT_REC_SNAPSHOT_EXTRA, &start) < 0) {
        return -1;
    }
    if (put_varint(w, w->snapshots - 1) < 0 || put_varint(w, rss_bytes) < 0) {
        abort_record(w, start);
        return -1;
    }
    end_record(w, start);
    return 0;
}

int
lt_writer_stats(lt_writer *w, const uint64_t *fields, size_t nfields)
{
    size_t start;
    if (begin_record(w, LT_REC_STATS, &start) < 0) {
        return -1;
    }
    if (put_varint(w, nfields) < 0) {
        abort_record(w, start);
        return -1;
    }
    for (size_t i = 0; i < nfields; i++) {
        if (put_varint(w, fields[i]) < 0) {
            abort_record(w, start);
            return -1;
        }
    }
    end_record(w, start);
    return 0;
}

int
lt_writer_flush(lt_writer *w)
{
    if (w->fd < 0 || w->owner != getpid()) {
        w->len = 0;
        return w->error ? -1 : 0;
    }
    size_t done = 0;
    while (done < w->len && !w->error) {
        ssize_t n = write(w->fd, w->buf + done, w->len - done);
        if (n < 0) {
            if (errno == EINTR) {
                continue;
            }
            w->error = errno;
        }
        else {
            done += (size_t)n;
        }
    }
    w->bytes_written += done;
    w->len = 0;
    return w->error ? -1 : 0;
}

static void
release(lt_writer *w)
{
    if (w->fd >= 0 && w->owner == getpid()) {
        if (close(w->fd) < 0 && !w->error) {
            w->error = errno;
        }
    }
    w->fd = -1;
    lt_raw_free(w->buf, w->cap);
    w->buf = NULL;
    w->len = w->cap = 0;
    lt_raw_free(w->written, w->written_cap * sizeof(*w->written));
    w->written = NULL;
    w->written_cap = 0;
}

int
lt_writer_close(lt_writer *w)
{
    size_t start;
    if (begin_record(w, LT_REC_END, &start) == 0) {
        if (put_varint(w, w->strings_done) < 0 || put_varint(w, w->frames_done) < 0 ||
            put_varint(w, w->nodes_done) < 0 || put_varint(w, w->snapshots) < 0) {
            abort_record(w, start);
            if (!w->error) {
                w->error = ENOMEM;
            }
        }
        else {
            end_record(w, start);
        }
    }
    else if (!w->error) {
        w->error = ENOMEM;
    }
    lt_writer_flush(w);
    release(w);
    return w->error ? -1 : 0;
}

void
lt_writer_abandon(lt_writer *w)
{
    release(w);
}

int
lt_writer_native_map(lt_writer *w, uint64_t base, uint64_t start, uint64_t end, const char *path,
                     size_t path_len, const uint8_t *build_id, size_t build_id_len)
{
    size_t record;
    if (begin_record(w, LT_REC_NATIVE_MAP, &record) < 0) {
        return -1;
    }
    if (put_varint(w, base) < 0 || put_varint(w, start) < 0 || put_varint(w, end) < 0 ||
        put_str(w, path, path_len) < 0 || put_str(w, (const char *)build_id, build_id_len) < 0) {
        abort_record(w, record);
        return -1;
    }
    end_record(w, record);
    return 0;
}

int
lt_writer_record(lt_writer *w, uint8_t type, const uint8_t *payload, size_t len)
{
    if (type < LT_REC_FIRST_OPTIONAL) {
        return -1;
    }
    size_t start;
    if (begin_record(w, (lt_record_type)type, &start) < 0) {
        return -1;
    }
    if (put_bytes(w, payload, len) < 0) {
        abort_record(w, start);
        return -1;
    }
    end_record(w, start);
    return 0;
}

static int
process_record(lt_writer *w, lt_process_fact kind, const uint64_t *fields, size_t nfields,
               const char *text, size_t text_len)
{
    size_t start;
    if (begin_record(w, LT_REC_PROCESS, &start) < 0) {
        return -1;
    }
    if (put_varint(w, kind) < 0) {
        goto error;
    }
    for (size_t i = 0; i < nfields; i++) {
        if (put_varint(w, fields[i]) < 0) {
            goto error;
        }
    }
    if (text && put_str(w, text, text_len) < 0) {
        goto error;
    }
    end_record(w, start);
    return 0;
error:
    abort_record(w, start);
    return -1;
}

int
lt_writer_sampling(lt_writer *w, uint64_t rate, uint64_t count_scale, uint64_t seed)
{
    uint64_t fields[3] = {rate, count_scale, seed};
    return process_record(w, LT_PROC_SAMPLING, fields, 3, NULL, 0);
}

int
lt_writer_parent(lt_writer *w, lt_parent_link how, uint64_t pid, const char *capture,
                 size_t capture_len)
{
    uint64_t fields[2] = {how, pid};
    return process_record(w, LT_PROC_PARENT, fields, 2, capture, capture_len);
}

int
lt_writer_attached(lt_writer *w)
{
    return process_record(w, LT_PROC_ATTACHED, NULL, 0, NULL, 0);
}

int
lt_writer_reopen(lt_writer *w, const char *path)
{
    if (w->fd >= 0) {
        close(w->fd);
    }
    w->fd = -1;
    lt_raw_free(w->buf, w->cap);
    w->buf = NULL;
    lt_raw_free(w->written, w->written_cap * sizeof(*w->written));
    w->written = NULL;
    return lt_writer_open(w, path);
}
