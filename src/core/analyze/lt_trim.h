/* lt_trim.h - the one trimming policy of every report, and the tree of
 * trimmed stacks it folds a capture's trace tree into.
 *
 * A report shows a stack without leaktrace's own frames and runpy's at its
 * outer end (nor the `python -c` stub's `<string>` frame just outside them);
 * it sums up instead of listing what was allocated inside the import
 * machinery ("imports") and what has no Python frame at all
 * ("no_python_frame"); and it drops what leaktrace allocated itself while
 * stopping (a stack of its own frames only). A stack deeper than the depth
 * limit (its outermost node is the truncation marker) is kept whole.
 *
 * Frames equal in value (function, file, line: two code objects of one
 * line) are one frame, and stacks equal after trimming are one node of the
 * trimmed tree: node 0 is the empty stack, every other node one frame below
 * its parent (outermost frames near the root, parent < own id). A report's
 * site is a node of that tree. Capture nodes are folded as they are read,
 * parents first, so the fold streams: the work is per capture node and per
 * distinct string and frame, never per frame of every stack.
 *
 * Memory: about 6 bytes a capture node, 8 a trimmed node, 20 a frame, 4 a
 * string and the bytes of each distinct string, plus the hash tables (at
 * most half full, 4 bytes a slot). Not thread-safe;
 * one capture per lt_trim.
 */
#ifndef LT_TRIM_H
#define LT_TRIM_H

#include <stddef.h>
#include <stdint.h>

#define LT_TRIM_NO_FRAME UINT32_MAX        /* the frame of the trimmed root */
#define LT_TRIM_TRUNCATED (UINT32_MAX - 1) /* the frame of a truncation marker */

/* What a report does with a capture node's memory. */
typedef enum {
    LT_TRIM_SHOWN = 0,     /* listed at its trimmed node */
    LT_TRIM_OWN = 1,       /* leaktrace's own, while stopping: not counted */
    LT_TRIM_IMPORTS = 2,   /* allocated inside the import machinery: summed up */
    LT_TRIM_FRAMELESS = 3, /* no Python frame: summed up */
    LT_TRIM_REASON_COUNT = 4,
} lt_trim_reason;

typedef struct {
    const char *own_prefix; /* files under it are leaktrace's (its package dir + "/") */
    size_t own_prefix_len;
    const char *const *own_files; /* files that are leaktrace's too (runpy) */
    size_t nown_files;
    int include_all; /* every node is shown: nothing summed up or dropped */
} lt_trim_policy;

/* A distinct frame; function and file are ids of distinct strings. */
typedef struct {
    uint32_t function, file;
    int64_t line;
} lt_tframe;

/* An id set kept by open addressing: slots hold id + 1, 0 when empty; the
 * owner's tables say what an id stands for. */
typedef struct {
    uint32_t *slots;
    size_t mask, count;
} lt_idset;

typedef struct {
    lt_trim_policy policy;
    /* strings: each string id's distinct id, and each distinct string's class */
    uint32_t *string_canon;
    size_t nstrings, strings_cap;
    struct {
        size_t offset, len;
    } * text_spans; /* of each distinct string, in text */
    char *text;
    size_t text_len, text_cap;
    uint8_t *file_class; /* of each distinct string */
    size_t ndistinct, distinct_cap;
    lt_idset string_set;
    /* frames: each frame id's distinct frame */
    uint32_t *frame_canon;
    size_t nraw_frames, raw_frames_cap;
    lt_tframe *frames;
    size_t nframes, frames_cap;
    lt_idset frame_set;
    /* capture nodes: the trimmed node each lands on, how far its trimming
     * went, and what a report does with it */
    uint32_t *target;
    uint8_t *state, *reason;
    size_t nnodes, nodes_cap;
    /* the trimmed tree */
    uint32_t *parent, *frame;
    size_t ntree, tree_cap;
    lt_idset children;
} lt_trim;

/* Starts with both roots. The policy's strings must outlive t. Returns 0 or
 * -1 (memory). */
int lt_trim_init(lt_trim *t, const lt_trim_policy *policy);

/* Adds the next string of the capture (its bytes are copied once per
 * distinct string). Returns 0 or -1 (memory). */
int lt_trim_add_string(lt_trim *t, const char *s, size_t len);

/* The bytes of a distinct string. */
static inline const char *
lt_trim_string(const lt_trim *t, uint32_t distinct, size_t *len)
{
    *len = t->text_spans[distinct].len;
    return t->text + t->text_spans[distinct].offset;
}

/* Adds the next frame (its strings already added). Returns 0 or -1. */
int lt_trim_add_frame(lt_trim *t, uint32_t function, uint32_t file, int64_t line);

/* Adds the next capture node (its parent and frame already added); frame 0
 * is the truncation marker. Returns 0 or -1. */
int lt_trim_add_node(lt_trim *t, uint32_t parent, uint32_t frame);

void lt_trim_free(lt_trim *t);

#endif /* LT_TRIM_H */
