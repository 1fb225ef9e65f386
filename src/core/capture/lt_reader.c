/* lt_reader.c - see lt_reader.h. */
#include "capture/lt_reader.h"

#include <errno.h>
#include <fcntl.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

#include "base/lt_array.h"
#include "base/lt_error.h"

#define fail(cap, ...) lt_error_set((cap)->error, sizeof((cap)->error), __VA_ARGS__)

#define NO_MEMORY(cap) fail(cap, "out of memory while reading the capture")
#define APPEND(cap, field, value)                                                                 \
    (lt_array_reserve((void **)&(cap)->field, &(cap)->field##_cap, (cap)->n##field + 1,           \
                      sizeof(*(cap)->field)) < 0                                                  \
         ? NO_MEMORY(cap)                                                                         \
         : ((cap)->field[(cap)->n##field++] = (value), 0))

static void
store_process(lt_capture *cap, const lt_drecord *rec)
{
    switch (rec->u.process.kind) {
    case LT_PROC_SAMPLING:
        cap->sample_rate = rec->u.process.rate;
        cap->sample_count_scale = rec->u.process.count_scale;
        cap->sample_seed = rec->u.process.seed;
        break;
    case LT_PROC_PARENT:
        cap->has_parent = 1;
        cap->parent_link = rec->u.process.link;
        cap->parent_pid = rec->u.process.pid;
        cap->parent_capture = rec->u.process.capture;
        break;
    case LT_PROC_ATTACHED: cap->attached = 1; break;
    }
}

/* Every snapshot is kept whole, as the list of the nodes it holds: the
 * previous snapshot's list with the changes merged in. A version 2 capture
 * holds only the changes, so a small file could ask for snapshots x nodes
 * entries: beyond this many per byte of file (and a floor), the capture is
 * refused as too large to read whole, which the streaming analyser reads. */
#define EXPANDED_SITES_PER_BYTE 8
#define EXPANDED_SITES_FLOOR (1u << 20)

static int
store_snapshot(lt_capture *cap, const lt_decoder *d, const lt_dsnapshot *snap)
{
    size_t budget = cap->file_size * EXPANDED_SITES_PER_BYTE;
    if (budget < EXPANDED_SITES_FLOOR) {
        budget = EXPANDED_SITES_FLOOR;
    }
    if (snap->nlisted > budget - cap->expanded_sites) {
        return fail(cap, "capture too large to read whole: snapshot %llu holds %zu sites",
                    (unsigned long long)snap->seq, snap->nlisted);
    }
    lt_rsnapshot s = {snap->seq,
                      snap->kind,
                      snap->label,
                      snap->time_ns,
                      snap->heap_bytes,
                      snap->heap_count,
                      NULL,
                      snap->nlisted,
                      0,
                      0};
    if (s.nsites && !(s.sites = malloc(s.nsites * sizeof(lt_rsite)))) {
        return NO_MEMORY(cap);
    }
    const lt_rsite *old = cap->nsnapshots ? cap->snapshots[cap->nsnapshots - 1].sites : NULL;
    size_t nold = cap->nsnapshots ? cap->snapshots[cap->nsnapshots - 1].nsites : 0;
    size_t i = 0, k = 0, n = 0;
    while (i < nold || k < snap->nchanged) {
        if (k == snap->nchanged || (i < nold && old[i].node < snap->changed[k].node)) {
            s.sites[n++] = old[i++];
            continue;
        }
        uint32_t node = snap->changed[k].node;
        i += i < nold && old[i].node == node;
        if (d->listed[node]) {
            s.sites[n++] = snap->changed[k];
        }
        k++;
    }
    cap->expanded_sites += n;
    if (APPEND(cap, snapshots, s) < 0) {
        free(s.sites);
        return -1;
    }
    return 0;
}

/* Keeps a decoded record; the decoder validated it. */
static int
store(lt_capture *cap, const lt_decoder *d, const lt_drecord *rec)
{
    if (rec->skipped) {
        return 0;
    }
    switch (rec->type) {
    case LT_REC_META: {
        lt_rmeta m = {rec->u.meta.key, rec->u.meta.value};
        return APPEND(cap, meta, m);
    }
    case LT_REC_STRING: return APPEND(cap, strings, rec->u.string);
    case LT_REC_FRAME: return APPEND(cap, frames, rec->u.frame);
    case LT_REC_NODE: return APPEND(cap, nodes, rec->u.node);
    case LT_REC_SNAPSHOT: return store_snapshot(cap, d, &rec->u.snapshot);
    case LT_REC_SNAPSHOT_EXTRA: {
        lt_rsnapshot *s = &cap->snapshots[rec->u.extra.seq];
        s->has_rss = 1;
        s->rss_bytes = rec->u.extra.rss_bytes;
        return 0;
    }
    case LT_REC_STATS:
        memcpy(cap->stats, rec->u.stats.fields, sizeof(cap->stats));
        cap->has_stats = 1;
        return 0;
    case LT_REC_END: cap->complete = 1; return 0;
    case LT_REC_NATIVE_MAP: return APPEND(cap, native_maps, rec->u.native_map);
    case LT_REC_RETENTION: return APPEND(cap, retention, rec->u.retention);
    case LT_REC_PROCESS: store_process(cap, rec); return 0;
    default: return 0;
    }
}

static int
parse_records(lt_capture *cap, lt_decoder *d, const uint8_t *data, size_t size)
{
    const uint8_t *pos = data + LT_HEADER_SIZE, *end = data + size;
    while (pos < end) {
        size_t offset = (size_t)(pos - data);
        if (d->complete) {
            return fail(cap, "corrupt capture: data after the closing record at byte %zu", offset);
        }
        unsigned type = *pos++;
        uint64_t len;
        const uint8_t *len_start = pos;
        if (lt_varint_decode(&pos, end, &len) < 0) {
            if (end - len_start < LT_VARINT_MAX_BYTES) {
                break; /* cut inside the record header */
            }
            return fail(cap, "corrupt capture: bad record length at byte %zu", offset);
        }
        if (len > (uint64_t)(end - pos)) {
            break; /* cut inside the record */
        }
        lt_drecord rec;
        if (lt_decode_record(d, type, pos, (size_t)len, offset, &rec) < 0) {
            memcpy(cap->error, d->error, sizeof(cap->error));
            return -1;
        }
        if (store(cap, d, &rec) < 0) {
            return -1;
        }
        pos += len;
        cap->valid_size = (size_t)(pos - data);
    }
    return 0;
}

int
lt_reader_parse(lt_capture *cap, const uint8_t *data, size_t size)
{
    memset(cap, 0, sizeof(*cap));
    cap->data = data;
    cap->file_size = size;
    if (size < LT_HEADER_SIZE || memcmp(data, LT_MAGIC, LT_MAGIC_SIZE) != 0) {
        if (size >= LT_MAGIC_SIZE && memcmp(data, LT_MAGIC, LT_MAGIC_SIZE) == 0) {
            return fail(cap, "truncated capture: the file ends inside its header");
        }
        return fail(cap, "not a leaktrace capture (bad magic number)");
    }
    cap->major = (unsigned)data[8] | (unsigned)data[9] << 8;
    cap->minor = (unsigned)data[10] | (unsigned)data[11] << 8;
    if (cap->major > LT_FORMAT_MAJOR) {
        return fail(cap,
                    "capture format version %u is newer than this leaktrace reads (%u); "
                    "upgrade leaktrace",
                    cap->major, LT_FORMAT_MAJOR);
    }
    if (cap->major < LT_FORMAT_MAJOR_OLDEST) {
        return fail(cap, "corrupt capture: invalid format version %u", cap->major);
    }
    /* The root node is implicit. */
    if (lt_array_reserve((void **)&cap->nodes, &cap->nodes_cap, 1, sizeof(lt_rnode)) < 0) {
        return NO_MEMORY(cap);
    }
    cap->nodes[0].parent = 0;
    cap->nodes[0].frame = UINT32_MAX;
    cap->nodes[0].depth = 0;
    cap->nnodes = 1;
    cap->valid_size = LT_HEADER_SIZE;
    lt_decoder d;
    if (lt_decoder_init(&d, cap->major) < 0) {
        memcpy(cap->error, d.error, sizeof(cap->error));
        return -1;
    }
    int r = parse_records(cap, &d, data, size);
    lt_decoder_free(&d);
    return r;
}

int
lt_reader_open(lt_capture *cap, const char *path)
{
    memset(cap, 0, sizeof(*cap));
    /* Non-blocking, so that a FIFO or a device fails the regular-file check
     * below instead of blocking the open until a writer comes. */
    int fd = open(path, O_RDONLY | O_CLOEXEC | O_NONBLOCK);
    if (fd < 0) {
        return fail(cap, "cannot open %s: %s", path, strerror(errno));
    }
    struct stat st;
    if (fstat(fd, &st) < 0) {
        int err = errno;
        close(fd);
        return fail(cap, "cannot read %s: %s", path, strerror(err));
    }
    if (!S_ISREG(st.st_mode)) {
        close(fd);
        return fail(cap, "cannot read %s: not a regular file", path);
    }
    size_t size = (size_t)st.st_size;
    if (size == 0) {
        close(fd);
        return fail(cap, "not a leaktrace capture: %s is empty", path);
    }
    uint8_t *data = malloc(size);
    if (!data) {
        close(fd);
        return NO_MEMORY(cap);
    }
    /* The file may shrink (or grow) while it is read: what is read is what
     * is parsed. */
    size_t got = 0;
    while (got < size) {
        ssize_t n = read(fd, data + got, size - got);
        if (n < 0 && errno == EINTR) {
            continue;
        }
        if (n < 0) {
            int err = errno;
            close(fd);
            free(data);
            return fail(cap, "cannot read %s: %s", path, strerror(err));
        }
        if (n == 0) {
            break;
        }
        got += (size_t)n;
    }
    close(fd);
    int r = lt_reader_parse(cap, data, got);
    cap->owns_data = 1;
    return r;
}

void
lt_reader_close(lt_capture *cap)
{
    for (size_t i = 0; i < cap->nsnapshots; i++) {
        free(cap->snapshots[i].sites);
    }
    free(cap->snapshots);
    free(cap->strings);
    free(cap->frames);
    free(cap->nodes);
    free(cap->meta);
    free(cap->native_maps);
    free(cap->retention);
    if (cap->owns_data) {
        free((void *)cap->data);
    }
    memset(cap, 0, sizeof(*cap));
}
