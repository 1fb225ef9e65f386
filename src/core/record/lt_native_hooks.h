/* lt_native_hooks.h - the functions leaktrace puts in the slots of loaded
 * objects, and the real functions they forward to.
 *
 * The real functions are found once, by the first lt_native_find_real(),
 * with dlsym(RTLD_DEFAULT): the definitions every object binds to unless it
 * asked otherwise. They are written before any slot points at a hook and
 * never changed afterwards, so the hooks read them freely on any thread.
 *
 * The allocation hooks (malloc family, mmap, munmap) set the tracker's
 * re-entry guard first (lt_tracker_native_enter), so nothing they call - nor
 * a signal handler interrupting them - is recorded twice or waits on a lock
 * their thread holds; they take no lock of their own and never fail an
 * allocation the real function would have made. The loader hooks are in
 * lt_native_dl.h. The hooks stay valid code for the life of the process and
 * merely forward once the tracker has stopped.
 */
#ifndef LT_NATIVE_HOOKS_H
#define LT_NATIVE_HOOKS_H

#define _GNU_SOURCE
#include <dlfcn.h>
#include <stddef.h>
#include <stdint.h>
#include <sys/types.h>

typedef struct {
    void *(*malloc)(size_t);
    void *(*calloc)(size_t, size_t);
    void *(*realloc)(void *, size_t);
    void *(*reallocarray)(void *, size_t, size_t);
    void (*free)(void *);
    void (*free_sized)(void *, size_t);
    int (*posix_memalign)(void **, size_t, size_t);
    void *(*aligned_alloc)(size_t, size_t);
    void *(*memalign)(size_t, size_t);
    void *(*valloc)(size_t);
    void *(*pvalloc)(size_t);
    void *(*mmap)(void *, size_t, int, int, int, off_t);
    void *(*mmap64)(void *, size_t, int, int, int, off_t);
    int (*munmap)(void *, size_t);
    void *(*dlopen)(const char *, int);
    void *(*dlmopen)(Lmid_t, const char *, int);
    int (*dlclose)(void *);
    void *(*dlsym)(void *, const char *);
} lt_native_real_fns;

/* Written by lt_native_find_real() only (with the GIL, under PATCH_LOCK,
 * before any slot is patched); read-only afterwards. */
extern lt_native_real_fns lt_native_real;
extern size_t lt_native_page_size;

typedef enum {
    LT_HOOK_ALLOCATOR, /* the malloc family, mmap, munmap */
    LT_HOOK_LOADER,    /* dlopen, dlmopen, dlclose: patched in the interpreter too */
    LT_HOOK_LOOKUP,    /* dlsym */
} lt_hook_kind;

typedef struct {
    const char *name;
    void *hook;
    void **real; /* the field of lt_native_real */
    lt_hook_kind kind;
} lt_hooked;

/* Finds the real functions (once). Returns 0, or -1 when one is missing. */
int lt_native_find_real(void);

/* The hooked symbol of that name, or NULL. */
const lt_hooked *lt_native_find_hooked(const char *name);

/* The allocator entry whose real function is at address fn, or NULL. */
const lt_hooked *lt_native_allocator_at(uintptr_t fn);

/* The allocator entry whose hook is at address hook, or NULL. */
const lt_hooked *lt_native_allocator_hooked_by(uintptr_t hook);

#endif /* LT_NATIVE_HOOKS_H */
