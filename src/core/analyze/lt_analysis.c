/* lt_analysis.c - see lt_analysis.h. */
#include "analyze/lt_analysis.h"

#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "capture/lt_decode.h"
#include "capture/lt_stream.h"

#define PROGRESS_STEP (8u << 20) /* bytes between progress calls */

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
keep_texts(lt_analysis *a, lt_rstring s, lt_astring *out)
{
    return keep_text(a, (const uint8_t *)s.ptr, s.len, out);
}

static int
copy_sites(lt_asites *to, const lt_decoder *d, size_t nsites)
{
    if (reserve((void **)&to->sites, &to->cap, 0, nsites, sizeof(lt_rsite)) < 0) {
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

static int
store_snapshot(lt_analysis *a, const lt_decoder *dec, const lt_dsnapshot *d)
{
    if (reserve((void **)&a->snapshots, &a->snapshots_cap, a->nsnapshots, 1,
                sizeof(lt_asnapshot)) < 0) {
        return NO_MEMORY(a);
    }
    lt_asnapshot s = {d->seq, d->kind, d->label, d->time_ns, d->heap_bytes, d->heap_count, 0, 0};
    if (a->nsnapshots == 0 || s.heap_bytes > a->snapshots[a->peak_index].heap_bytes) {
        if (copy_sites(&a->peak, dec, d->nlisted) < 0) {
            return NO_MEMORY(a);
        }
        a->peak_index = a->nsnapshots;
    }
    if (copy_sites(&a->last, dec, d->nlisted) < 0) {
        return NO_MEMORY(a);
    }
    a->snapshots[a->nsnapshots++] = s;
    return 0;
}

static int
store_native_map(lt_analysis *a, const lt_rnative_map *m)
{
    if (reserve((void **)&a->native_maps, &a->native_maps_cap, a->nnative_maps, 1,
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

/* Keeps what the reports need of a decoded record (validated by lt_decode):
 * strings, meta and native maps are copied, since the stream's buffer moves. */
static int
store(lt_analysis *a, const lt_decoder *dec, const lt_drecord *rec)
{
    if (rec->skipped) {
        return 0;
    }
    switch (rec->type) {
    case LT_REC_META:
        if (reserve((void **)&a->meta, &a->meta_cap, a->nmeta, 2, sizeof(lt_astring)) < 0) {
            return NO_MEMORY(a);
        }
        if (keep_texts(a, rec->u.meta.key, &a->meta[a->nmeta]) < 0 ||
            keep_texts(a, rec->u.meta.value, &a->meta[a->nmeta + 1]) < 0) {
            return -1;
        }
        a->nmeta += 2;
        return 0;
    case LT_REC_STRING:
        if (reserve((void **)&a->strings, &a->strings_cap, a->nstrings, 1, sizeof(lt_astring)) <
            0) {
            return NO_MEMORY(a);
        }
        if (keep_texts(a, rec->u.string, &a->strings[a->nstrings]) < 0) {
            return -1;
        }
        a->nstrings++;
        return 0;
    case LT_REC_FRAME:
        if (reserve((void **)&a->frames, &a->frames_cap, a->nframes, 1, sizeof(lt_rframe)) < 0) {
            return NO_MEMORY(a);
        }
        a->frames[a->nframes++] = rec->u.frame;
        return 0;
    case LT_REC_NODE:
        if (reserve((void **)&a->nodes, &a->nodes_cap, a->nnodes, 1, sizeof(lt_rnode)) < 0) {
            return NO_MEMORY(a);
        }
        a->nodes[a->nnodes++] = rec->u.node;
        return 0;
    case LT_REC_SNAPSHOT: return store_snapshot(a, dec, &rec->u.snapshot);
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
    case LT_REC_PROCESS:
        if (rec->u.process.kind == LT_PROC_SAMPLING) {
            a->sample_rate = rec->u.process.rate;
            a->sample_count_scale = rec->u.process.count_scale;
        }
        return 0;
    default: return 0; /* retention: the whole-file reader's (the JSON report) */
    }
}

int
lt_analysis_run(lt_analysis *a, const char *path, lt_progress_fn progress, void *progress_ctx)
{
    memset(a, 0, sizeof(*a));
    lt_stream stream;
    lt_decoder decoder;
    if (lt_stream_open(&stream, path) < 0) {
        memcpy(a->error, stream.error, sizeof(a->error));
        return -1;
    }
    if (lt_decoder_init(&decoder, stream.major) < 0) {
        memcpy(a->error, decoder.error, sizeof(a->error));
        lt_stream_close(&stream);
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
        lt_drecord decoded;
        if (lt_decode_record(&decoder, rec.type, rec.payload, rec.len, rec.offset, &decoded) <
            0) {
            memcpy(a->error, decoder.error, sizeof(a->error));
            goto error;
        }
        if (store(a, &decoder, &decoded) < 0) {
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
    lt_decoder_free(&decoder);
    lt_stream_close(&stream);
    return 0;
error:
    lt_decoder_free(&decoder);
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
    free(a->native_maps);
    memset(a, 0, sizeof(*a));
}
