/* lt_trim.c - see lt_trim.h. */
#include "analyze/lt_trim.h"

#include <stdlib.h>
#include <string.h>

#include "base/lt_array.h"

/* How a file takes part in trimming. */
enum { FILE_PLAIN, FILE_OWN, FILE_STUB, FILE_IMPORT };

/* How far the trimming of a capture node's stack went, from its outer end,
 * plus two marks inherited from the parent. */
enum {
    STATE_PREFIX = 0,     /* every frame so far is leaktrace's own: trimmed */
    STATE_AFTER_STUB = 1, /* only the `python -c` stub's <string> frame so far */
    STATE_KEPT = 2,       /* the trimmed stack has begun */
    STATE_MASK = 3,
    STATE_IN_IMPORT = 4, /* a frame of the import machinery is on the stack */
    STATE_FRAMELESS = 8, /* no frame at all (the root, or a bare marker) */
};

static const char *const IMPORT_FILES[] = {
    "<frozen importlib._bootstrap>",
    "<frozen importlib._bootstrap_external>",
};
#define STUB_FILE "<string>"

/* Grows several arrays indexed alike to `need` entries; *cap is shared. */
static int
grow2(void **a, size_t asize, void **b, size_t bsize, size_t *cap, size_t need)
{
    size_t cap_a = *cap, cap_b = *cap;
    if (lt_array_reserve(a, &cap_a, need, asize) < 0 ||
        lt_array_reserve(b, &cap_b, need, bsize) < 0) {
        return -1;
    }
    *cap = cap_a;
    return 0;
}

static uint64_t
mix(uint64_t h)
{
    h ^= h >> 33;
    h *= 0xff51afd7ed558ccdULL;
    h ^= h >> 33;
    h *= 0xc4ceb9fe1a85ec53ULL;
    h ^= h >> 33;
    return h;
}

static uint64_t
hash_bytes(const char *s, size_t len)
{
    uint64_t h = 0xcbf29ce484222325ULL;
    for (size_t i = 0; i < len; i++) {
        h = (h ^ (unsigned char)s[i]) * 0x100000001b3ULL;
    }
    return mix(h);
}

/* ---- id sets: what an id stands for is in the lt_trim's tables ---- */

typedef uint64_t (*hash_fn)(const lt_trim *t, uint32_t id);
typedef int (*equal_fn)(const lt_trim *t, uint32_t a, uint32_t b);

static uint64_t
string_hash(const lt_trim *t, uint32_t id)
{
    size_t len;
    const char *s = lt_trim_string(t, id, &len);
    return hash_bytes(s, len);
}

static int
string_equal(const lt_trim *t, uint32_t a, uint32_t b)
{
    size_t la, lb;
    const char *sa = lt_trim_string(t, a, &la), *sb = lt_trim_string(t, b, &lb);
    return la == lb && memcmp(sa, sb, la) == 0;
}

static uint64_t
frame_hash(const lt_trim *t, uint32_t id)
{
    const lt_tframe *f = &t->frames[id];
    return mix(((uint64_t)f->function << 32 | f->file) ^ mix((uint64_t)f->line));
}

static int
frame_equal(const lt_trim *t, uint32_t a, uint32_t b)
{
    const lt_tframe *fa = &t->frames[a], *fb = &t->frames[b];
    return fa->function == fb->function && fa->file == fb->file && fa->line == fb->line;
}

static uint64_t
child_hash(const lt_trim *t, uint32_t id)
{
    return mix((uint64_t)t->parent[id] << 32 | t->frame[id]);
}

static int
child_equal(const lt_trim *t, uint32_t a, uint32_t b)
{
    return t->parent[a] == t->parent[b] && t->frame[a] == t->frame[b];
}

static int
idset_rehash(const lt_trim *t, lt_idset *set, hash_fn hash)
{
    size_t size = set->mask ? (set->mask + 1) * 2 : 1024;
    uint32_t *slots = calloc(size, sizeof(uint32_t));
    if (!slots) {
        return -1;
    }
    for (size_t i = 0; set->mask && i <= set->mask; i++) {
        if (set->slots[i]) {
            size_t k = hash(t, set->slots[i] - 1) & (size - 1);
            while (slots[k]) {
                k = (k + 1) & (size - 1);
            }
            slots[k] = set->slots[i];
        }
    }
    free(set->slots);
    set->slots = slots;
    set->mask = size - 1;
    return 0;
}

/* The id equal to `id` already in the set, or `id` itself, added. Returns
 * -1 when memory is short. */
static int64_t
idset_find_or_add(const lt_trim *t, lt_idset *set, uint32_t id, hash_fn hash, equal_fn equal)
{
    if ((set->count + 1) * 2 > set->mask + 1 && idset_rehash(t, set, hash) < 0) {
        return -1;
    }
    size_t k = hash(t, id) & set->mask;
    for (; set->slots[k]; k = (k + 1) & set->mask) {
        if (equal(t, set->slots[k] - 1, id)) {
            return set->slots[k] - 1;
        }
    }
    set->slots[k] = id + 1;
    set->count++;
    return id;
}

/* ---- the fold ---- */

static int
file_class_of(const lt_trim *t, const char *s, size_t len)
{
    const lt_trim_policy *p = &t->policy;
    if (p->own_prefix_len && len >= p->own_prefix_len &&
        memcmp(s, p->own_prefix, p->own_prefix_len) == 0) {
        return FILE_OWN;
    }
    for (size_t i = 0; i < p->nown_files; i++) {
        if (strlen(p->own_files[i]) == len && memcmp(p->own_files[i], s, len) == 0) {
            return FILE_OWN;
        }
    }
    if (len == sizeof(STUB_FILE) - 1 && memcmp(s, STUB_FILE, len) == 0) {
        return FILE_STUB;
    }
    for (size_t i = 0; i < sizeof(IMPORT_FILES) / sizeof(IMPORT_FILES[0]); i++) {
        if (strlen(IMPORT_FILES[i]) == len && memcmp(IMPORT_FILES[i], s, len) == 0) {
            return FILE_IMPORT;
        }
    }
    return FILE_PLAIN;
}

/* The trimmed node (parent, frame), made when new; UINT32_MAX when memory is
 * short. */
static uint32_t
child(lt_trim *t, uint32_t parent, uint32_t frame)
{
    size_t id = t->ntree;
    if (id >= UINT32_MAX - 1 || grow2((void **)&t->parent, sizeof(uint32_t), (void **)&t->frame,
                                      sizeof(uint32_t), &t->tree_cap, id + 1) < 0) {
        return UINT32_MAX;
    }
    t->parent[id] = parent;
    t->frame[id] = frame;
    int64_t found = idset_find_or_add(t, &t->children, (uint32_t)id, child_hash, child_equal);
    if (found < 0) {
        return UINT32_MAX;
    }
    if ((size_t)found == id) {
        t->ntree++;
    }
    return (uint32_t)found;
}

int
lt_trim_init(lt_trim *t, const lt_trim_policy *policy)
{
    memset(t, 0, sizeof(*t));
    t->policy = *policy;
    /* The trimmed root and the capture's root node (the empty stack). */
    if (grow2((void **)&t->parent, sizeof(uint32_t), (void **)&t->frame, sizeof(uint32_t),
              &t->tree_cap, 1) < 0) {
        return -1;
    }
    t->parent[0] = 0;
    t->frame[0] = LT_TRIM_NO_FRAME;
    t->ntree = 1;
    return lt_trim_add_node(t, 0, UINT32_MAX);
}

int
lt_trim_add_string(lt_trim *t, const char *s, size_t len)
{
    size_t id = t->ndistinct;
    if (lt_array_reserve((void **)&t->string_canon, &t->strings_cap, t->nstrings + 1,
                         sizeof(uint32_t)) < 0 ||
        grow2((void **)&t->text_spans, sizeof(*t->text_spans), (void **)&t->file_class, 1,
              &t->distinct_cap, id + 1) < 0 ||
        lt_array_reserve((void **)&t->text, &t->text_cap, t->text_len + len + 1, 1) < 0) {
        return -1;
    }
    /* Tentatively a new distinct string; taken back when it is not. */
    if (len) {
        memcpy(t->text + t->text_len, s, len);
    }
    t->text_spans[id].offset = t->text_len;
    t->text_spans[id].len = len;
    int64_t found = idset_find_or_add(t, &t->string_set, (uint32_t)id, string_hash, string_equal);
    if (found < 0) {
        return -1;
    }
    if ((size_t)found == id) {
        t->text_len += len;
        t->file_class[id] = (uint8_t)file_class_of(t, s, len);
        t->ndistinct++;
    }
    t->string_canon[t->nstrings++] = (uint32_t)found;
    return 0;
}

int
lt_trim_add_frame(lt_trim *t, uint32_t function, uint32_t file, int64_t line)
{
    size_t id = t->nframes;
    if (lt_array_reserve((void **)&t->frame_canon, &t->raw_frames_cap, t->nraw_frames + 1,
                         sizeof(uint32_t)) < 0 ||
        lt_array_reserve((void **)&t->frames, &t->frames_cap, id + 1, sizeof(lt_tframe)) < 0) {
        return -1;
    }
    t->frames[id] = (lt_tframe){t->string_canon[function], t->string_canon[file], line};
    int64_t found = idset_find_or_add(t, &t->frame_set, (uint32_t)id, frame_hash, frame_equal);
    if (found < 0) {
        return -1;
    }
    t->nframes += (size_t)found == id;
    t->frame_canon[t->nraw_frames++] = (uint32_t)found;
    return 0;
}

int
lt_trim_add_node(lt_trim *t, uint32_t parent, uint32_t frame)
{
    size_t n = t->nnodes;
    size_t cap = t->nodes_cap;
    if (grow2((void **)&t->target, sizeof(uint32_t), (void **)&t->state, 1, &cap, n + 1) < 0 ||
        lt_array_reserve((void **)&t->reason, &t->nodes_cap, n + 1, 1) < 0) {
        return -1;
    }
    uint32_t target = 0;
    unsigned state;
    if (n == 0) {
        state = STATE_PREFIX | STATE_FRAMELESS; /* the root */
    }
    else if (frame == 0) {
        /* The truncation marker, right below the root: the stack is kept whole. */
        state = STATE_KEPT | (t->state[parent] & (STATE_IN_IMPORT | STATE_FRAMELESS));
        target = child(t, t->target[parent], LT_TRIM_TRUNCATED);
    }
    else {
        uint32_t f = t->frame_canon[frame];
        int cls = t->file_class[t->frames[f].file];
        unsigned up = t->state[parent] & STATE_MASK;
        state = (t->state[parent] & STATE_IN_IMPORT) | (cls == FILE_IMPORT ? STATE_IN_IMPORT : 0);
        if (cls == FILE_OWN && (up == STATE_PREFIX || up == STATE_AFTER_STUB)) {
            state |= STATE_PREFIX;
        }
        else if (up == STATE_PREFIX && cls == FILE_STUB && parent == 0) {
            state |= STATE_AFTER_STUB;
            target = child(t, 0, f);
        }
        else {
            state |= STATE_KEPT;
            target = child(t, t->target[parent], f);
        }
    }
    if (target == UINT32_MAX) {
        return -1;
    }
    lt_trim_reason reason = LT_TRIM_SHOWN;
    if (!t->policy.include_all) {
        if (state & STATE_FRAMELESS) {
            reason = LT_TRIM_FRAMELESS;
        }
        else if ((state & STATE_MASK) == STATE_PREFIX) {
            reason = LT_TRIM_OWN;
        }
        else if (state & STATE_IN_IMPORT) {
            reason = LT_TRIM_IMPORTS;
        }
    }
    t->target[n] = target;
    t->state[n] = (uint8_t)state;
    t->reason[n] = (uint8_t)reason;
    t->nnodes++;
    return 0;
}

void
lt_trim_free(lt_trim *t)
{
    free(t->string_canon);
    free(t->text_spans);
    free(t->text);
    free(t->file_class);
    free(t->string_set.slots);
    free(t->frame_canon);
    free(t->frames);
    free(t->frame_set.slots);
    free(t->target);
    free(t->state);
    free(t->reason);
    free(t->parent);
    free(t->frame);
    free(t->children.slots);
    memset(t, 0, sizeof(*t));
}
