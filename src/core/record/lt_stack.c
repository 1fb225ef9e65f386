/* lt_stack.c - see lt_stack.h. */
#include "record/lt_stack.h"

#include "capture/lt_format.h"
#include "record/lt_unwind.h"

/* Writes the native frames of the calling thread at out, outermost first,
 * and returns their number (at most LT_UNWIND_MAX_FRAMES). */
static int
append_native_frames(lt_rawframe *out)
{
    uintptr_t pcs[LT_UNWIND_MAX_FRAMES];
    int n = lt_unwind_stack(pcs, LT_UNWIND_MAX_FRAMES);
    for (int i = 0; i < n; i++) {
        out[i].code = LT_NATIVE_CODE;
        out[i].position = pcs[n - 1 - i];
    }
    return n;
}

void
lt_stack_capture(lt_stack *stack, lt_stackcache *cache, PyThreadState *tstate, int depth_limit,
                 int unwind, uint32_t session, uint32_t truncated_root)
{
    int n = 0;
    int truncated = 0;
    if (tstate) {
        n = lt_frames_walk(tstate, cache->walk, depth_limit, &truncated);
    }
    /* The walk fills walk[depth_limit - n, depth_limit); native frames follow. */
    const lt_rawframe *frames = cache->walk + depth_limit - n;
    if (unwind) {
        n += append_native_frames(cache->walk + depth_limit);
    }
    stack->cache = cache;
    stack->frames = frames;
    stack->depth = n;
    stack->truncated = truncated;
    stack->base = truncated ? truncated_root : LT_ROOT_NODE;
    int common = lt_stackcache_common(cache, frames, n, truncated, session);
    stack->resolved = lt_stackcache_resolve(cache, frames, n, common, truncated, stack->base);
}

static uint32_t
intern_native_frame_unlocked(lt_intern *intern, uintptr_t pc)
{
    uint32_t id = lt_intern_find_frame(intern, LT_NATIVE_CODE, pc, 0);
    if (id != LT_NO_ID) {
        return id;
    }
    char hex[2 + 2 * sizeof(uintptr_t)];
    size_t len = 0;
    hex[len++] = '0';
    hex[len++] = 'x';
    int shift = (int)(8 * sizeof(uintptr_t)) - 4;
    while (shift > 0 && !((pc >> shift) & 0xf)) {
        shift -= 4;
    }
    for (; shift >= 0; shift -= 4) {
        hex[len++] = "0123456789abcdef"[(pc >> shift) & 0xf];
    }
    uint32_t function = lt_intern_string(intern, hex, len);
    uint32_t file = lt_intern_string(intern, LT_NATIVE_FILE, sizeof(LT_NATIVE_FILE) - 1);
    if (function == LT_NO_ID || file == LT_NO_ID) {
        return LT_NO_ID;
    }
    return lt_intern_add_frame(intern, LT_NATIVE_CODE, pc, 0, function, file, 0);
}

/* The frame id of raw, LT_STACK_UNDESCRIBED when it is new and desc is NULL,
 * or LT_NO_ID. */
static uint32_t
intern_frame_unlocked(lt_intern *intern, const lt_rawframe *raw, const lt_frame_description *desc)
{
    if (raw->code == LT_NATIVE_CODE) {
        return intern_native_frame_unlocked(intern, raw->position);
    }
    uint64_t fingerprint = lt_frames_fingerprint(raw);
    uint32_t id = lt_intern_find_frame(intern, raw->code, raw->position, fingerprint);
    if (id != LT_NO_ID) {
        return id;
    }
    if (!desc) {
        return LT_STACK_UNDESCRIBED;
    }
    uint32_t function = lt_intern_string(intern, desc->function, desc->function_len);
    uint32_t file = lt_intern_string(intern, desc->file, desc->file_len);
    if (function == LT_NO_ID || file == LT_NO_ID) {
        return LT_NO_ID;
    }
    return lt_intern_add_frame(intern, raw->code, raw->position, fingerprint, function, file,
                               desc->line);
}

uint32_t
lt_stack_intern_unlocked(lt_stack *stack, lt_intern *intern, const lt_frame_description *desc)
{
    lt_stackcache *cache = stack->cache;
    int level = stack->resolved;
    uint32_t node = lt_stackcache_node_below(cache, level, stack->base);
    for (; level < stack->depth; level++) {
        const lt_rawframe *raw = &stack->frames[level];
        uint32_t frame = intern_frame_unlocked(intern, raw,
                                               level == stack->resolved ? desc : NULL);
        if (frame == LT_STACK_UNDESCRIBED || frame == LT_NO_ID) {
            stack->resolved = level;
            return frame;
        }
        uint32_t parent = node;
        node = lt_intern_node(intern, parent, frame);
        if (node == LT_NO_ID) {
            stack->resolved = level;
            return LT_NO_ID;
        }
        lt_stackcache_push(cache, level, raw, parent, node);
    }
    stack->resolved = level;
    return node;
}

void
lt_stack_describe(const lt_stack *stack, lt_frame_description *desc)
{
    lt_frames_describe(&stack->frames[stack->resolved], desc);
}
