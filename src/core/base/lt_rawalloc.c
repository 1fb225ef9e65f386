/* lt_rawalloc.c - see lt_rawalloc.h. */
#include "base/lt_rawalloc.h"

#include <stdlib.h>

/* Updated atomically. */
static size_t current_bytes;
static size_t peak_bytes;
static size_t limit_bytes; /* 0: none (tests only) */

/* Whether a test's limit refuses `size` more bytes. */
static int
over_limit(size_t size)
{
    size_t limit = __atomic_load_n(&limit_bytes, __ATOMIC_RELAXED);
    if (!limit) {
        return 0;
    }
    size_t now = lt_raw_current_bytes();
    return now > limit || size > limit - now;
}

static void
account_alloc(size_t size)
{
    size_t now = __atomic_add_fetch(&current_bytes, size, __ATOMIC_RELAXED);
    size_t peak = __atomic_load_n(&peak_bytes, __ATOMIC_RELAXED);
    while (now > peak && !__atomic_compare_exchange_n(&peak_bytes, &peak, now, 1, __ATOMIC_RELAXED,
                                                      __ATOMIC_RELAXED)) {
    }
}

void *
lt_raw_malloc(size_t size)
{
    if (over_limit(size)) {
        return NULL;
    }
    void *ptr = malloc(size ? size : 1);
    if (ptr) {
        account_alloc(size);
    }
    return ptr;
}

void *
lt_raw_calloc(size_t nelem, size_t elsize)
{
    if ((elsize && nelem > (size_t)-1 / elsize) || over_limit(nelem * elsize)) {
        return NULL;
    }
    void *ptr = calloc(nelem ? nelem : 1, elsize ? elsize : 1);
    if (ptr) {
        account_alloc(nelem * elsize);
    }
    return ptr;
}

void
lt_raw_free(void *ptr, size_t size)
{
    if (ptr) {
        free(ptr);
        __atomic_sub_fetch(&current_bytes, size, __ATOMIC_RELAXED);
    }
}

size_t
lt_raw_current_bytes(void)
{
    return __atomic_load_n(&current_bytes, __ATOMIC_RELAXED);
}

size_t
lt_raw_peak_bytes(void)
{
    return __atomic_load_n(&peak_bytes, __ATOMIC_RELAXED);
}

void
lt_raw_reset_peak(void)
{
    __atomic_store_n(&peak_bytes, lt_raw_current_bytes(), __ATOMIC_RELAXED);
}

void
lt_raw_set_limit(size_t bytes)
{
    __atomic_store_n(&limit_bytes, bytes, __ATOMIC_RELAXED);
}
