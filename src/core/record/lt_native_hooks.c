/* lt_native_hooks.c - see lt_native_hooks.h. */
#define _GNU_SOURCE
#include "record/lt_native_hooks.h"

#include <string.h>
#include <sys/mman.h>
#include <unistd.h>

#include "record/lt_native_dl.h"
#include "record/lt_tracker.h"

lt_native_real_fns lt_native_real;
size_t lt_native_page_size;

/* ---- allocation hooks ----
 * Each one sets the re-entry guard first (lt_tracker_native_enter), so
 * nothing it calls - nor a signal handler interrupting it - is recorded
 * twice or waits on a lock this thread holds. They never fail an allocation
 * the real function would have made. */

static void *
hook_malloc(size_t size)
{
    if (!lt_tracker_native_enter()) {
        return lt_native_real.malloc(size);
    }
    void *ptr = lt_native_real.malloc(size);
    if (ptr) {
        lt_tracker_native_alloc(ptr, size);
    }
    lt_tracker_native_leave();
    return ptr;
}

static void *
hook_calloc(size_t nelem, size_t elsize)
{
    if (!lt_tracker_native_enter()) {
        return lt_native_real.calloc(nelem, elsize);
    }
    void *ptr = lt_native_real.calloc(nelem, elsize);
    if (ptr) {
        /* calloc checked the product for overflow. */
        lt_tracker_native_alloc(ptr, nelem * elsize);
    }
    lt_tracker_native_leave();
    return ptr;
}

static void
hook_free(void *ptr)
{
    if (!ptr || !lt_tracker_native_enter()) {
        lt_native_real.free(ptr);
        return;
    }
    /* Forget before freeing: the address may be handed out again at once. */
    lt_tracker_native_free(ptr);
    lt_native_real.free(ptr);
    lt_tracker_native_leave();
}

static void
hook_free_sized(void *ptr, size_t size)
{
    if (!ptr || !lt_tracker_native_enter()) {
        lt_native_real.free_sized(ptr, size);
        return;
    }
    lt_tracker_native_free(ptr);
    lt_native_real.free_sized(ptr, size);
    lt_tracker_native_leave();
}

/* realloc and reallocarray: the old block is forgotten before the call and
 * put back when the call fails (it is then untouched). */
static void *
hook_realloc(void *old, size_t size)
{
    if (!lt_tracker_native_enter()) {
        return lt_native_real.realloc(old, size);
    }
    lt_native_forgotten forgotten = {0};
    if (old) {
        lt_tracker_native_forget(old, &forgotten);
    }
    void *ptr = lt_native_real.realloc(old, size);
    if (ptr) {
        lt_tracker_native_alloc(ptr, size);
    }
    else if (old && size != 0) {
        /* glibc frees the block on realloc(ptr, 0) and returns NULL. */
        lt_tracker_native_unforget(old, &forgotten);
    }
    lt_tracker_native_leave();
    return ptr;
}

static void *
hook_reallocarray(void *old, size_t nelem, size_t elsize)
{
    if (!lt_tracker_native_enter()) {
        return lt_native_real.reallocarray(old, nelem, elsize);
    }
    lt_native_forgotten forgotten = {0};
    if (old) {
        lt_tracker_native_forget(old, &forgotten);
    }
    void *ptr = lt_native_real.reallocarray(old, nelem, elsize);
    if (ptr) {
        lt_tracker_native_alloc(ptr, nelem * elsize);
    }
    else if (old && nelem != 0 && elsize != 0) {
        lt_tracker_native_unforget(old, &forgotten);
    }
    lt_tracker_native_leave();
    return ptr;
}

static int
hook_posix_memalign(void **out, size_t alignment, size_t size)
{
    if (!lt_tracker_native_enter()) {
        return lt_native_real.posix_memalign(out, alignment, size);
    }
    int r = lt_native_real.posix_memalign(out, alignment, size);
    if (r == 0 && *out) {
        lt_tracker_native_alloc(*out, size);
    }
    lt_tracker_native_leave();
    return r;
}

#define DEFINE_ALIGNED_HOOK(NAME)                                                                 \
    static void *hook_##NAME(size_t alignment, size_t size)                                       \
    {                                                                                             \
        if (!lt_tracker_native_enter()) {                                                         \
            return lt_native_real.NAME(alignment, size);                                          \
        }                                                                                         \
        void *ptr = lt_native_real.NAME(alignment, size);                                         \
        if (ptr) {                                                                                \
            lt_tracker_native_alloc(ptr, size);                                                   \
        }                                                                                         \
        lt_tracker_native_leave();                                                                \
        return ptr;                                                                               \
    }

DEFINE_ALIGNED_HOOK(aligned_alloc)
DEFINE_ALIGNED_HOOK(memalign)

static void *
hook_valloc(size_t size)
{
    if (!lt_tracker_native_enter()) {
        return lt_native_real.valloc(size);
    }
    void *ptr = lt_native_real.valloc(size);
    if (ptr) {
        lt_tracker_native_alloc(ptr, size);
    }
    lt_tracker_native_leave();
    return ptr;
}

static void *
hook_pvalloc(size_t size)
{
    if (!lt_tracker_native_enter()) {
        return lt_native_real.pvalloc(size);
    }
    void *ptr = lt_native_real.pvalloc(size);
    if (ptr) {
        /* pvalloc rounds the size up to whole pages, and the caller may use them. */
        size_t rounded = size ? (size + lt_native_page_size - 1) & ~(lt_native_page_size - 1)
                              : lt_native_page_size;
        lt_tracker_native_alloc(ptr, rounded);
    }
    lt_tracker_native_leave();
    return ptr;
}

static void *
hook_mmap(void *addr, size_t len, int prot, int flags, int fd, off_t offset)
{
    if (!lt_tracker_native_enter()) {
        return lt_native_real.mmap(addr, len, prot, flags, fd, offset);
    }
    void *ptr = lt_native_real.mmap(addr, len, prot, flags, fd, offset);
    if (ptr != MAP_FAILED) {
        lt_tracker_native_alloc(ptr, len);
    }
    lt_tracker_native_leave();
    return ptr;
}

static void *
hook_mmap64(void *addr, size_t len, int prot, int flags, int fd, off_t offset)
{
    if (!lt_tracker_native_enter()) {
        return lt_native_real.mmap64(addr, len, prot, flags, fd, offset);
    }
    void *ptr = lt_native_real.mmap64(addr, len, prot, flags, fd, offset);
    if (ptr != MAP_FAILED) {
        lt_tracker_native_alloc(ptr, len);
    }
    lt_tracker_native_leave();
    return ptr;
}

static int
hook_munmap(void *addr, size_t len)
{
    if (!lt_tracker_native_enter()) {
        return lt_native_real.munmap(addr, len);
    }
    /* Pages are gone once munmap returns and may be mapped again by another
     * thread: forget them first. A failed munmap (bad arguments) unmaps
     * nothing, and then so few bytes are misattributed that it is ignored. */
    lt_tracker_native_unmap(addr, len);
    int r = lt_native_real.munmap(addr, len);
    lt_tracker_native_leave();
    return r;
}

/* ---- the hooked symbols ---- */

#define HOOKED(NAME, HOOK, KIND)                                                                  \
    {                                                                                             \
#NAME, (void *)(HOOK), (void **)&lt_native_real.NAME, KIND                                \
    }

static const lt_hooked hooked[] = {
    HOOKED(malloc, hook_malloc, LT_HOOK_ALLOCATOR),
    HOOKED(calloc, hook_calloc, LT_HOOK_ALLOCATOR),
    HOOKED(realloc, hook_realloc, LT_HOOK_ALLOCATOR),
    HOOKED(reallocarray, hook_reallocarray, LT_HOOK_ALLOCATOR),
    HOOKED(free, hook_free, LT_HOOK_ALLOCATOR),
    HOOKED(free_sized, hook_free_sized, LT_HOOK_ALLOCATOR),
    HOOKED(posix_memalign, hook_posix_memalign, LT_HOOK_ALLOCATOR),
    HOOKED(aligned_alloc, hook_aligned_alloc, LT_HOOK_ALLOCATOR),
    HOOKED(memalign, hook_memalign, LT_HOOK_ALLOCATOR),
    HOOKED(valloc, hook_valloc, LT_HOOK_ALLOCATOR),
    HOOKED(pvalloc, hook_pvalloc, LT_HOOK_ALLOCATOR),
    HOOKED(mmap, hook_mmap, LT_HOOK_ALLOCATOR),
    HOOKED(mmap64, hook_mmap64, LT_HOOK_ALLOCATOR),
    HOOKED(munmap, hook_munmap, LT_HOOK_ALLOCATOR),
    HOOKED(dlopen, lt_native_hook_dlopen, LT_HOOK_LOADER),
    HOOKED(dlmopen, lt_native_hook_dlmopen, LT_HOOK_LOADER),
    HOOKED(dlclose, lt_native_hook_dlclose, LT_HOOK_LOADER),
    HOOKED(dlsym, lt_native_dlsym_entry, LT_HOOK_LOOKUP),
};

#define NHOOKED (sizeof(hooked) / sizeof(hooked[0]))

const lt_hooked *
lt_native_find_hooked(const char *name)
{
    for (size_t i = 0; i < NHOOKED; i++) {
        if (name[0] == hooked[i].name[0] && strcmp(name, hooked[i].name) == 0) {
            return &hooked[i];
        }
    }
    return NULL;
}

const lt_hooked *
lt_native_allocator_at(uintptr_t fn)
{
    for (size_t i = 0; fn && i < NHOOKED && hooked[i].kind == LT_HOOK_ALLOCATOR; i++) {
        if (fn == (uintptr_t)*hooked[i].real) {
            return &hooked[i];
        }
    }
    return NULL;
}

const lt_hooked *
lt_native_allocator_hooked_by(uintptr_t hook)
{
    for (size_t i = 0; hook && i < NHOOKED && hooked[i].kind == LT_HOOK_ALLOCATOR; i++) {
        if (hook == (uintptr_t)hooked[i].hook) {
            return &hooked[i];
        }
    }
    return NULL;
}

int
lt_native_find_real(void)
{
    if (lt_native_real.malloc) {
        return 0;
    }
    lt_native_page_size = (size_t)sysconf(_SC_PAGESIZE);
    for (size_t i = 0; i < NHOOKED; i++) {
        *hooked[i].real = dlsym(RTLD_DEFAULT, hooked[i].name);
        /* free_sized is new in glibc 2.39: without it nothing imports it. */
        if (!*hooked[i].real && strcmp(hooked[i].name, "free_sized") != 0) {
            lt_native_real.malloc = NULL;
            return -1;
        }
    }
    lt_native_real_dlsym = (void *)lt_native_real.dlsym;
    return 0;
}
