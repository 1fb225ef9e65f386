/* lt_rawalloc.c - see lt_rawalloc.h. */
#include "lt_rawalloc.h"

#include <stdlib.h>

/* Updated atomically. */
static size_t current_bytes;
static size_t peak_bytes;

static void
account_alloc(size_t size)
{
    size_t now = __atomic_add_fetch(&current_bytes, size, __ATOMIC_RELAXED);
    size_t peak = __atomic_load_n(&peak_bytes, __ATOMIC_RELAXED);
    while (now > peak &&
           !__atomic_compare_exchange_n(&peak_bytes, &peak, now, 1, __ATOMIC_RELAXED,
                                        __ATOMIC_RELAXED)) {
    }
}

void *
lt_raw_malloc(size_t size)
{
    void *ptr = malloc(size ? size : 1);
    if (ptr) {
        account_alloc(size);
    }
    return ptr;
}

void *
lt_raw_calloc(size_t nelem, size_t elsize)
{
    if (elsize && nelem > (size_t)-1 / elsize) {
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
