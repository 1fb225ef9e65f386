/* lt_decode.c - see lt_decode.h. */
#include "capture/lt_decode.h"

#include <stdlib.h>
#include <string.h>

#include "base/lt_array.h"
#include "base/lt_error.h"
#include "heap/lt_path.h"

#define SITE_MIN_BYTES 5 /* five varints */

typedef struct {
    const uint8_t *pos, *end;
} cursor;

#define fail(d, ...) lt_error_set((d)->error, sizeof((d)->error), __VA_ARGS__)

#define NO_MEMORY(d) fail(d, "out of memory while reading the capture")

static int
read_u64(cursor *c, uint64_t *v)
{
    return lt_varint_decode(&c->pos, c->end, v);
}

static int
read_id(cursor *c, uint64_t limit, uint32_t *id)
{
    uint64_t v;
    if (read_u64(c, &v) < 0 || v >= limit) {
        return -1;
    }
    *id = (uint32_t)v;
    return 0;
}

/* length:varint bytes */
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

static int
decode_meta(cursor *c, lt_drecord *out)
{
    return read_str(c, &out->u.meta.key) < 0 || read_str(c, &out->u.meta.value) < 0 ? -1 : 0;
}

static int
decode_string(lt_decoder *d, cursor *c, lt_drecord *out)
{
    if (d->nstrings >= UINT32_MAX - 1) {
        return -1;
    }
    out->u.string.ptr = (const char *)c->pos;
    out->u.string.len = (size_t)(c->end - c->pos);
    c->pos = c->end;
    d->nstrings++;
    return 0;
}

static int
decode_frame(lt_decoder *d, cursor *c, lt_drecord *out)
{
    lt_rframe *f = &out->u.frame;
    uint64_t line;
    if (d->nframes >= UINT32_MAX - 1 || read_id(c, d->nstrings, &f->function) < 0 ||
        read_id(c, d->nstrings, &f->file) < 0 || read_u64(c, &line) < 0) {
        return -1;
    }
    f->line = lt_zigzag_decode(line);
    d->nframes++;
    return 0;
}

static int
decode_node(lt_decoder *d, cursor *c, lt_drecord *out)
{
    lt_rnode *n = &out->u.node;
    if (d->nnodes >= UINT32_MAX - 1 || read_id(c, d->nnodes, &n->parent) < 0 ||
        read_id(c, d->nframes, &n->frame) < 0) {
        return -1;
    }
    n->depth = (uint32_t)d->depths[n->parent] + 1;
    if (n->depth > LT_MAX_STACK_DEPTH + 1) {
        return fail(d, "corrupt capture: a stack deeper than %d frames", LT_MAX_STACK_DEPTH);
    }
    size_t id = (size_t)d->nnodes;
    if (lt_array_reserve((void **)&d->depths, &d->depths_cap, id + 1, sizeof(uint16_t)) < 0) {
        return NO_MEMORY(d);
    }
    if (id >= d->nodes_cap) {
        size_t cap = d->nodes_cap;
        if (lt_array_reserve((void **)&d->sites, &cap, id + 1, sizeof(lt_rsite)) < 0) {
            return NO_MEMORY(d);
        }
        uint8_t *listed = realloc(d->listed, cap);
        if (!listed) {
            return NO_MEMORY(d);
        }
        d->listed = listed;
        d->nodes_cap = cap;
    }
    d->depths[id] = (uint16_t)n->depth;
    d->sites[id] = (lt_rsite){.node = (uint32_t)id};
    d->listed[id] = 0;
    d->nnodes++;
    return 0;
}

static int
same_counters(const lt_rsite *a, const lt_rsite *b)
{
    return a->live_count == b->live_count && a->live_bytes == b->live_bytes &&
           a->alloc_count == b->alloc_count && a->alloc_bytes == b->alloc_bytes;
}

/* Makes `entry` the counters of its node; records the change, if any. */
static void
apply_entry(lt_decoder *d, const lt_rsite *entry, size_t *nchanged)
{
    lt_rsite *now = &d->sites[entry->node];
    if (d->listed[entry->node] && same_counters(now, entry)) {
        return;
    }
    d->before[*nchanged] = *now;
    d->changed[*nchanged] = *entry;
    (*nchanged)++;
    *now = *entry;
    if (!d->listed[entry->node]) {
        d->listed[entry->node] = 1;
        d->nlisted++;
    }
}

/* A node the previous version 1 snapshot listed and this one does not: its
 * counters are gone. */
static void
drop_node(lt_decoder *d, uint32_t node, size_t *nchanged)
{
    d->before[*nchanged] = d->sites[node];
    d->changed[*nchanged] = (lt_rsite){.node = node};
    (*nchanged)++;
    d->sites[node] = (lt_rsite){.node = node};
    d->listed[node] = 0;
    d->nlisted--;
}

/* Turns the entries of a snapshot record into changes of the node counters. */
static int
apply_entries(lt_decoder *d, size_t nentries, size_t *nchanged)
{
    int delta = d->major >= LT_FORMAT_DELTA_MAJOR;
    size_t most = nentries + (delta ? 0 : d->nprevious);
    size_t changed_cap = d->changes_cap, before_cap = d->changes_cap;
    if (lt_array_reserve((void **)&d->changed, &changed_cap, most, sizeof(lt_rsite)) < 0 ||
        lt_array_reserve((void **)&d->before, &before_cap, most, sizeof(lt_rsite)) < 0) {
        return NO_MEMORY(d);
    }
    d->changes_cap = changed_cap; /* both grew alike */
    *nchanged = 0;
    if (delta) {
        for (size_t i = 0; i < nentries; i++) {
            apply_entry(d, &d->entries[i], nchanged);
        }
        return 0;
    }
    /* Version 1 lists every node that has allocated: merge with the nodes the
     * previous snapshot listed, both in increasing order. */
    size_t p = 0;
    for (size_t i = 0; i < nentries; i++) {
        uint32_t node = d->entries[i].node;
        for (; p < d->nprevious && d->previous[p] < node; p++) {
            drop_node(d, d->previous[p], nchanged);
        }
        p += p < d->nprevious && d->previous[p] == node;
        apply_entry(d, &d->entries[i], nchanged);
    }
    for (; p < d->nprevious; p++) {
        drop_node(d, d->previous[p], nchanged);
    }
    if (lt_array_reserve((void **)&d->previous, &d->previous_cap, nentries, sizeof(uint32_t)) <
        0) {
        return NO_MEMORY(d);
    }
    for (size_t i = 0; i < nentries; i++) {
        d->previous[i] = d->entries[i].node;
    }
    d->nprevious = nentries;
    return 0;
}

static int
decode_snapshot(lt_decoder *d, cursor *c, lt_drecord *out)
{
    lt_dsnapshot *s = &out->u.snapshot;
    uint64_t kind, label, nsites;
    if (read_u64(c, &s->seq) < 0 || s->seq != d->nsnapshots || read_u64(c, &kind) < 0 ||
        kind >= LT_SNAP_KIND_COUNT || read_u64(c, &s->time_ns) < 0 || read_u64(c, &label) < 0 ||
        label > d->nstrings || read_u64(c, &s->heap_bytes) < 0 ||
        read_u64(c, &s->heap_count) < 0 || read_u64(c, &nsites) < 0 ||
        nsites > (uint64_t)(c->end - c->pos) / SITE_MIN_BYTES) {
        return -1;
    }
    s->kind = (uint32_t)kind;
    s->label = label ? (uint32_t)(label - 1) : UINT32_MAX;
    if (lt_array_reserve((void **)&d->entries, &d->entries_cap, (size_t)nsites, sizeof(lt_rsite)) <
        0) {
        return NO_MEMORY(d);
    }
    uint64_t node = 0;
    for (uint64_t i = 0; i < nsites; i++) {
        lt_rsite *site = &d->entries[i];
        uint64_t delta;
        if (read_u64(c, &delta) < 0 || (i > 0 && delta == 0) || delta >= d->nnodes - node ||
            read_u64(c, &site->live_count) < 0 || read_u64(c, &site->live_bytes) < 0 ||
            read_u64(c, &site->alloc_count) < 0 || read_u64(c, &site->alloc_bytes) < 0) {
            return -1;
        }
        node += delta;
        site->node = (uint32_t)node;
    }
    if (c->pos != c->end) {
        return -1; /* before any counter changes */
    }
    size_t nchanged;
    if (apply_entries(d, (size_t)nsites, &nchanged) < 0) {
        return -1;
    }
    s->changed = d->changed;
    s->before = d->before;
    s->nchanged = nchanged;
    s->nlisted = d->nlisted;
    d->nsnapshots++;
    d->last_has_rss = 0;
    return 0;
}

static int
decode_snapshot_extra(lt_decoder *d, cursor *c, lt_drecord *out)
{
    if (read_u64(c, &out->u.extra.seq) < 0 || d->nsnapshots == 0 ||
        out->u.extra.seq != d->nsnapshots - 1 || d->last_has_rss ||
        read_u64(c, &out->u.extra.rss_bytes) < 0) {
        return -1;
    }
    d->last_has_rss = 1;
    return 0;
}

static int
decode_stats(cursor *c, lt_drecord *out)
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
            out->u.stats.fields[i] = v;
        }
    }
    return 0;
}

static int
decode_end(lt_decoder *d, cursor *c)
{
    uint64_t counts[4];
    for (int i = 0; i < 4; i++) {
        if (read_u64(c, &counts[i]) < 0) {
            return -1;
        }
    }
    if (counts[0] != d->nstrings || counts[1] != d->nframes || counts[2] != d->nnodes ||
        counts[3] != d->nsnapshots) {
        return fail(d, "corrupt capture: its closing record does not match its contents");
    }
    d->complete = 1;
    return 0;
}

static int
decode_native_map(cursor *c, lt_drecord *out)
{
    lt_rnative_map *m = &out->u.native_map;
    if (read_u64(c, &m->base) < 0 || read_u64(c, &m->start) < 0 || read_u64(c, &m->end) < 0 ||
        m->end < m->start || read_str(c, &m->path) < 0 || read_str(c, &m->build_id) < 0) {
        return -1;
    }
    return 0;
}

/* Kinds this decoder does not know are skipped whole (newer writers). */
static int
decode_process(cursor *c, lt_drecord *out)
{
    uint64_t kind, link;
    if (read_u64(c, &kind) < 0) {
        return -1;
    }
    out->u.process.kind = (unsigned)kind;
    switch (kind) {
    case LT_PROC_SAMPLING:
        return read_u64(c, &out->u.process.rate) < 0 ||
                       read_u64(c, &out->u.process.count_scale) < 0 ||
                       read_u64(c, &out->u.process.seed) < 0 ||
                       (out->u.process.rate && out->u.process.count_scale == 0)
                   ? -1
                   : 0;
    case LT_PROC_PARENT:
        if (read_u64(c, &link) < 0 || link >= LT_LINK_KIND_COUNT ||
            read_u64(c, &out->u.process.pid) < 0 || read_str(c, &out->u.process.capture) < 0) {
            return -1;
        }
        out->u.process.link = (unsigned)link;
        return 0;
    case LT_PROC_ATTACHED: return 0;
    default:
        c->pos = c->end;
        out->skipped = 1;
        return 0;
    }
}

static int
decode_retention(lt_decoder *d, cursor *c, lt_drecord *out)
{
    lt_rretention *rec = &out->u.retention;
    uint64_t what, v;
    lt_path path;
    if (read_u64(c, &what) < 0) {
        return -1;
    }
    rec->what = (uint32_t)what;
    switch (what) {
    case LT_RET_SITE:
        if (read_id(c, d->nnodes, &rec->node) < 0) {
            return -1;
        }
        break;
    case LT_RET_SUSPECT:
        if (read_u64(c, &rec->amount) < 0) {
            return -1;
        }
        break;
    case LT_RET_HOLDER:
        if (read_id(c, d->nnodes, &rec->node) < 0 || read_u64(c, &v) < 0 ||
            v >= LT_HOLD_KIND_COUNT || read_u64(c, &rec->bound) < 0 ||
            read_u64(c, &rec->amount) < 0) {
            return -1;
        }
        rec->kind = (uint32_t)v;
        break;
    case LT_RET_CYCLE:
        if (read_u64(c, &rec->clusters) < 0 || read_u64(c, &rec->objects) < 0 ||
            read_u64(c, &rec->amount) < 0 || read_u64(c, &v) < 0 ||
            v > (uint64_t)(c->end - c->pos) / 2) {
            return -1;
        }
        rec->nsites = (uint32_t)v;
        rec->sites = c->pos;
        for (uint32_t i = 0; i < rec->nsites; i++) {
            uint32_t node;
            if (read_id(c, d->nnodes, &node) < 0 || read_u64(c, &v) < 0) {
                return -1;
            }
        }
        break;
    case LT_RET_SUMMARY:
        rec->body = c->pos;
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
        out->skipped = 1;
        return 0;
    }
    if (what != LT_RET_SUMMARY) {
        rec->body = c->pos;
        if (lt_path_decode(&c->pos, c->end, &path) < 0) {
            return -1;
        }
    }
    rec->end = c->pos;
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
    case LT_REC_SNAPSHOT_EXTRA: return "snapshot extra";
    case LT_REC_NATIVE_MAP: return "native map";
    case LT_REC_RETENTION: return "retention";
    case LT_REC_PROCESS: return "process";
    default: return "unknown";
    }
}

int
lt_decoder_init(lt_decoder *d, unsigned major)
{
    memset(d, 0, sizeof(*d));
    d->major = major;
    if (lt_array_reserve((void **)&d->depths, &d->depths_cap, 1, sizeof(uint16_t)) < 0 ||
        lt_array_reserve((void **)&d->sites, &d->nodes_cap, 1, sizeof(lt_rsite)) < 0 ||
        !(d->listed = malloc(d->nodes_cap))) {
        return NO_MEMORY(d);
    }
    d->depths[0] = 0; /* the root: the empty stack */
    d->sites[0] = (lt_rsite){.node = 0};
    d->listed[0] = 0;
    d->nnodes = 1;
    return 0;
}

int
lt_decode_record(lt_decoder *d, unsigned type, const uint8_t *payload, size_t len, uint64_t offset,
                 lt_drecord *out)
{
    if (d->complete) {
        return fail(d, "corrupt capture: data after the closing record at byte %llu",
                    (unsigned long long)offset);
    }
    memset(out, 0, sizeof(*out));
    out->type = type;
    cursor c = {payload, payload + len};
    int r;
    switch (type) {
    case LT_REC_META: r = decode_meta(&c, out); break;
    case LT_REC_STRING: r = decode_string(d, &c, out); break;
    case LT_REC_FRAME: r = decode_frame(d, &c, out); break;
    case LT_REC_NODE: r = decode_node(d, &c, out); break;
    case LT_REC_SNAPSHOT: r = decode_snapshot(d, &c, out); break;
    case LT_REC_STATS: r = decode_stats(&c, out); break;
    case LT_REC_END: r = decode_end(d, &c); break;
    case LT_REC_SNAPSHOT_EXTRA: r = decode_snapshot_extra(d, &c, out); break;
    case LT_REC_NATIVE_MAP: r = decode_native_map(&c, out); break;
    case LT_REC_RETENTION: r = decode_retention(d, &c, out); break;
    case LT_REC_PROCESS: r = decode_process(&c, out); break;
    default:
        if (type < LT_REC_FIRST_OPTIONAL) {
            return fail(d,
                        "capture has record type 0x%02x at byte %llu, unknown to this "
                        "leaktrace (written by a newer version?)",
                        type, (unsigned long long)offset);
        }
        c.pos = c.end;
        out->skipped = 1;
        r = 0;
    }
    if (r < 0 || c.pos != c.end) {
        if (!d->error[0]) {
            fail(d, "corrupt capture: invalid %s record at byte %llu", record_name(type),
                 (unsigned long long)offset);
        }
        return -1;
    }
    return 0;
}

void
lt_decoder_free(lt_decoder *d)
{
    free(d->depths);
    free(d->sites);
    free(d->listed);
    free(d->entries);
    free(d->changed);
    free(d->before);
    free(d->previous);
    memset(d, 0, sizeof(*d));
}
