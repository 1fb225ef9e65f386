/* lt_unwind.h - native stacks: the return addresses of the calling thread,
 * and the loaded objects that turn them into names when reporting.
 *
 * lt_unwind_stack() unwinds with the C++ ABI unwinder (_Unwind_Backtrace,
 * libgcc_s), which follows the .eh_frame tables every object on Debian
 * carries; frame pointers are omitted by most of Debian's libraries, so a
 * frame-pointer walk would stop at the first of them. Only the frames of
 * native code between the interpreter and the allocation are kept: our own
 * frames and the interpreter's entry into the allocator (PyMem_RawMalloc
 * and the like) are skipped at the top, and the walk stops at the first
 * interpreter frame below native code, where the Python frames take over.
 *
 * Thread rules: lt_unwind_init() runs with the GIL held before the hooks are
 * installed; lt_unwind_stack() may run on any thread, with or without the
 * GIL, and allocates nothing from a hooked allocator (the unwinder's own
 * first-use allocations come from libgcc_s and pass our hooks through the
 * re-entry guard). lt_unwind_for_each_object() runs under the loader's lock.
 */
#ifndef LT_UNWIND_H
#define LT_UNWIND_H

#include <stddef.h>
#include <stdint.h>

/* The most native frames kept per allocation. */
#define LT_UNWIND_MAX_FRAMES 32

/* Finds the address ranges of leaktrace._core and of the interpreter.
 * Returns 0, or -1 when they cannot be found. */
int lt_unwind_init(void);

/* Writes up to max return addresses of native frames, innermost first, and
 * returns their number. */
int lt_unwind_stack(uintptr_t *out, int max);

typedef int (*lt_unwind_object_fn)(void *arg, uint64_t base, uint64_t start, uint64_t end,
                                   const char *path, size_t path_len, const uint8_t *build_id,
                                   size_t build_id_len);

/* Calls fn for every loaded object that has a file name (the main program
 * included, under its /proc/self/exe target). Stops at, and returns, the
 * first non-zero result of fn. */
int lt_unwind_for_each_object(lt_unwind_object_fn fn, void *arg);

#endif /* LT_UNWIND_H */
