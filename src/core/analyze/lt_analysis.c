/* lt_analysis.c - see lt_analysis.h. */
#include "analyze/lt_analysis.h"

#include <stdlib.h>
#include <string.h>

#include "base/lt_array.h"
#include "base/lt_error.h"

#include "capture/lt_decode.h"
#include "capture/lt_stream.h"

#define PROGRESS_STEP (8u << 20) /* bytes between progress calls */

#define fail(a, ...) lt_error_set((a)->error, sizeof((a)->error), __VA_ARGS__)

#define NO_MEMORY(a) fail(a, "out of memory while reading the capture")

/* Copies len bytes into the text arena. */
static int
keep_text(lt_analysis *a, const uint8_t *bytes, size_t len, lt_astring *out)
{
    if (lt_array_reserve((void **)&a->text, &a->text_cap, a->text_len + len, 1) < 0) {
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
keep_texts(lt_analysis *a, lt_rstring s, lt_astring *out)
{
    return keep_text(a, (const uint8_t *)s.ptr, s.len, out);
}

static int
store_native_map(lt_analysis *a, const lt_rnative_map *m)
{
    if (lt_array_reserve((void **)&a->native_maps, &a->native_maps_cap, a->nnative_maps + 1,
                         sizeof(lt_anative_map)) < 0) {
        return NO_MEMORY(a);
    }
    lt_anative_map *out = &a->native_maps[a->nnative_maps];
    out->base = m->base;
    out->start = m->start;
    out->end = m->end;
    if (keep_texts(a, m->path, &out->path) < 0 || keep_texts(a, m->build_id, &out->build_id) < 0) {
        return -1;
    }
    a->nnative_maps++;
    return 0;
}

static int
copy_listed(lt_asites *to, const lt_decoder *d)
{
    if (lt_array_reserve((void **)&to->sites, &to->cap, d->nlisted, sizeof(lt_rsite)) < 0) {
        return -1;
    }
    to->nsites = 0;
    for (size_t n = 0; n < d->nnodes; n++) {
        if (d->listed[n]) {
            to->sites[to->nsites++] = d->sites[n];
        }
    }
    return 0;
}

/* ---- the first pass: how many snapshots, and which has the highest heap ---- */

typedef struct {
    uint64_t nsnapshots, peak;
    uint64_t nnodes;   /* node records */
    uint64_t size;     /* of the file */
    uint64_t readable; /* up to the last whole record (or the file's size) */
} header_index;

static int
scan_headers(lt_analysis *a, const char *path, const lt_analysis_options *o, header_index *ix)
{
    lt_stream stream;
    if (lt_stream_open(&stream, path) < 0) {
        memcpy(a->error, stream.error, sizeof(a->error));
        return -1;
    }
    memset(ix, 0, sizeof(*ix));
    uint64_t best = 0, next_progress = PROGRESS_STEP;
    lt_srecord rec;
    int r;
    while ((r = lt_stream_next(&stream, &rec)) == 1) {
        if (rec.type == LT_REC_SNAPSHOT) {
            /* seq kind time_ns label heap_bytes: the second pass checks them. */
            const uint8_t *pos = rec.payload, *end = rec.payload + rec.len;
            uint64_t v = 0;
            for (int field = 0; field < 5; field++) {
                if (lt_varint_decode(&pos, end, &v) < 0) {
                    v = 0;
                    break;
                }
            }
            if (ix->nsnapshots == 0 || v > best) {
                best = v;
                ix->peak = ix->nsnapshots;
            }
            ix->nsnapshots++;
        }
        ix->nnodes += rec.type == LT_REC_NODE;
        if (o->progress && rec.offset >= next_progress) {
            o->progress(o->progress_ctx, rec.offset, 2 * stream.file_size);
            next_progress = rec.offset + PROGRESS_STEP;
        }
    }
    /* A framing error is left to the second pass, which may meet an earlier
     * invalid record first and must say so, as lt_reader does. */
    ix->size = stream.file_size;
    ix->readable = r < 0 ? stream.file_size : lt_stream_position(&stream);
    lt_stream_close(&stream);
    return 0;
}

/* ---- the second pass ---- */

static int
store_retention(lt_analysis *a, const lt_drecord *rec, const uint8_t *payload, size_t len)
{
    if (lt_array_reserve((void **)&a->retention, &a->retention_cap, a->nretention + 1,
                         sizeof(lt_aretention)) < 0) {
        return NO_MEMORY(a);
    }
    uint8_t *copy = malloc(len ? len : 1);
    if (!copy) {
        return NO_MEMORY(a);
    }
    memcpy(copy, payload, len);
    lt_aretention *out = &a->retention[a->nretention++];
    out->payload = copy;
    out->rec = rec->u.retention;
    /* Rebase what points into the payload onto the copy. */
    if (out->rec.sites) {
        out->rec.sites = copy + (rec->u.retention.sites - payload);
    }
    out->rec.body = copy + (rec->u.retention.body - payload);
    out->rec.end = copy + (rec->u.retention.end - payload);
    return 0;
}

static int
store_process(lt_analysis *a, const lt_drecord *rec)
{
    switch (rec->u.process.kind) {
    case LT_PROC_SAMPLING:
        a->sample_rate = rec->u.process.rate;
        a->sample_count_scale = rec->u.process.count_scale;
        a->sites.count_scale = rec->u.process.count_scale;
        a->sample_seed = rec->u.process.seed;
        return 0;
    case LT_PROC_PARENT:
        a->has_parent = 1;
        a->parent_link = rec->u.process.link;
        a->parent_pid = rec->u.process.pid;
        return keep_texts(a, rec->u.process.capture, &a->parent_capture);
    case LT_PROC_ATTACHED: a->attached = 1; return 0;
    default: return 0;
    }
}

typedef struct {
    const lt_analysis_options *o;
    uint64_t peak;
} pass_state;

/* Keeps what the reports need of a decoded record (validated by lt_decode):
 * strings, meta and native maps are copied, since the stream's buffer moves. */
static int
store(lt_analysis *a, const lt_decoder *d, const lt_drecord *rec, const lt_srecord *raw,
      pass_state *ps)
{
    if (rec->skipped) {
        return 0;
    }
    switch (rec->type) {
    case LT_REC_META:
        if (lt_array_reserve((void **)&a->meta, &a->meta_cap, a->nmeta + 2, sizeof(lt_astring)) <
            0) {
            return NO_MEMORY(a);
        }
        if (keep_texts(a, rec->u.meta.key, &a->meta[a->nmeta]) < 0 ||
            keep_texts(a, rec->u.meta.value, &a->meta[a->nmeta + 1]) < 0) {
            return -1;
        }
        a->nmeta += 2;
        return 0;
    case LT_REC_STRING:
        if (lt_array_reserve((void **)&a->strings, &a->strings_cap, a->nstrings + 1,
                             sizeof(lt_astring)) < 0) {
            return NO_MEMORY(a);
        }
        if (keep_texts(a, rec->u.string, &a->strings[a->nstrings]) < 0) {
            return -1;
        }
        a->nstrings++;
        return lt_trim_add_string(&a->trim, rec->u.string.ptr, rec->u.string.len) < 0
                   ? NO_MEMORY(a)
                   : 0;
    case LT_REC_FRAME:
        if (lt_array_reserve((void **)&a->frames, &a->frames_cap, a->nframes + 1,
                             sizeof(lt_rframe)) < 0 ||
            lt_trim_add_frame(&a->trim, rec->u.frame.function, rec->u.frame.file,
                              rec->u.frame.line) < 0) {
            return NO_MEMORY(a);
        }
        a->frames[a->nframes++] = rec->u.frame;
        return 0;
    case LT_REC_NODE:
        if (lt_array_reserve((void **)&a->nodes, &a->nodes_cap, a->nnodes + 1, sizeof(lt_rnode)) <
                0 ||
            lt_trim_add_node(&a->trim, rec->u.node.parent, rec->u.node.frame) < 0) {
            return NO_MEMORY(a);
        }
        a->nodes[a->nnodes++] = rec->u.node;
        return lt_sites_grow(&a->sites, &a->trim) < 0 ? NO_MEMORY(a) : 0;
    case LT_REC_SNAPSHOT: {
        const lt_dsnapshot *snap = &rec->u.snapshot;
        if (lt_array_reserve((void **)&a->snapshots, &a->snapshots_cap, a->nsnapshots + 1,
                             sizeof(lt_asnapshot)) < 0) {
            return NO_MEMORY(a);
        }
        if (lt_sites_apply(&a->sites, &a->trim, d, snap, ps->peak) < 0) {
            return NO_MEMORY(a);
        }
        if (ps->o->raw_pick && snap->seq == a->raw_index && copy_listed(&a->raw, d) < 0) {
            return NO_MEMORY(a);
        }
        a->snapshots[a->nsnapshots++] = (lt_asnapshot){
            snap->seq,        snap->kind,       snap->label, snap->time_ns,
            snap->heap_bytes, snap->heap_count, 0,           0};
        return 0;
    }
    case LT_REC_SNAPSHOT_EXTRA:
        a->snapshots[rec->u.extra.seq].has_rss = 1;
        a->snapshots[rec->u.extra.seq].rss_bytes = rec->u.extra.rss_bytes;
        return 0;
    case LT_REC_STATS:
        memcpy(a->stats, rec->u.stats.fields, sizeof(a->stats));
        a->has_stats = 1;
        return 0;
    case LT_REC_END: a->complete = 1; return 0;
    case LT_REC_NATIVE_MAP: return store_native_map(a, &rec->u.native_map);
    case LT_REC_RETENTION: return store_retention(a, rec, raw->payload, raw->len);
    case LT_REC_PROCESS: return store_process(a, rec);
    default: return 0;
    }
}

/* The verdicts of the sites, on the times of the series points. */
static int
make_verdicts(lt_analysis *a)
{
    const lt_sites *s = &a->sites;
    double *seconds = malloc((s->npoints ? s->npoints : 1) * sizeof(double));
    if (!seconds) {
        return -1;
    }
    for (size_t i = 0; i < s->npoints; i++) {
        uint64_t at = s->points[i] < a->nsnapshots ? s->points[i] : 0;
        seconds[i] = (double)a->snapshots[at].time_ns / 1e9;
    }
    int r = lt_verdicts_make(&a->verdicts, s, seconds);
    free(seconds);
    return r;
}

static int
read_records(lt_analysis *a, const char *path, const lt_analysis_options *o,
             const header_index *ix)
{
    lt_stream stream;
    lt_decoder decoder;
    if (lt_stream_open(&stream, path) < 0) {
        memcpy(a->error, stream.error, sizeof(a->error));
        return -1;
    }
    lt_stream_limit(&stream, ix->readable);
    if (lt_decoder_init(&decoder, stream.major) < 0) {
        memcpy(a->error, decoder.error, sizeof(a->error));
        lt_stream_close(&stream);
        return -1;
    }
    a->major = stream.major;
    a->minor = stream.minor;
    pass_state ps = {o, ix->peak};
    uint64_t next_progress = PROGRESS_STEP;
    lt_srecord rec;
    int r;
    while ((r = lt_stream_next(&stream, &rec)) == 1) {
        lt_drecord decoded;
        if (lt_decode_record(&decoder, rec.type, rec.payload, rec.len, rec.offset, &decoded) < 0) {
            memcpy(a->error, decoder.error, sizeof(a->error));
            goto error;
        }
        if (store(a, &decoder, &decoded, &rec, &ps) < 0) {
            goto error;
        }
        if (o->progress && rec.offset >= next_progress) {
            o->progress(o->progress_ctx, ix->readable + rec.offset, 2 * ix->readable);
            next_progress = rec.offset + PROGRESS_STEP;
        }
    }
    if (r < 0) {
        memcpy(a->error, stream.error, sizeof(a->error));
        goto error;
    }
    a->valid_size = lt_stream_position(&stream);
    if (a->complete && a->valid_size != a->file_size) {
        fail(a, "corrupt capture: data after the closing record at byte %llu",
             (unsigned long long)a->valid_size);
        goto error;
    }
    if (a->nsnapshots != ix->nsnapshots) {
        fail(a, "the capture changed while it was read");
        goto error;
    }
    a->peak_index = (size_t)ix->peak;
    if (lt_sites_finish(&a->sites, &a->trim, &decoder) < 0 || make_verdicts(a) < 0) {
        NO_MEMORY(a);
        goto error;
    }
    lt_decoder_free(&decoder);
    lt_stream_close(&stream);
    return 0;
error:
    lt_decoder_free(&decoder);
    lt_stream_close(&stream);
    return -1;
}

int
lt_analysis_read(lt_analysis *a, const char *path, const lt_analysis_options *o)
{
    memset(a, 0, sizeof(*a));
    header_index ix;
    if (lt_trim_init(&a->trim, &o->trim) < 0 || lt_sites_init(&a->sites) < 0 ||
        lt_sites_grow(&a->sites, &a->trim) < 0) {
        return NO_MEMORY(a);
    }
    if (scan_headers(a, path, o, &ix) < 0) {
        return -1;
    }
    /* Without a snapshot there is nothing to pick: the caller refuses such a
     * capture with its own message. */
    int picking = ix.nsnapshots > 0;
    if (lt_sites_plan(&a->sites, o->picks, picking ? o->npicks : 0, o->points,
                      picking ? o->npoints : 0, o->max_points, ix.nsnapshots, path, a->error,
                      sizeof(a->error)) < 0) {
        return -1;
    }
    lt_sites_expect(&a->sites, ix.nnodes);
    if (o->raw_pick && picking) {
        int64_t index = o->raw_snapshot < 0 ? (int64_t)ix.nsnapshots + o->raw_snapshot
                                            : o->raw_snapshot;
        if (index < 0 || (uint64_t)index >= ix.nsnapshots) {
            return fail(a, "%s has snapshots 0 to %lld, not %lld", path,
                        (long long)ix.nsnapshots - 1, (long long)o->raw_snapshot);
        }
        a->raw_index = (uint64_t)index;
    }
    a->file_size = ix.size;
    /* The root node (the empty stack) is implicit. */
    if (lt_array_reserve((void **)&a->nodes, &a->nodes_cap, 1, sizeof(lt_rnode)) < 0) {
        return NO_MEMORY(a);
    }
    a->nodes[0] = (lt_rnode){0, UINT32_MAX, 0};
    a->nnodes = 1;
    if (read_records(a, path, o, &ix) < 0) {
        return -1;
    }
    if (o->progress) {
        o->progress(o->progress_ctx, 2 * ix.readable, 2 * ix.readable);
    }
    return 0;
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
    free(a->raw.sites);
    free(a->native_maps);
    for (size_t i = 0; i < a->nretention; i++) {
        free(a->retention[i].payload);
    }
    free(a->retention);
    lt_trim_free(&a->trim);
    lt_sites_free(&a->sites);
    lt_verdicts_free(&a->verdicts);
    memset(a, 0, sizeof(*a));
}
