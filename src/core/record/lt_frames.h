/* lt_frames.h - reading Python stacks without allocating.
 *
 * A raw frame is the pair (code object address, position) read straight from
 * the interpreter's frame chain. Raw frames are cheap to read and compare;
 * they are turned into names and lines only when a frame is seen for the
 * first time (lt_frames_describe), and that too allocates nothing.
 *
 * All functions except the *_tstate ones require the GIL, or, for the
 * calling thread's own frames, that the thread be running C code (native
 * allocations from threads that released the GIL).
 */
#ifndef LT_FRAMES_H
#define LT_FRAMES_H

#include <stddef.h>
#include <stdint.h>

typedef struct _ts PyThreadState;

typedef struct {
    uintptr_t code;     /* PyCodeObject * */
    uintptr_t position; /* see lt_compat_frame_position() */
} lt_rawframe;

/* The calling thread's state when it holds the GIL, else NULL; any thread. */
PyThreadState *lt_frames_attached_tstate(void);
/* The thread state of the calling thread, which holds the GIL. */
PyThreadState *lt_frames_gil_tstate(void);
/* The calling thread's own state, with or without the GIL (NULL when it has
 * none). Its frames may be walked: they stay put while the thread is in C. */
PyThreadState *lt_frames_thread_tstate(void);

/* Reads the thread's Python frames, up to max of them, into out[0..max) from
 * the end: the innermost frame lands in out[max - 1] and the outermost read
 * in out[max - n], so out + max - n lists the stack outermost first. Returns
 * n; *truncated is set when more frames exist beyond the max. */
int lt_frames_walk(PyThreadState *tstate, lt_rawframe *out, int max, int *truncated);

/* A value that changes when another code object takes the same address. */
uint64_t lt_frames_fingerprint(const lt_rawframe *frame);

#define LT_FRAMES_NAME_MAX 1024

typedef struct {
    char function[LT_FRAMES_NAME_MAX];
    size_t function_len;
    char file[LT_FRAMES_NAME_MAX];
    size_t file_len;
    int line; /* -1 when unknown */
} lt_frame_description;

/* Fills the description of a frame that is on the current thread's stack. */
void lt_frames_describe(const lt_rawframe *frame, lt_frame_description *out);

#endif /* LT_FRAMES_H */
