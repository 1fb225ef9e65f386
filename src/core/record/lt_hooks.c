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

/* ---- every allocation ---- */

static inline void *
full_malloc(lt_domain *domain, size_t size)
{
    if (lt_hooks_reentrant) {
        return REAL(domain, malloc, size);
    }
    lt_hooks_reentrant = 1;
    void *ptr = REAL(domain, malloc, size);
    if (ptr) {
        lt_tracker_alloc(domain->origin, ptr, size);
    }
    lt_hooks_reentrant = 0;
    return ptr;
}

static inline void *
full_calloc(lt_domain *domain, size_t nelem, size_t elsize)
{
    if (lt_hooks_reentrant) {
        return REAL(domain, calloc, nelem, elsize);
    }
    lt_hooks_reentrant = 1;
    void *ptr = REAL(domain, calloc, nelem, elsize);
    if (ptr) {
        /* The allocator checked nelem * elsize for overflow. */
        lt_tracker_alloc(domain->origin, ptr, nelem * elsize);
    }
    lt_hooks_reentrant = 0;
    return ptr;
}

static inline void *
full_realloc(lt_domain *domain, void *old, size_t size)
{
    if (lt_hooks_reentrant) {
        return REAL(domain, realloc, old, size);
    }
    lt_hooks_reentrant = 1;
    lt_forgotten forgotten = {0};
    if (old) {
        lt_tracker_forget(old, &forgotten);
    }
    void *ptr = REAL(domain, realloc, old, size);
    if (ptr) {
        lt_tracker_alloc(domain->origin, ptr, size);
    }
    else {
        lt_tracker_unforget(old, &forgotten);
    }
    lt_hooks_reentrant = 0;
    return ptr;
}

static inline void
full_free(lt_domain *domain, void *ptr)
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

/* ---- sampled allocations ----
 * The guard is set around the real allocator only: what it allocates inside
 * (pymalloc's arenas) must not be sampled. */

static inline void *
sampled_malloc(lt_domain *domain, size_t size)
{
    if (lt_hooks_reentrant) {
        return REAL(domain, malloc, size);
    }
    lt_hooks_reentrant = 1;
    void *ptr = REAL(domain, malloc, size);
    if (ptr && lt_sampler_take(size)) {
        lt_tracker_alloc(domain->origin, ptr, size);
    }
    lt_hooks_reentrant = 0;
    return ptr;
}

static inline void *
sampled_calloc(lt_domain *domain, size_t nelem, size_t elsize)
{
    if (lt_hooks_reentrant) {
        return REAL(domain, calloc, nelem, elsize);
    }
    lt_hooks_reentrant = 1;
    void *ptr = REAL(domain, calloc, nelem, elsize);
    if (ptr && lt_sampler_take(nelem * elsize)) {
        lt_tracker_alloc(domain->origin, ptr, nelem * elsize);
    }
    lt_hooks_reentrant = 0;
    return ptr;
}

static inline void *
sampled_realloc(lt_domain *domain, void *old, size_t size)
{
    if (lt_hooks_reentrant) {
        return REAL(domain, realloc, old, size);
    }
    lt_hooks_reentrant = 1;
    lt_forgotten forgotten = {0};
    if (old && lt_addrfilter_maybe(old)) {
        lt_tracker_forget(old, &forgotten);
    }
    void *ptr = REAL(domain, realloc, old, size);
    if (ptr && lt_sampler_take(size)) {
        lt_tracker_alloc(domain->origin, ptr, size);
    }
    else if (!ptr) {
        lt_tracker_unforget(old, &forgotten);
    }
    lt_hooks_reentrant = 0;
    return ptr;
}

static inline void
sampled_free(lt_domain *domain, void *ptr)
{
    if (lt_hooks_reentrant || !ptr || !lt_addrfilter_maybe(ptr)) {
        REAL(domain, free, ptr);
        return;
    }
    lt_hooks_reentrant = 1;
    lt_forgotten forgotten;
    lt_tracker_forget(ptr, &forgotten);
    REAL(domain, free, ptr);
    lt_hooks_reentrant = 0;
}

#define DEFINE_HOOKS(MODE, N)                                                                     \
    static void *MODE##_malloc_##N(void *ctx, size_t size)                                        \
    {                                                                                             \
        (void)ctx;                                                                                \
        return MODE##_malloc(&domains[N], size);                                                  \
    }                                                                                             \
    static void *MODE##_calloc_##N(void *ctx, size_t nelem, size_t elsize)                        \
    {                                                                                             \
        (void)ctx;                                                                                \
        return MODE##_calloc(&domains[N], nelem, elsize);                                         \
    }                                                                                             \
    static void *MODE##_realloc_##N(void *ctx, void *ptr, size_t size)                            \
    {                                                                                             \
        (void)ctx;                                                                                \
        return MODE##_realloc(&domains[N], ptr, size);                                            \
    }                                                                                             \
    static void MODE##_free_##N(void *ctx, void *ptr)                                             \
    {                                                                                             \
        (void)ctx;                                                                                \
        MODE##_free(&domains[N], ptr);                                                            \
    }

DEFINE_HOOKS(full, 0)
DEFINE_HOOKS(full, 1)
DEFINE_HOOKS(full, 2)
DEFINE_HOOKS(sampled, 0)
DEFINE_HOOKS(sampled, 1)
DEFINE_HOOKS(sampled, 2)

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
