/* lt_stack.h - the stack of one allocation, from the frame walk to its node.
 *
 * Capturing a stack has a part without the tracker's lock and a part under
 * it. lt_stack_capture() walks the calling thread's frames (Python, then
 * native ones when asked) into its stack cache and resolves what the cache
 * knows (lt_stackcache.h): most of the time that is the whole stack. The
 * rest is interned under TRACKER_LOCK by lt_stack_intern_unlocked(), which
 * finds frames already interned and adds the nodes; a Python frame the
 * session has never seen needs its name, file and line (PyCode_Addr2Line
 * decodes the line table), which is slow for a lock held by every
 * allocation: the function then stops and says so, the caller releases the
 * lock, describes the frame with lt_stack_describe() and goes on under the
 * lock with the description. Native frames are described under the lock
 * (formatting an address).
 *
 * Threads: lt_stack_capture() and lt_stack_describe() run on the allocating
 * thread, with the GIL or on the thread's own frames while it runs C code
 * (lt_frames.h); lt_stack_intern_unlocked() needs TRACKER_LOCK.
 */
#ifndef LT_STACK_H
#define LT_STACK_H

#include <stdint.h>

#include "record/lt_frames.h"
#include "record/lt_intern.h"
#include "record/lt_stackcache.h"

/* Native frames are raw frames with this code and the return address as their
 * position; no code object lives at address 1. */
#define LT_NATIVE_CODE ((uintptr_t)1)

/* Returned by lt_stack_intern_unlocked(): a frame needs a description. */
#define LT_STACK_UNDESCRIBED (LT_NO_ID - 1)

typedef struct {
    lt_stackcache *cache;
    const lt_rawframe *frames; /* outermost first, in cache->walk */
    int depth;
    int truncated;
    int resolved;  /* levels whose nodes are known: cache->nodes[0..resolved) */
    uint32_t base; /* node below level 0: the root or the truncation marker */
} lt_stack;

/* Walks the calling thread's stack (tstate may be NULL: a thread Python does
 * not know has native frames at most), up to depth_limit Python frames, plus
 * the native frames when unwind is set, and resolves it through the cache of
 * session. cache must have room for depth_limit frames (plus the native ones).
 * No lock; allocates nothing. */
void lt_stack_capture(lt_stack *stack, lt_stackcache *cache, PyThreadState *tstate,
                      int depth_limit, int unwind, uint32_t session, uint32_t truncated_root);

/* Interns the levels from stack->resolved on, caching each new node in the
 * thread's cache. desc, when not NULL, describes the frame at
 * stack->resolved. Returns the stack's node; LT_STACK_UNDESCRIBED when the
 * frame at stack->resolved needs a description first; LT_NO_ID when memory is
 * short. Requires TRACKER_LOCK and the intern tables of the cache's session. */
uint32_t lt_stack_intern_unlocked(lt_stack *stack, lt_intern *intern,
                                  const lt_frame_description *desc);

/* Describes the frame at stack->resolved. No lock. */
void lt_stack_describe(const lt_stack *stack, lt_frame_description *desc);

#endif /* LT_STACK_H */
