/* capture_check.h - what must hold of any capture lt_reader_parse accepted,
 * however corrupt its input was. Shared by the unit tests and the fuzzer: the
 * Python layer indexes its tables with these ids without checking them again.
 */
#ifndef LT_TEST_CAPTURE_CHECK_H
#define LT_TEST_CAPTURE_CHECK_H

#include <stddef.h>
#include <stdint.h>

#include "capture/lt_reader.h"

static inline int
capture_span_ok(const lt_capture *cap, const char *ptr, size_t len)
{
    const char *begin = (const char *)cap->data;
    const char *end = begin + cap->file_size;
    return len == 0 || (ptr >= begin && ptr <= end && len <= (size_t)(end - ptr));
}

/* Returns NULL when the parsed tables are consistent, or what is wrong. Reads
 * every string byte, so that a sanitizer sees a pointer outside the input. */
static inline const char *
capture_check(const lt_capture *cap, unsigned *checksum)
{
    unsigned sum = 0;
    if (cap->valid_size < LT_HEADER_SIZE || cap->valid_size > cap->file_size) {
        return "valid_size outside the file";
    }
    if (cap->complete && cap->valid_size != cap->file_size) {
        return "complete capture that does not reach the end of the file";
    }
    if (cap->nnodes < 1 || cap->nodes[0].parent != 0 || cap->nodes[0].frame != UINT32_MAX) {
        return "root node missing";
    }
    for (size_t i = 0; i < cap->nstrings; i++) {
        const lt_rstring *s = &cap->strings[i];
        if (!capture_span_ok(cap, s->ptr, s->len)) {
            return "string outside the input";
        }
        for (size_t k = 0; k < s->len; k++) {
            sum += (unsigned char)s->ptr[k];
        }
    }
    for (size_t i = 0; i < cap->nmeta; i++) {
        const lt_rmeta *m = &cap->meta[i];
        if (!capture_span_ok(cap, m->key.ptr, m->key.len) ||
            !capture_span_ok(cap, m->value.ptr, m->value.len)) {
            return "meta string outside the input";
        }
        for (size_t k = 0; k < m->key.len; k++) {
            sum += (unsigned char)m->key.ptr[k];
        }
        for (size_t k = 0; k < m->value.len; k++) {
            sum += (unsigned char)m->value.ptr[k];
        }
    }
    for (size_t i = 0; i < cap->nnative_maps; i++) {
        const lt_rnative_map *m = &cap->native_maps[i];
        if (!capture_span_ok(cap, m->path.ptr, m->path.len) ||
            !capture_span_ok(cap, m->build_id.ptr, m->build_id.len) || m->end < m->start) {
            return "native map outside the input or inverted";
        }
        for (size_t k = 0; k < m->path.len; k++) {
            sum += (unsigned char)m->path.ptr[k];
        }
    }
    for (size_t i = 0; i < cap->nframes; i++) {
        if (cap->frames[i].function >= cap->nstrings || cap->frames[i].file >= cap->nstrings) {
            return "frame names an undefined string";
        }
    }
    for (size_t i = 1; i < cap->nnodes; i++) {
        if (cap->nodes[i].parent >= i) {
            return "node whose parent is not defined before it";
        }
        if (cap->nodes[i].frame >= cap->nframes) {
            return "node names an undefined frame";
        }
    }
    for (size_t i = 0; i < cap->nsnapshots; i++) {
        const lt_rsnapshot *s = &cap->snapshots[i];
        if (s->seq != i) {
            return "snapshots out of sequence";
        }
        if (s->kind >= LT_SNAP_KIND_COUNT) {
            return "snapshot of an unknown kind";
        }
        if (s->label != UINT32_MAX && s->label >= cap->nstrings) {
            return "snapshot label names an undefined string";
        }
        if (s->nsites && !s->sites) {
            return "snapshot sites missing";
        }
        for (size_t k = 0; k < s->nsites; k++) {
            if (s->sites[k].node >= cap->nnodes) {
                return "site of an undefined node";
            }
            if (k > 0 && s->sites[k].node <= s->sites[k - 1].node) {
                return "sites not in increasing node order";
            }
            sum += (unsigned)s->sites[k].live_count;
        }
    }
    if (checksum) {
        *checksum += sum;
    }
    return NULL;
}

#endif /* LT_TEST_CAPTURE_CHECK_H */
