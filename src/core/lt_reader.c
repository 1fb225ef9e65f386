/* lt_reader.c - see lt_reader.h. */
#include "lt_reader.h"

#include "lt_path.h"

#include <errno.h>
#include <fcntl.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

typedef struct {
    const uint8_t *pos, *end;
} cursor;

static int
fail(lt_capture *cap, const char *fmt, ...)
{
    va_list args;
    va_start(args, fmt);
    vsnprintf(cap->error, sizeof(cap->error), fmt, args);
    va_end(args);
    return -1;
}

/* Grows *array to hold one more element. */
static int
grow(void **array, size_t *cap, size_t count, size_t elsize)
{
    if (count < *cap) {
        return 0;
    }
    size_t new_cap = *cap ? *cap * 2 : 64;
    void *bigger = realloc(*array, new_cap * elsize);
    if (!bigger) {
        return -1;
    }
    *array = bigger;
    *cap = new_cap;
    return 0;
}

static int
read_u64(cursor *c, uint64_t *v)
{
    return lt_varint_decode(&c->pos, c->end, v);
}

static int
read_id(cursor *c, size_t limit, uint32_t *id)
{
    uint64_t v;
    if (read_u64(c, &v) < 0 || v >= limit) {
        return -1;
    }
    *id = (uint32_t)v;
    return 0;
}

static int
read_str(cursor *c, lt_rstring *s)
{
    uint64_t len;
    if (read_u64(c, &len) < 0 || len > (uint64_t)(c->end - c->pos)) {
        return -1;
    }
    s->ptr = (const char *)c->pos;
    s->len = (size_t)len;
    c->pos += len;
    return 0;
}

#define NO_MEMORY(cap) fail(cap, "out of memory while reading the capture")

static int
parse_meta(lt_capture *cap, cursor *c)
{
    if (grow((void **)&cap->meta, &cap->meta_cap, cap->nmeta, sizeof(lt_rmeta)) < 0) {
        return NO_MEMORY(cap);
    }
    lt_rmeta *m = &cap->meta[cap->nmeta];
    if (read_str(c, &m->key) < 0 || read_str(c, &m->value) < 0) {
        return -1;
    }
    cap->nmeta++;
    return 0;
}

static int
parse_string(lt_capture *cap, cursor *c)
{
    if (grow((void **)&cap->strings, &cap->strings_cap, cap->nstrings, sizeof(lt_rstring)) < 0) {
        return NO_MEMORY(cap);
    }
    if (cap->nstrings >= UINT32_MAX - 1) {
        return -1;
    }
    cap->strings[cap->nstrings].ptr = (const char *)c->pos;
    cap->strings[cap->nstrings].len = (size_t)(c->end - c->pos);
    cap->nstrings++;
    c->pos = c->end;
    return 0;
}

static int
parse_frame(lt_capture *cap, cursor *c)
{
    if (grow((void **)&cap->frames, &cap->frames_cap, cap->nframes, sizeof(lt_rframe)) < 0) {
        return NO_MEMORY(cap);
    }
    lt_rframe *f = &cap->frames[cap->nframes];
    uint64_t line;
    if (cap->nframes >= UINT32_MAX - 1 || read_id(c, cap->nstrings, &f->function) < 0 ||
        read_id(c, cap->nstrings, &f->file) < 0 || read_u64(c, &line) < 0) {
        return -1;
    }
    f->line = lt_zigzag_decode(line);
    cap->nframes++;
    return 0;
}

static int
parse_node(lt_capture *cap, cursor *c)
{
    if (grow((void **)&cap->nodes, &cap->nodes_cap, cap->nnodes, sizeof(lt_rnode)) < 0) {
        return NO_MEMORY(cap);
    }
    lt_rnode *n = &cap->nodes[cap->nnodes];
    if (cap->nnodes >= UINT32_MAX - 1 || read_id(c, cap->nnodes, &n->parent) < 0 ||
        read_id(c, cap->nframes, &n->frame) < 0) {
        return -1;
    }
    n->depth = cap->nodes[n->parent].depth + 1;
    if (n->depth > LT_MAX_STACK_DEPTH + 1) {
        return fail(cap, "corrupt capture: a stack deeper than %d frames",
                    LT_MAX_STACK_DEPTH);
    }
    cap->nnodes++;
    return 0;
}

#define SITE_MIN_BYTES 5 /* five varints */

static int
parse_snapshot(lt_capture *cap, cursor *c)
{
    if (grow((void **)&cap->snapshots, &cap->snapshots_cap, cap->nsnapshots,
             sizeof(lt_rsnapshot)) < 0) {
        return NO_MEMORY(cap);
    }
    lt_rsnapshot *s = &cap->snapshots[cap->nsnapshots];
    memset(s, 0, sizeof(*s));
    uint64_t kind, label, nsites;
    if (read_u64(c, &s->seq) < 0 || s->seq != cap->nsnapshots || read_u64(c, &kind) < 0 ||
        kind >= LT_SNAP_KIND_COUNT || read_u64(c, &s->time_ns) < 0 || read_u64(c, &label) < 0 ||
        label > cap->nstrings || read_u64(c, &s->heap_bytes) < 0 ||
        read_u64(c, &s->heap_count) < 0 || read_u64(c, &nsites) < 0 ||
        nsites > (uint64_t)(c->end - c->pos) / SITE_MIN_BYTES) {
        return -1;
    }
    s->kind = (uint32_t)kind;
    s->label = label ? (uint32_t)(label - 1) : UINT32_MAX;
    if (nsites) {
        s->sites = malloc((size_t)nsites * sizeof(lt_rsite));
        if (!s->sites) {
            return NO_MEMORY(cap);
        }
    }
    /* Count the snapshot now so that close() frees its sites on error. */
    cap->nsnapshots++;
    uint64_t node = 0;
    for (uint64_t i = 0; i < nsites; i++) {
        lt_rsite *site = &s->sites[i];
        uint64_t delta;
        if (read_u64(c, &delta) < 0 || (i > 0 && delta == 0) || delta >= cap->nnodes - node ||
            read_u64(c, &site->live_count) < 0 || read_u64(c, &site->live_bytes) < 0 ||
            read_u64(c, &site->alloc_count) < 0 || read_u64(c, &site->alloc_bytes) < 0) {
            return -1;
        }
        node += delta;
        site->node = (uint32_t)node;
        s->nsites++;
    }
    return 0;
}

static int
parse_snapshot_extra(lt_capture *cap, cursor *c)
{
    uint64_t seq;
    if (read_u64(c, &seq) < 0 || cap->nsnapshots == 0 || seq != cap->nsnapshots - 1) {
        return -1;
    }
    lt_rsnapshot *s = &cap->snapshots[seq];
    if (s->has_rss || read_u64(c, &s->rss_bytes) < 0) {
        return -1;
    }
    s->has_rss = 1;
    return 0;
}

static int
parse_stats(lt_capture *cap, cursor *c)
{
    uint64_t nfields;
    if (read_u64(c, &nfields) < 0 || nfields > (uint64_t)(c->end - c->pos)) {
        return -1;
    }
    for (uint64_t i = 0; i < nfields; i++) {
        uint64_t v;
        if (read_u64(c, &v) < 0) {
            return -1;
        }
        if (i < LT_STAT_COUNT) {
            cap->stats[i] = v;
        }
    }
    cap->has_stats = 1;
    return 0;
}

static int
parse_end(lt_capture *cap, cursor *c)
{
    uint64_t counts[4];
    for (int i = 0; i < 4; i++) {
        if (read_u64(c, &counts[i]) < 0) {
            return -1;
        }
    }
    if (counts[0] != cap->nstrings || counts[1] != cap->nframes || counts[2] != cap->nnodes ||
        counts[3] != cap->nsnapshots) {
        return fail(cap, "corrupt capture: its closing record does not match its contents");
    }
    cap->complete = 1;
    return 0;
}

static int
read_bytes(cursor *c, lt_rstring *out)
{
    uint64_t len;
    if (read_u64(c, &len) < 0 || len > (uint64_t)(c->end - c->pos)) {
        return -1;
    }
    out->ptr = (const char *)c->pos;
    out->len = (size_t)len;
    c->pos += len;
    return 0;
}

static int
parse_native_map(lt_capture *cap, cursor *c)
{
    if (grow((void **)&cap->native_maps, &cap->native_maps_cap, cap->nnative_maps,
             sizeof(lt_rnative_map)) < 0) {
        return NO_MEMORY(cap);
    }
    lt_rnative_map *m = &cap->native_maps[cap->nnative_maps];
    if (read_u64(c, &m->base) < 0 || read_u64(c, &m->start) < 0 || read_u64(c, &m->end) < 0 ||
        m->end < m->start || read_bytes(c, &m->path) < 0 || read_bytes(c, &m->build_id) < 0) {
        return -1;
    }
    cap->nnative_maps++;
    return 0;
}

/* Kinds this reader does not know are skipped whole (newer writers). */
static int
parse_process(lt_capture *cap, cursor *c)
{
    uint64_t kind;
    if (read_u64(c, &kind) < 0) {
        return -1;
    }
    switch (kind) {
    case LT_PROC_SAMPLING:
        if (read_u64(c, &cap->sample_rate) < 0 || read_u64(c, &cap->sample_count_scale) < 0 ||
            read_u64(c, &cap->sample_seed) < 0 ||
            (cap->sample_rate && cap->sample_count_scale == 0)) {
            return -1;
        }
        return 0;
    case LT_PROC_PARENT: {
        uint64_t how;
        if (read_u64(c, &how) < 0 || how >= LT_LINK_KIND_COUNT ||
            read_u64(c, &cap->parent_pid) < 0 || read_str(c, &cap->parent_capture) < 0) {
            return -1;
        }
        cap->parent_link = (unsigned)how;
        cap->has_parent = 1;
        return 0;
    }
    case LT_PROC_ATTACHED:
        cap->attached = 1;
        return 0;
    default:
        c->pos = c->end;
        return 0;
    }
}

static const char *
record_name(unsigned type)
{
    switch (type) {
    case LT_REC_META: return "meta";
    case LT_REC_STRING: return "string";
    case LT_REC_FRAME: return "frame";
    case LT_REC_NODE: return "node";
    case LT_REC_SNAPSHOT: return "snapshot";
    case LT_REC_STATS: return "stats";
    case LT_REC_END: return "end";
    case LT_REC_SNAPSHOT_EXTRA: return "snapshot extra";
    case LT_REC_NATIVE_MAP: return "native map";
    case LT_REC_RETENTION: return "retention";
    case LT_REC_PROCESS: return "process";
    default: return "unknown";
    }
}

static int
parse_retention(lt_capture *cap, cursor *c)
{
    lt_rretention rec = {0};
    uint64_t what, v;
    lt_path path;
    if (read_u64(c, &what) < 0) {
        return -1;
    }
    rec.what = (uint32_t)what;
    switch (what) {
    case LT_RET_SITE:
        if (read_id(c, cap->nnodes, &rec.node) < 0) {
            return -1;
        }
        break;
    case LT_RET_SUSPECT:
        if (read_u64(c, &rec.amount) < 0) {
            return -1;
        }
        break;
    case LT_RET_CYCLE:
        if (read_u64(c, &rec.clusters) < 0 || read_u64(c, &rec.objects) < 0 ||
            read_u64(c, &rec.amount) < 0 ||
            read_u64(c, &v) < 0 || v > (uint64_t)(c->end - c->pos) / 2) {
            return -1;
        }
        rec.nsites = (uint32_t)v;
        rec.sites = c->pos;
        for (uint32_t i = 0; i < rec.nsites; i++) {
            uint32_t node;
            if (read_id(c, cap->nnodes, &node) < 0 || read_u64(c, &v) < 0) {
                return -1;
            }
        }
        break;
    case LT_RET_SUMMARY:
        rec.body = c->pos;
        if (read_u64(c, &v) < 0 || v > (uint64_t)(c->end - c->pos)) {
            return -1;
        }
        for (uint64_t i = 0; i < v; i++) {
            uint64_t field;
            if (read_u64(c, &field) < 0) {
                return -1;
            }
        }
        break;
    default:
        c->pos = c->end; /* a later kind: skipped */
        return 0;
    }
    if (what != LT_RET_SUMMARY) {
        rec.body = c->pos;
        if (lt_path_decode(&c->pos, c->end, &path) < 0) {
            return -1;
        }
    }
    rec.end = c->pos;
    if (grow((void **)&cap->retention, &cap->retention_cap, cap->nretention,
             sizeof(lt_rretention)) < 0) {
        return NO_MEMORY(cap);
    }
    cap->retention[cap->nretention++] = rec;
    return 0;
}

static int
parse_records(lt_capture *cap, const uint8_t *data, size_t size)
{
    cursor file = {data + LT_HEADER_SIZE, data + size};
    while (file.pos < file.end) {
        size_t offset = (size_t)(file.pos - data);
        if (cap->complete) {
            return fail(cap, "corrupt capture: data after the closing record at byte %zu", offset);
        }
        unsigned type = *file.pos++;
        uint64_t len;
        const uint8_t *len_start = file.pos;
        if (lt_varint_decode(&file.pos, file.end, &len) < 0) {
            if (file.end - len_start < LT_VARINT_MAX_BYTES) {
                break; /* cut inside the record header */
            }
            return fail(cap, "corrupt capture: bad record length at byte %zu", offset);
        }
        if (len > (uint64_t)(file.end - file.pos)) {
            break; /* cut inside the record */
        }
        cursor c = {file.pos, file.pos + len};
        int r;
        switch (type) {
        case LT_REC_META: r = parse_meta(cap, &c); break;
        case LT_REC_STRING: r = parse_string(cap, &c); break;
        case LT_REC_FRAME: r = parse_frame(cap, &c); break;
        case LT_REC_NODE: r = parse_node(cap, &c); break;
        case LT_REC_SNAPSHOT: r = parse_snapshot(cap, &c); break;
        case LT_REC_STATS: r = parse_stats(cap, &c); break;
        case LT_REC_END: r = parse_end(cap, &c); break;
        case LT_REC_SNAPSHOT_EXTRA: r = parse_snapshot_extra(cap, &c); break;
        case LT_REC_NATIVE_MAP: r = parse_native_map(cap, &c); break;
        case LT_REC_RETENTION: r = parse_retention(cap, &c); break;
        case LT_REC_PROCESS: r = parse_process(cap, &c); break;
        default:
            if (type < LT_REC_FIRST_OPTIONAL) {
                return fail(cap,
                            "capture has record type 0x%02x at byte %zu, unknown to this "
                            "leaktrace (written by a newer version?)",
                            type, offset);
            }
            c.pos = c.end;
            r = 0;
        }
        if (r < 0 || c.pos != c.end) {
            if (!cap->error[0]) {
                fail(cap, "corrupt capture: invalid %s record at byte %zu", record_name(type),
                     offset);
            }
            return -1;
        }
        file.pos = c.end;
        cap->valid_size = (size_t)(file.pos - data);
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
    if (cap->major < 1) {
        return fail(cap, "corrupt capture: invalid format version %u", cap->major);
    }
    /* The root node is implicit. */
    if (grow((void **)&cap->nodes, &cap->nodes_cap, 0, sizeof(lt_rnode)) < 0) {
        return NO_MEMORY(cap);
    }
    cap->nodes[0].parent = 0;
    cap->nodes[0].frame = UINT32_MAX;
    cap->nodes[0].depth = 0;
    cap->nnodes = 1;
    cap->valid_size = LT_HEADER_SIZE;
    return parse_records(cap, data, size);
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
