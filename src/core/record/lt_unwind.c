/* lt_unwind.c - see lt_unwind.h. */
#define _GNU_SOURCE
#include "record/lt_unwind.h"

#include <dlfcn.h>
#include <elf.h>
#include <link.h>
#include <string.h>
#include <unistd.h>
#include <unwind.h>

typedef struct {
    uintptr_t start, end;
} lt_range;

/* Written by lt_unwind_init() before any hook can unwind; read-only after. */
static lt_range own_range, interpreter_range;

static int
in_range(const lt_range *r, uintptr_t pc)
{
    return pc >= r->start && pc < r->end;
}

typedef struct {
    uintptr_t base;
    lt_range *out;
} lt_range_query;

static int
find_range(struct dl_phdr_info *info, size_t size, void *arg)
{
    lt_range_query *q = arg;
    (void)size;
    if (info->dlpi_addr != q->base) {
        return 0;
    }
    uintptr_t lo = UINTPTR_MAX, hi = 0;
    for (int i = 0; i < info->dlpi_phnum; i++) {
        const ElfW(Phdr) *ph = &info->dlpi_phdr[i];
        if (ph->p_type == PT_LOAD) {
            uintptr_t start = info->dlpi_addr + ph->p_vaddr;
            lo = start < lo ? start : lo;
            hi = start + ph->p_memsz > hi ? start + ph->p_memsz : hi;
        }
    }
    q->out->start = lo;
    q->out->end = hi;
    return 1;
}

static int
range_of(const void *address, lt_range *out)
{
    Dl_info info;
    if (!address || !dladdr(address, &info)) {
        return -1;
    }
    lt_range_query q = {(uintptr_t)info.dli_fbase, out};
    /* dli_fbase is the lowest mapped address; dlpi_addr the load bias. They
     * agree for shared objects, not for a non-PIE executable. */
    if (!dl_iterate_phdr(find_range, &q)) {
        q.base = 0;
        if (!dl_iterate_phdr(find_range, &q)) {
            return -1;
        }
    }
    return 0;
}

int
lt_unwind_init(void)
{
    if (range_of((const void *)lt_unwind_init, &own_range) < 0 ||
        range_of(dlsym(RTLD_DEFAULT, "PyObject_Malloc"), &interpreter_range) < 0) {
        return -1;
    }
    return 0;
}

typedef struct {
    uintptr_t *out;
    int max, n;
    int interpreter_skipped; /* leading interpreter frames passed so far */
} lt_unwind_state;

/* The interpreter may call the allocator through an API function or two
 * (PyMem_RawMalloc, _PyMem_RawMalloc); more leading interpreter frames mean
 * the interpreter itself allocated, with no native code of interest. */
#define MAX_LEADING_INTERPRETER_FRAMES 2

static _Unwind_Reason_Code
unwind_frame(struct _Unwind_Context *context, void *arg)
{
    lt_unwind_state *s = arg;
    uintptr_t pc = (uintptr_t)_Unwind_GetIP(context);
    if (pc == 0) {
        return _URC_END_OF_STACK;
    }
    if (in_range(&own_range, pc)) {
        return _URC_NO_REASON;
    }
    if (in_range(&interpreter_range, pc)) {
        if (s->n > 0 || ++s->interpreter_skipped > MAX_LEADING_INTERPRETER_FRAMES) {
            return _URC_END_OF_STACK;
        }
        return _URC_NO_REASON;
    }
    s->out[s->n++] = pc;
    return s->n == s->max ? _URC_END_OF_STACK : _URC_NO_REASON;
}

int
lt_unwind_stack(uintptr_t *out, int max)
{
    lt_unwind_state state = {out, max, 0, 0};
    if (max > 0) {
        _Unwind_Backtrace(unwind_frame, &state);
    }
    return state.n;
}

/* The GNU build-id of an object from its PT_NOTE segments, or NULL. */
static const uint8_t *
build_id_of(const struct dl_phdr_info *info, size_t *len)
{
    for (int i = 0; i < info->dlpi_phnum; i++) {
        const ElfW(Phdr) *ph = &info->dlpi_phdr[i];
        if (ph->p_type != PT_NOTE) {
            continue;
        }
        const uint8_t *p = (const uint8_t *)(info->dlpi_addr + ph->p_vaddr);
        const uint8_t *end = p + ph->p_memsz;
        while (p + sizeof(ElfW(Nhdr)) <= end) {
            const ElfW(Nhdr) *note = (const ElfW(Nhdr) *)p;
            const uint8_t *name = p + sizeof(*note);
            const uint8_t *desc = name + ((note->n_namesz + 3) & ~3u);
            const uint8_t *next = desc + ((note->n_descsz + 3) & ~3u);
            if (next > end) {
                break;
            }
            if (note->n_type == NT_GNU_BUILD_ID && note->n_namesz == 4 &&
                memcmp(name, "GNU", 4) == 0) {
                *len = note->n_descsz;
                return desc;
            }
            p = next;
        }
    }
    return NULL;
}

typedef struct {
    lt_unwind_object_fn fn;
    void *arg;
    int result;
} lt_object_walk;

static int
visit_object(struct dl_phdr_info *info, size_t size, void *arg)
{
    lt_object_walk *walk = arg;
    (void)size;
    char exe[4096];
    const char *path = info->dlpi_name;
    if (!path || !path[0]) {
        /* The main program is the one object without a name. */
        ssize_t n = readlink("/proc/self/exe", exe, sizeof(exe) - 1);
        if (n <= 0) {
            return 0;
        }
        exe[n] = '\0';
        path = exe;
    }
    if (path[0] != '/') {
        return 0; /* the vDSO and the like: nothing to symbolize with */
    }
    uintptr_t lo = UINTPTR_MAX, hi = 0;
    for (int i = 0; i < info->dlpi_phnum; i++) {
        const ElfW(Phdr) *ph = &info->dlpi_phdr[i];
        if (ph->p_type == PT_LOAD) {
            uintptr_t start = info->dlpi_addr + ph->p_vaddr;
            lo = start < lo ? start : lo;
            hi = start + ph->p_memsz > hi ? start + ph->p_memsz : hi;
        }
    }
    if (lo >= hi) {
        return 0;
    }
    size_t id_len = 0;
    const uint8_t *id = build_id_of(info, &id_len);
    walk->result = walk->fn(walk->arg, info->dlpi_addr, lo, hi, path, strlen(path), id, id_len);
    return walk->result;
}

int
lt_unwind_for_each_object(lt_unwind_object_fn fn, void *arg)
{
    lt_object_walk walk = {fn, arg, 0};
    dl_iterate_phdr(visit_object, &walk);
    return walk.result;
}
