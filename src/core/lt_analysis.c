/* lt_analysis.c - see lt_analysis.h. */
#include "lt_analysis.h"

#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "lt_stream.h"

#define PROGRESS_STEP (8u << 20) /* bytes between progress calls */
#define SITE_MIN_BYTES 5         /* five varints */

typedef struct {
    const uint8_t *pos, *end;
} cursor;

static int
fail(lt_analysis *a, const char *fmt, ...)
{
    va_list args;
    va_start(args, fmt);
    vsnprintf(a->error, sizeof(a->error), fmt, args);
    va_end(args);
    return -1;
}

#define NO_MEMORY(a) fail(a, "out of memory while reading the capture")

/* Makes room for `more` elements beyond `count`. */
static int
reserve(void **array, size_t *cap, size_t count, size_t more, size_t elsize)
{
    if (count + more <= *cap) {
        return 0;
    }
    size_t new_cap = *cap ? *cap : 64;
    while (new_cap < count + more) {
        new_cap *= 2;
    }
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

/* Copies len bytes into the text arena. */
static int
keep_text(lt_analysis *a, const uint8_t *bytes, size_t len, lt_astring *out)
{
    if (reserve((void **)&a->text, &a->text_cap, a->text_len, len, 1) < 0) {
        return NO_MEMORY(a);
    }
    if (len) {
        memcpy(a->text + a->text_len, bytes, len);
    }
    out->offset = a->text_len;
    out->len = len;
    a->text_len += len;
    return 0;
}

static int
read_text(lt_analysis *a, cursor *c, lt_astring *out)
{
    uint64_t len;
    if (read_u64(c, &len) < 0 || len > (uint64_t)(c->end - c->pos)) {
        return -1;
    }
    const uint8_t *bytes = c->pos;
    c->pos += len;
    return keep_text(a, bytes, (size_t)len, out);
}

static int
parse_meta(lt_analysis *a, cursor *c)
{
    if (reserve((void **)&a->meta, &a->meta_cap, a->nmeta, 2, sizeof(lt_astring)) < 0) {
        return NO_MEMORY(a);
    }
    if (read_text(a, c, &a->meta[a->nmeta]) < 0 || read_text(a, c, &a->meta[a->nmeta + 1]) < 0) {
        return -1;
    }
    a->nmeta += 2;
    return 0;
}

static int
parse_string(lt_analysis *a, cursor *c)
{
    if (a->nstrings >= UINT32_MAX - 1 ||
        reserve((void **)&a->strings, &a->strings_cap, a->nstrings, 1, sizeof(lt_astring)) < 0) {
        return NO_MEMORY(a);
    }
    if (keep_text(a, c->pos, (size_t)(c->end - c->pos), &a->strings[a->nstrings]) < 0) {
        return -1;
    }
    c->pos = c->end;
    a->nstrings++;
    return 0;
}

static int
parse_frame(lt_analysis *a, cursor *c)
{
    if (reserve((void **)&a->frames, &a->frames_cap, a->nframes, 1, sizeof(lt_rframe)) < 0) {
        return NO_MEMORY(a);
    }
    lt_rframe *f = &a->frames[a->nframes];
    uint64_t line;
    if (a->nframes >= UINT32_MAX - 1 || read_id(c, a->nstrings, &f->function) < 0 ||
        read_id(c, a->nstrings, &f->file) < 0 || read_u64(c, &line) < 0) {
        return -1;
    }
    f->line = lt_zigzag_decode(line);
    a->nframes++;
    return 0;
}

static int
parse_node(lt_analysis *a, cursor *c)
{
    if (reserve((void **)&a->nodes, &a->nodes_cap, a->nnodes, 1, sizeof(lt_rnode)) < 0) {
        return NO_MEMORY(a);
    }
    lt_rnode *n = &a->nodes[a->nnodes];
    if (a->nnodes >= UINT32_MAX - 1 || read_id(c, a->nnodes, &n->parent) < 0 ||
        read_id(c, a->nframes, &n->frame) < 0) {
        return -1;
    }
    n->depth = a->nodes[n->parent].depth + 1;
    if (n->depth > LT_MAX_STACK_DEPTH + 1) {
        return fail(a, "corrupt capture: a stack deeper than %d frames", LT_MAX_STACK_DEPTH);
    }
    a->nnodes++;
    return 0;
}

static void
swap_sites(lt_asites *x, lt_asites *y)
{
    lt_asites t = *x;
    *x = *y;
    *y = t;
}

static int
copy_sites(lt_asites *to, const lt_asites *from)
{
    if (reserve((void **)&to->sites, &to->cap, 0, from->nsites, sizeof(lt_rsite)) < 0) {
        return -1;
    }
    if (from->nsites) {
        memcpy(to->sites, from->sites, from->nsites * sizeof(lt_rsite));
    }
    to->nsites = from->nsites;
    return 0;
}

static int
parse_snapshot(lt_analysis *a, cursor *c)
{
    if (reserve((void **)&a->snapshots, &a->snapshots_cap, a->nsnapshots, 1,
                sizeof(lt_asnapshot)) < 0) {
        return NO_MEMORY(a);
    }
    lt_asnapshot *s = &a->snapshots[a->nsnapshots];
    uint64_t kind, label, nsites;
    if (read_u64(c, &s->seq) < 0 || s->seq != a->nsnapshots || read_u64(c, &kind) < 0 ||
        kind >= LT_SNAP_KIND_COUNT || read_u64(c, &s->time_ns) < 0 || read_u64(c, &label) < 0 ||
        label > a->nstrings || read_u64(c, &s->heap_bytes) < 0 ||
        read_u64(c, &s->heap_count) < 0 || read_u64(c, &nsites) < 0 ||
        nsites > (uint64_t)(c->end - c->pos) / SITE_MIN_BYTES) {
        return -1;
    }
    s->kind = (uint32_t)kind;
    s->label = label ? (uint32_t)(label - 1) : UINT32_MAX;
    lt_asites *scratch = &a->scratch;
    if (reserve((void **)&scratch->sites, &scratch->cap, 0, (size_t)nsites, sizeof(lt_rsite)) <
        0) {
        return NO_MEMORY(a);
    }
    scratch->nsites = 0;
    uint64_t node = 0;
    for (uint64_t i = 0; i < nsites; i++) {
        lt_rsite *site = &scratch->sites[i];
        uint64_t delta;
        if (read_u64(c, &delta) < 0 || (i > 0 && delta == 0) || delta >= a->nnodes - node ||
            read_u64(c, &site->live_count) < 0 || read_u64(c, &site->live_bytes) < 0 ||
            read_u64(c, &site->alloc_count) < 0 || read_u64(c, &site->alloc_bytes) < 0) {
            return -1;
        }
        node += delta;
        site->node = (uint32_t)node;
        scratch->nsites++;
    }
    if (a->nsnapshots == 0 || s->heap_bytes > a->snapshots[a->peak_index].heap_bytes) {
        if (copy_sites(&a->peak, scratch) < 0) {
            return NO_MEMORY(a);
        }
        a->peak_index = a->nsnapshots;
    }
    swap_sites(&a->last, scratch);
    a->nsnapshots++;
    return 0;
}

static int
parse_stats(lt_analysis *a, cursor *c)
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
            a->stats[i] = v;
        }
    }
    a->has_stats = 1;
    return 0;
}

static int
parse_end(lt_analysis *a, cursor *c)
{
    uint64_t counts[4];
    for (int i = 0; i < 4; i++) {
        if (read_u64(c, &counts[i]) < 0) {
            return -1;
        }
    }
    if (counts[0] != a->nstrings || counts[1] != a->nframes || counts[2] != a->nnodes ||
        counts[3] != a->nsnapshots) {
        return fail(a, "corrupt capture: its closing record does not match its contents");
    }
    a->complete = 1;
    return 0;
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
    default: return "unknown";
    }
}

static int
parse_record(lt_analysis *a, const lt_srecord *rec)
{
    cursor c = {rec->payload, rec->payload + rec->len};
    int r;
    switch (rec->type) {
    case LT_REC_META: r = parse_meta(a, &c); break;
    case LT_REC_STRING: r = parse_string(a, &c); break;
    case LT_REC_FRAME: r = parse_frame(a, &c); break;
    case LT_REC_NODE: r = parse_node(a, &c); break;
    case LT_REC_SNAPSHOT: r = parse_snapshot(a, &c); break;
    case LT_REC_STATS: r = parse_stats(a, &c); break;
    case LT_REC_END: r = parse_end(a, &c); break;
    default:
        if (rec->type < LT_REC_FIRST_OPTIONAL) {
            return fail(a,
                        "capture has record type 0x%02x at byte %llu, unknown to this "
                        "leaktrace (written by a newer version?)",
                        rec->type, (unsigned long long)rec->offset);
        }
        c.pos = c.end;
        r = 0;
    }
    if (r < 0 || c.pos != c.end) {
        if (!a->error[0]) {
            fail(a, "corrupt capture: invalid %s record at byte %llu", record_name(rec->type),
                 (unsigned long long)rec->offset);
        }
        return -1;
    }
    return 0;
}

int
lt_analysis_run(lt_analysis *a, const char *path, lt_progress_fn progress, void *progress_ctx)
{
    memset(a, 0, sizeof(*a));
    lt_stream stream;
    if (lt_stream_open(&stream, path) < 0) {
        memcpy(a->error, stream.error, sizeof(a->error));
        return -1;
    }
    a->major = stream.major;
    a->minor = stream.minor;
    a->file_size = stream.file_size;
    /* The root node (the empty stack) is implicit. */
    if (reserve((void **)&a->nodes, &a->nodes_cap, 0, 1, sizeof(lt_rnode)) < 0) {
        NO_MEMORY(a);
        goto error;
    }
    a->nodes[0].parent = 0;
    a->nodes[0].frame = UINT32_MAX;
    a->nodes[0].depth = 0;
    a->nnodes = 1;
    uint64_t next_progress = PROGRESS_STEP;
    lt_srecord rec;
    int r;
    while ((r = lt_stream_next(&stream, &rec)) == 1) {
        if (a->complete) {
            fail(a, "corrupt capture: data after the closing record at byte %llu",
                 (unsigned long long)rec.offset);
            goto error;
        }
        if (parse_record(a, &rec) < 0) {
            goto error;
        }
        if (progress && rec.offset >= next_progress) {
            progress(progress_ctx, rec.offset, stream.file_size);
            next_progress = rec.offset + PROGRESS_STEP;
        }
    }
    if (r < 0) {
        memcpy(a->error, stream.error, sizeof(a->error));
        goto error;
    }
    a->valid_size = lt_stream_position(&stream);
    a->file_size = stream.file_size;
    if (a->complete && a->valid_size != a->file_size) {
        fail(a, "corrupt capture: data after the closing record at byte %llu",
             (unsigned long long)a->valid_size);
        goto error;
    }
    if (progress) {
        progress(progress_ctx, a->file_size, a->file_size);
    }
    lt_stream_close(&stream);
    return 0;
error:
    lt_stream_close(&stream);
    return -1;
}

void
lt_analysis_free(lt_analysis *a)
{
    free(a->text);
    free(a->strings);
    free(a->frames);
    free(a->nodes);
    free(a->meta);
    free(a->snapshots);
    free(a->last.sites);
    free(a->peak.sites);
    free(a->scratch.sites);
    memset(a, 0, sizeof(*a));
}
