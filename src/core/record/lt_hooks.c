/* lt_hooks.c - see lt_hooks.h. */
#define PY_SSIZE_T_CLEAN
#include <Python.h>

#include "record/lt_hooks.h"

#include "record/lt_addrfilter.h"
#include "record/lt_sampler.h"
#include "record/lt_tracker.h"

__thread int lt_hooks_reentrant __attribute__((tls_model("initial-exec")));

/* Written with the GIL while the domain's hooks are not installed (saved,
 * origin) or while they are being replaced (installed, set); read by hooks. */
typedef struct {
    PyMemAllocatorEx saved; /* the allocator we forward to */
    lt_origin origin;       /* RAW callers may lack the GIL */
    int installed;          /* our hooks are in the domain's chain */
    lt_hook_set set;        /* which of them */
} lt_domain;

static lt_domain domains[3];

static const PyMemAllocatorDomain domain_ids[3] = {PYMEM_DOMAIN_RAW, PYMEM_DOMAIN_MEM,
                                                   PYMEM_DOMAIN_OBJ};

/* PyMem_SetAllocator() copies the struct without any atomicity, and a RAW
 * caller without the GIL may read the new function with the old ctx. So the
 * hooks ignore ctx: each domain has its own thin wrappers that name their
 * domain, and they are installed with the wrapped allocator's own ctx, so
 * that every mix of old and new fields still calls a consistent pair.
 *
 * Frees forget the block before the real free: once freed, the address can
 * be handed to another thread, whose new entry must not be removed by us. */

#define REAL(domain, fn, ...) ((domain)->saved.fn((domain)->saved.ctx, __VA_ARGS__))

/* One body per function for both hook sets, specialised at compile time by
 * the constant `sampled` (the wrappers below are separate functions, so no
 * hook tests the mode at run time):
 * - full (sampled = 0): every allocation and every free is reported;
 * - sampled: an allocation is reported when the sampler takes it, a free
 *   when the address filter says the block may have been recorded.
 * The guard is set around the real allocator: what that allocates inside
 * (pymalloc's blocks over 512 bytes, handed to RAW; whatever an allocator
 * below ours asks for) must not be recorded, nor counted down.
 *
 * A sampled malloc or calloc counts down before the call (lt_sampler_skip),
 * so that the common path holds nothing but the guard's address across the
 * call: it is the guard, the countdown, the forwarded call and a return. Bytes of an allocation that then fails
 * count too, and a sample point that falls on one is lost; the points form
 * a memoryless process, so no other allocation's chance of being sampled
 * changes. The rest (the crossing, recording) is out of line. */

#define LT_HOOK_BODY static inline __attribute__((always_inline))
#define LT_HOOK_SLOW static __attribute__((noinline))

/* A sampled allocation whose countdown crossed a sample point or found the
 * thread's state stale: lt_sampler_take_slow() decides. Inside the guard. */
LT_HOOK_SLOW void
record_if_taken(lt_origin origin, void *ptr, size_t size)
{
    if (lt_sampler_take_slow(&lt_sampler_state, size) && ptr) {
        lt_tracker_alloc(origin, ptr, size);
    }
}

LT_HOOK_SLOW void *
sampled_malloc_slow(lt_domain *domain, size_t size)
{
    lt_hooks_reentrant = 1;
    void *ptr = REAL(domain, malloc, size);
    record_if_taken(domain->origin, ptr, size);
    lt_hooks_reentrant = 0;
    return ptr;
}

LT_HOOK_SLOW void *
sampled_calloc_slow(lt_domain *domain, size_t nelem, size_t elsize)
{
    lt_hooks_reentrant = 1;
    void *ptr = REAL(domain, calloc, nelem, elsize);
    record_if_taken(domain->origin, ptr, nelem * elsize);
    lt_hooks_reentrant = 0;
    return ptr;
}

LT_HOOK_BODY void *
hook_malloc(lt_domain *domain, size_t size, int sampled)
{
    if (lt_hooks_reentrant) {
        return REAL(domain, malloc, size);
    }
    if (sampled && !lt_sampler_skip(size)) {
        return sampled_malloc_slow(domain, size);
    }
    lt_hooks_reentrant = 1;
    void *ptr = REAL(domain, malloc, size);
    if (!sampled && ptr) {
        lt_tracker_alloc(domain->origin, ptr, size);
    }
    lt_hooks_reentrant = 0;
    return ptr;
}

LT_HOOK_BODY void *
hook_calloc(lt_domain *domain, size_t nelem, size_t elsize, int sampled)
{
    if (lt_hooks_reentrant) {
        return REAL(domain, calloc, nelem, elsize);
    }
    /* The product can overflow only in a call the allocator then fails; the
     * countdown takes it as it is. */
    if (sampled && !lt_sampler_skip(nelem * elsize)) {
        return sampled_calloc_slow(domain, nelem, elsize);
    }
    lt_hooks_reentrant = 1;
    void *ptr = REAL(domain, calloc, nelem, elsize);
    /* The allocator checked nelem * elsize for overflow. */
    if (!sampled && ptr) {
        lt_tracker_alloc(domain->origin, ptr, nelem * elsize);
    }
    lt_hooks_reentrant = 0;
    return ptr;
}

LT_HOOK_BODY void *
hook_realloc(lt_domain *domain, void *old, size_t size, int sampled)
{
    if (lt_hooks_reentrant) {
        return REAL(domain, realloc, old, size);
    }
    lt_hooks_reentrant = 1;
    lt_forgotten forgotten = {0};
    if (old && (!sampled || lt_addrfilter_maybe(old))) {
        lt_tracker_forget(old, &forgotten);
    }
    void *ptr = REAL(domain, realloc, old, size);
    if (!ptr) {
        lt_tracker_unforget(old, &forgotten);
    }
    else if (!sampled) {
        lt_tracker_alloc(domain->origin, ptr, size);
    }
    else if (!lt_sampler_skip(size)) {
        record_if_taken(domain->origin, ptr, size);
    }
    lt_hooks_reentrant = 0;
    return ptr;
}

LT_HOOK_BODY void
forget_and_free(lt_domain *domain, void *ptr)
{
    if (lt_hooks_reentrant || !ptr) {
        REAL(domain, free, ptr);
        return;
    }
    lt_hooks_reentrant = 1;
    lt_forgotten forgotten;
    lt_tracker_forget(ptr, &forgotten);
    REAL(domain, free, ptr);
    lt_hooks_reentrant = 0;
}

LT_HOOK_SLOW void
forget_and_free_slow(lt_domain *domain, void *ptr)
{
    forget_and_free(domain, ptr);
}

/* A sampled free asks the filter first: a block never sampled (nearly every
 * one) is forwarded without reading the guard. */
LT_HOOK_BODY void
hook_free(lt_domain *domain, void *ptr, int sampled)
{
    if (!sampled) {
        forget_and_free(domain, ptr);
    }
    else if (!lt_addrfilter_maybe(ptr)) {
        REAL(domain, free, ptr);
    }
    else {
        forget_and_free_slow(domain, ptr);
    }
}

#define DEFINE_HOOKS(MODE, SAMPLED, N)                                                            \
    static void *MODE##_malloc_##N(void *ctx, size_t size)                                        \
    {                                                                                             \
        (void)ctx;                                                                                \
        return hook_malloc(&domains[N], size, SAMPLED);                                           \
    }                                                                                             \
    static void *MODE##_calloc_##N(void *ctx, size_t nelem, size_t elsize)                        \
    {                                                                                             \
        (void)ctx;                                                                                \
        return hook_calloc(&domains[N], nelem, elsize, SAMPLED);                                  \
    }                                                                                             \
    static void *MODE##_realloc_##N(void *ctx, void *ptr, size_t size)                            \
    {                                                                                             \
        (void)ctx;                                                                                \
        return hook_realloc(&domains[N], ptr, size, SAMPLED);                                     \
    }                                                                                             \
    static void MODE##_free_##N(void *ctx, void *ptr)                                             \
    {                                                                                             \
        (void)ctx;                                                                                \
        hook_free(&domains[N], ptr, SAMPLED);                                                     \
    }

DEFINE_HOOKS(full, 0, 0)
DEFINE_HOOKS(full, 0, 1)
DEFINE_HOOKS(full, 0, 2)
DEFINE_HOOKS(sampled, 1, 0)
DEFINE_HOOKS(sampled, 1, 1)
DEFINE_HOOKS(sampled, 1, 2)

#define HOOKS(MODE, N)                                                                            \
    {                                                                                             \
        NULL, MODE##_malloc_##N, MODE##_calloc_##N, MODE##_realloc_##N, MODE##_free_##N           \
    }

/* [set][domain], domains in the order of domain_ids; ctx is filled in from
 * the wrapped allocator when they are installed. */
static const PyMemAllocatorEx hook_table[2][3] = {
    {HOOKS(full, 0), HOOKS(full, 1), HOOKS(full, 2)},
    {HOOKS(sampled, 0), HOOKS(sampled, 1), HOOKS(sampled, 2)},
};

/* Whether our hooks (of the set installed) are what a domain calls first. */
static int
on_top(int i)
{
    PyMemAllocatorEx current;
    PyMem_GetAllocator(domain_ids[i], &current);
    return current.malloc == hook_table[domains[i].set][i].malloc;
}

int
lt_hooks_buried(void)
{
    for (int i = 0; i < 3; i++) {
        if (domains[i].installed && !on_top(i)) {
            return 1;
        }
    }
    return 0;
}

void
lt_hooks_install(lt_hook_set set)
{
    for (int i = 0; i < 3; i++) {
        if (!domains[i].installed) {
            PyMem_GetAllocator(domain_ids[i], &domains[i].saved);
            domains[i].origin = domain_ids[i] == PYMEM_DOMAIN_RAW ? LT_ORIGIN_RAW : LT_ORIGIN_GIL;
        }
        else if (domains[i].set == set) {
            continue;
        }
        /* Installed hooks of the other set on top are replaced in place: both
         * sets wrap the same saved allocator with its ctx. */
        PyMemAllocatorEx hooks = hook_table[set][i];
        hooks.ctx = domains[i].saved.ctx;
        domains[i].set = set;
        PyMem_SetAllocator(domain_ids[i], &hooks);
        domains[i].installed = 1;
    }
}

void
lt_hooks_uninstall(void)
{
    /* Where another tracer has wrapped our hooks, it keeps what it expects
     * and they forward without recording; where the allocators were replaced
     * under us, we cannot tell that from being wrapped, and the hooks count
     * as still installed. */
    for (int i = 0; i < 3; i++) {
        if (domains[i].installed && on_top(i)) {
            PyMem_SetAllocator(domain_ids[i], &domains[i].saved);
            domains[i].installed = 0;
        }
    }
}
