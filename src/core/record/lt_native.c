/* lt_native.c - see lt_native.h. */
#define _GNU_SOURCE
#include "record/lt_native.h"

#include <dlfcn.h>
#include <elf.h>
#include <errno.h>
#include <link.h>
#include <pthread.h>
#include <stdlib.h>
#include <string.h>
#include <sys/mman.h>
#include <unistd.h>

#include "base/lt_rawalloc.h"
#include "record/lt_tracker.h"

/* ---- the real functions ----
 * Found once, by the first install, with dlsym(RTLD_DEFAULT): the definitions
 * every object binds to unless it asked otherwise. Written before any slot
 * points at a hook and never changed afterwards, so hooks read them freely. */

typedef void *(*lt_dlopen_fn)(const char *, int);

static struct {
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
    lt_dlopen_fn dlopen;
    void *(*dlmopen)(Lmid_t, const char *, int);
    int (*dlclose)(void *);
    void *(*dlsym)(void *, const char *);
} real;

/* The dlsym hook's entry (below, in assembly) jumps to this. */
__attribute__((visibility("hidden"))) void *lt_native_real_dlsym;

/* ---- allocation hooks ----
 * Each one sets the re-entry guard first (lt_tracker_native_enter), so
 * nothing it calls - nor a signal handler interrupting it - is recorded
 * twice or waits on a lock this thread holds. They never fail an allocation
 * the real function would have made. */

static void *
hook_malloc(size_t size)
{
    if (!lt_tracker_native_enter()) {
        return real.malloc(size);
    }
    void *ptr = real.malloc(size);
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
        return real.calloc(nelem, elsize);
    }
    void *ptr = real.calloc(nelem, elsize);
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
        real.free(ptr);
        return;
    }
    /* Forget before freeing: the address may be handed out again at once. */
    lt_tracker_native_free(ptr);
    real.free(ptr);
    lt_tracker_native_leave();
}

static void
hook_free_sized(void *ptr, size_t size)
{
    if (!ptr || !lt_tracker_native_enter()) {
        real.free_sized(ptr, size);
        return;
    }
    lt_tracker_native_free(ptr);
    real.free_sized(ptr, size);
    lt_tracker_native_leave();
}

/* realloc and reallocarray: the old block is forgotten before the call and
 * put back when the call fails (it is then untouched). */
static void *
hook_realloc(void *old, size_t size)
{
    if (!lt_tracker_native_enter()) {
        return real.realloc(old, size);
    }
    lt_native_forgotten forgotten = {0};
    if (old) {
        lt_tracker_native_forget(old, &forgotten);
    }
    void *ptr = real.realloc(old, size);
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
        return real.reallocarray(old, nelem, elsize);
    }
    lt_native_forgotten forgotten = {0};
    if (old) {
        lt_tracker_native_forget(old, &forgotten);
    }
    void *ptr = real.reallocarray(old, nelem, elsize);
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
        return real.posix_memalign(out, alignment, size);
    }
    int r = real.posix_memalign(out, alignment, size);
    if (r == 0 && *out) {
        lt_tracker_native_alloc(*out, size);
    }
    lt_tracker_native_leave();
    return r;
}

#define DEFINE_ALIGNED_HOOK(NAME)                                                        \
    static void *hook_##NAME(size_t alignment, size_t size)                              \
    {                                                                                    \
        if (!lt_tracker_native_enter()) {                                                \
            return real.NAME(alignment, size);                                           \
        }                                                                                \
        void *ptr = real.NAME(alignment, size);                                          \
        if (ptr) {                                                                       \
            lt_tracker_native_alloc(ptr, size);                                          \
        }                                                                                \
        lt_tracker_native_leave();                                                       \
        return ptr;                                                                      \
    }

DEFINE_ALIGNED_HOOK(aligned_alloc)
DEFINE_ALIGNED_HOOK(memalign)

static size_t page_size;

static void *
hook_valloc(size_t size)
{
    if (!lt_tracker_native_enter()) {
        return real.valloc(size);
    }
    void *ptr = real.valloc(size);
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
        return real.pvalloc(size);
    }
    void *ptr = real.pvalloc(size);
    if (ptr) {
        /* pvalloc rounds the size up to whole pages, and the caller may use them. */
        size_t rounded = size ? (size + page_size - 1) & ~(page_size - 1) : page_size;
        lt_tracker_native_alloc(ptr, rounded);
    }
    lt_tracker_native_leave();
    return ptr;
}

static void *
hook_mmap(void *addr, size_t len, int prot, int flags, int fd, off_t offset)
{
    if (!lt_tracker_native_enter()) {
        return real.mmap(addr, len, prot, flags, fd, offset);
    }
    void *ptr = real.mmap(addr, len, prot, flags, fd, offset);
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
        return real.mmap64(addr, len, prot, flags, fd, offset);
    }
    void *ptr = real.mmap64(addr, len, prot, flags, fd, offset);
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
        return real.munmap(addr, len);
    }
    /* Pages are gone once munmap returns and may be mapped again by another
     * thread: forget them first. A failed munmap (bad arguments) unmaps
     * nothing, and then so few bytes are misattributed that it is ignored. */
    lt_tracker_native_unmap(addr, len);
    int r = real.munmap(addr, len);
    lt_tracker_native_leave();
    return r;
}

/* ---- loader hooks ---- */

static void refresh_patches(void);
static void *replacement_for(void *function);

/* Directories where the caller of dlopen would look for a bare library name
 * and leaktrace._core would not: its DT_RPATH / DT_RUNPATH (with $ORIGIN
 * expanded by the loader). Searched first, since dlopen from our hook
 * searches as _core. Returns a handle, or NULL when the caller has no such
 * directory or none of them holds a loadable file of that name. */
static void *
open_in_caller_dirs(void *caller_handle, const char *file, int mode)
{
    Dl_serinfo size;
    if (dlinfo(caller_handle, RTLD_DI_SERINFOSIZE, &size) != 0) {
        return NULL;
    }
    Dl_serinfo *info = lt_raw_malloc(size.dls_size);
    if (!info) {
        return NULL;
    }
    memcpy(info, &size, sizeof(size));
    void *handle = NULL;
    if (dlinfo(caller_handle, RTLD_DI_SERINFO, info) != 0) {
        goto done;
    }
    Dl_info self;
    struct link_map *own_map = NULL;
    if (!dladdr1((void *)open_in_caller_dirs, &self, (void **)&own_map, RTLD_DL_LINKMAP) ||
        !own_map) {
        goto done;
    }
    Dl_serinfo own_size;
    if (dlinfo(own_map, RTLD_DI_SERINFOSIZE, &own_size) != 0) {
        goto done;
    }
    Dl_serinfo *own = lt_raw_malloc(own_size.dls_size);
    if (!own) {
        goto done;
    }
    memcpy(own, &own_size, sizeof(own_size));
    if (dlinfo(own_map, RTLD_DI_SERINFO, own) != 0) {
        lt_raw_free(own, own_size.dls_size);
        goto done;
    }
    char path[4096];
    for (unsigned i = 0; i < info->dls_cnt && !handle; i++) {
        const char *dir = info->dls_serpath[i].dls_name;
        int shared = 0;
        for (unsigned j = 0; j < own->dls_cnt && !shared; j++) {
            shared = strcmp(dir, own->dls_serpath[j].dls_name) == 0;
        }
        size_t dir_len = strlen(dir), file_len = strlen(file);
        if (shared || dir_len + 1 + file_len + 1 > sizeof(path)) {
            continue;
        }
        memcpy(path, dir, dir_len);
        path[dir_len] = '/';
        memcpy(path + dir_len + 1, file, file_len + 1);
        if (access(path, F_OK) == 0) {
            handle = real.dlopen(path, mode);
        }
    }
    lt_raw_free(own, own_size.dls_size);
done:
    lt_raw_free(info, size.dls_size);
    return handle;
}

/* dlopen on behalf of the code at `caller`. glibc's dlopen takes two things
 * from its caller's address: the link-map namespace the library goes into,
 * and the caller's own DT_RPATH/DT_RUNPATH for bare names. Called from here
 * it would use _core's, so both are redone for the caller:
 * - a caller in another namespace than the base one gets dlmopen into its
 *   namespace;
 * - a bare name not loaded yet is first looked for in the caller's own
 *   search directories (those _core does not share), then as usual.
 * Remaining difference: for a caller with DT_RUNPATH, a library of the same
 * name in LD_LIBRARY_PATH would have won; here the caller's RUNPATH wins. */
static void *
dlopen_as(const void *caller, const char *file, int mode)
{
    Dl_info info;
    struct link_map *map = NULL;
    if (!dladdr1(caller, &info, (void **)&map, RTLD_DL_LINKMAP) || !map) {
        return real.dlopen(file, mode);
    }
    Lmid_t lmid = LM_ID_BASE;
    if (dlinfo(map, RTLD_DI_LMID, &lmid) == 0 && lmid != LM_ID_BASE) {
        return real.dlmopen(lmid, file, mode);
    }
    if (file && !strchr(file, '/')) {
        void *loaded = real.dlopen(file, mode | RTLD_NOLOAD);
        if (loaded) {
            /* Already loaded: dlopen again, so that mode's promotions
             * (RTLD_GLOBAL, RTLD_NODELETE) apply, then drop the extra reference. */
            void *handle = real.dlopen(file, mode);
            real.dlclose(loaded);
            return handle;
        }
        void *handle = open_in_caller_dirs(map, file, mode);
        if (handle) {
            return handle;
        }
    }
    return real.dlopen(file, mode);
}

static void *
hook_dlopen(const char *file, int mode)
{
    void *handle = dlopen_as(__builtin_return_address(0), file, mode);
    if (handle) {
        refresh_patches();
    }
    return handle;
}

static void *
hook_dlmopen(Lmid_t lmid, const char *file, int mode)
{
    void *handle = real.dlmopen(lmid, file, mode);
    if (handle) {
        refresh_patches();
    }
    return handle;
}

static int
hook_dlclose(void *handle)
{
    int r = real.dlclose(handle);
    refresh_patches(); /* forget the objects that went away */
    return r;
}

/* dlsym: for RTLD_NEXT the loader looks at its caller's address, so the
 * entry (lt_native_dlsym_entry, assembly) jumps straight to the real dlsym
 * with the caller's return address in place; the answer then is whatever
 * comes after the caller, which is what an interposer asking for it wants.
 * Every other lookup goes through lt_native_dlsym_filtered, which hands out
 * our hook in place of an allocator function, as the GOT would. */
__attribute__((visibility("hidden"), used)) void *
lt_native_dlsym_filtered(void *handle, const char *name)
{
    return replacement_for(real.dlsym(handle, name));
}

void *lt_native_dlsym_entry(void *handle, const char *name);
__asm__(".text\n"
        ".p2align 4\n"
        ".globl lt_native_dlsym_entry\n"
        ".hidden lt_native_dlsym_entry\n"
        ".type lt_native_dlsym_entry, @function\n"
        "lt_native_dlsym_entry:\n"
        "    cmpq $-1, %rdi\n" /* RTLD_NEXT */
        "    je 1f\n"
        "    jmp lt_native_dlsym_filtered\n"
        "1:  jmp *lt_native_real_dlsym(%rip)\n"
        ".size lt_native_dlsym_entry, .-lt_native_dlsym_entry\n");

/* ---- the hooked symbols ---- */

typedef struct {
    const char *name;
    void *hook;
    void **real; /* &real.X */
} lt_hooked;

#define HOOKED(NAME, HOOK) {#NAME, (void *)(HOOK), (void **)&real.NAME}

static const lt_hooked hooked[] = {
    HOOKED(malloc, hook_malloc),
    HOOKED(calloc, hook_calloc),
    HOOKED(realloc, hook_realloc),
    HOOKED(reallocarray, hook_reallocarray),
    HOOKED(free, hook_free),
    HOOKED(free_sized, hook_free_sized),
    HOOKED(posix_memalign, hook_posix_memalign),
    HOOKED(aligned_alloc, hook_aligned_alloc),
    HOOKED(memalign, hook_memalign),
    HOOKED(valloc, hook_valloc),
    HOOKED(pvalloc, hook_pvalloc),
    HOOKED(mmap, hook_mmap),
    HOOKED(mmap64, hook_mmap64),
    HOOKED(munmap, hook_munmap),
    HOOKED(dlopen, hook_dlopen),
    HOOKED(dlmopen, hook_dlmopen),
    HOOKED(dlclose, hook_dlclose),
    HOOKED(dlsym, lt_native_dlsym_entry),
};

#define NHOOKED (sizeof(hooked) / sizeof(hooked[0]))
/* The allocator functions come first in hooked[]: dlsym replaces these.
 * The interpreter's slots are patched from dlopen on (imports load
 * extensions through its dlopen), not its allocator or dlsym slots. */
#define NALLOCATORS 14
#define NLOADER_FIRST 14
#define NLOADER_END 17

static const lt_hooked *
find_hooked(const char *name)
{
    for (size_t i = 0; i < NHOOKED; i++) {
        if (name[0] == hooked[i].name[0] && strcmp(name, hooked[i].name) == 0) {
            return &hooked[i];
        }
    }
    return NULL;
}

/* Protected by PATCH_LOCK. */
static int installed; /* also read without the lock as a hint */

static void *
replacement_for(void *function)
{
    if (function && __atomic_load_n(&installed, __ATOMIC_ACQUIRE)) {
        for (size_t i = 0; i < NALLOCATORS; i++) {
            if (function == *hooked[i].real) {
                return hooked[i].hook;
            }
        }
    }
    return function;
}

/* ---- patching ---- */

typedef struct {
    uintptr_t slot;
    uintptr_t original; /* what the slot held before */
} lt_patch;

typedef struct {
    uintptr_t base;
    uint64_t name_hash;
} lt_object;

static pthread_mutex_t PATCH_LOCK = PTHREAD_MUTEX_INITIALIZER;

/* Protected by PATCH_LOCK: every slot we wrote (newest last; a slot may
 * appear again after its object was unloaded and another one loaded in its
 * place), and the objects scanned, as of the last scan. */
static lt_patch *patches;
static size_t npatches, patches_cap;
static lt_object *objects;
static size_t nobjects, objects_cap;
static uintptr_t own_base, interpreter_base;

static uint64_t
hash_name(const char *s)
{
    uint64_t h = 1469598103934665603ull;
    for (; *s; s++) {
        h = (h ^ (uint8_t)*s) * 1099511628211ull;
    }
    return h;
}

static int
grow(void **array, size_t *cap, size_t count, size_t item)
{
    if (count < *cap) {
        return 0;
    }
    size_t new_cap = *cap ? *cap * 2 : 64;
    void *fresh = lt_raw_malloc(new_cap * item);
    if (!fresh) {
        return -1;
    }
    if (*array) {
        memcpy(fresh, *array, count * item);
        lt_raw_free(*array, *cap * item);
    }
    *array = fresh;
    *cap = new_cap;
    return 0;
}

static int
skipped_object(const struct dl_phdr_info *info)
{
    if (info->dlpi_addr == own_base) {
        return 1;
    }
    const char *name = info->dlpi_name ? info->dlpi_name : "";
    const char *slash = strrchr(name, '/');
    const char *base = slash ? slash + 1 : name;
    static const char *const prefixes[] = {"ld-linux", "libc.so", "linux-vdso", "libasan",
                                           "libubsan", "liblsan", "libtsan", "libhwasan"};
    for (size_t i = 0; i < sizeof(prefixes) / sizeof(prefixes[0]); i++) {
        if (strncmp(base, prefixes[i], strlen(prefixes[i])) == 0) {
            return 1;
        }
    }
    return 0;
}

typedef struct {
    const struct dl_phdr_info *info;
    uintptr_t lo, hi;             /* the object's mapped range */
    uintptr_t relro_lo, relro_hi; /* its RELRO pages */
    const ElfW(Sym) *symtab;
    const char *strtab;
    int restore;     /* 0: patch; 1: put the originals back */
    int loader_only; /* the interpreter: only dlopen, dlmopen and dlclose */
    int failed;
} lt_scan;

static uintptr_t
dyn_address(const struct dl_phdr_info *info, ElfW(Addr) value)
{
    /* glibc relocates the d_ptr entries it uses in place; other loaders
     * (and the vDSO) leave them relative to the base. */
    return value < info->dlpi_addr ? info->dlpi_addr + value : value;
}

static void
write_slot(lt_scan *scan, uintptr_t slot, uintptr_t value)
{
    if (slot >= scan->relro_lo && slot < scan->relro_hi) {
        void *page = (void *)(slot & ~(page_size - 1));
        if (mprotect(page, page_size, PROT_READ | PROT_WRITE) != 0) {
            scan->failed = 1;
            return;
        }
        __atomic_store_n((uintptr_t *)slot, value, __ATOMIC_RELEASE);
        mprotect(page, page_size, PROT_READ);
        return;
    }
    __atomic_store_n((uintptr_t *)slot, value, __ATOMIC_RELEASE);
}

static const lt_patch *
find_patch(uintptr_t slot)
{
    for (size_t i = npatches; i-- > 0;) {
        if (patches[i].slot == slot) {
            return &patches[i];
        }
    }
    return NULL;
}

static void
visit_slot(lt_scan *scan, const ElfW(Rela) *rel)
{
    unsigned type = ELF64_R_TYPE(rel->r_info);
    if (type != R_X86_64_JUMP_SLOT && type != R_X86_64_GLOB_DAT) {
        return;
    }
    const ElfW(Sym) *sym = &scan->symtab[ELF64_R_SYM(rel->r_info)];
    if (sym->st_name == 0) {
        return;
    }
    const lt_hooked *h = find_hooked(scan->strtab + sym->st_name);
    if (!h || !*h->real || (scan->loader_only && (h - hooked < NLOADER_FIRST || h - hooked >= NLOADER_END))) {
        return;
    }
    uintptr_t slot = scan->info->dlpi_addr + rel->r_offset;
    uintptr_t current = __atomic_load_n((uintptr_t *)slot, __ATOMIC_ACQUIRE);
    if (scan->restore) {
        if (current == (uintptr_t)h->hook) {
            const lt_patch *p = find_patch(slot);
            write_slot(scan, slot, p ? p->original : (uintptr_t)*h->real);
        }
        return;
    }
    /* Patch slots bound to the global definition, or not bound yet (lazy
     * binding: the slot points back into the object's own PLT). */
    int lazy = current >= scan->lo && current < scan->hi;
    if (current == (uintptr_t)h->hook || (current != (uintptr_t)*h->real && !lazy)) {
        return;
    }
    if (grow((void **)&patches, &patches_cap, npatches, sizeof(lt_patch)) < 0) {
        scan->failed = 1;
        return;
    }
    patches[npatches].slot = slot;
    patches[npatches].original = current;
    npatches++;
    write_slot(scan, slot, (uintptr_t)h->hook);
}

static void
visit_relocations(lt_scan *scan, uintptr_t table, size_t size)
{
    const ElfW(Rela) *rel = (const ElfW(Rela) *)table;
    for (size_t i = 0; i < size / sizeof(ElfW(Rela)); i++) {
        visit_slot(scan, &rel[i]);
    }
}

static void
scan_object(lt_scan *scan)
{
    const struct dl_phdr_info *info = scan->info;
    const ElfW(Dyn) *dynamic = NULL;
    scan->lo = UINTPTR_MAX;
    scan->hi = 0;
    scan->relro_lo = scan->relro_hi = 0;
    for (int i = 0; i < info->dlpi_phnum; i++) {
        const ElfW(Phdr) *ph = &info->dlpi_phdr[i];
        uintptr_t start = info->dlpi_addr + ph->p_vaddr;
        if (ph->p_type == PT_DYNAMIC) {
            dynamic = (const ElfW(Dyn) *)start;
        }
        else if (ph->p_type == PT_LOAD) {
            if (start < scan->lo) {
                scan->lo = start;
            }
            if (start + ph->p_memsz > scan->hi) {
                scan->hi = start + ph->p_memsz;
            }
        }
        else if (ph->p_type == PT_GNU_RELRO) {
            scan->relro_lo = start & ~(page_size - 1);
            scan->relro_hi = (start + ph->p_memsz + page_size - 1) & ~(page_size - 1);
        }
    }
    if (!dynamic) {
        return;
    }
    uintptr_t jmprel = 0, rela = 0;
    size_t jmprel_size = 0, rela_size = 0;
    int plt_is_rela = 1;
    scan->symtab = NULL;
    scan->strtab = NULL;
    for (const ElfW(Dyn) *d = dynamic; d->d_tag != DT_NULL; d++) {
        switch (d->d_tag) {
        case DT_SYMTAB:
            scan->symtab = (const ElfW(Sym) *)dyn_address(info, d->d_un.d_ptr);
            break;
        case DT_STRTAB:
            scan->strtab = (const char *)dyn_address(info, d->d_un.d_ptr);
            break;
        case DT_JMPREL:
            jmprel = dyn_address(info, d->d_un.d_ptr);
            break;
        case DT_PLTRELSZ:
            jmprel_size = d->d_un.d_val;
            break;
        case DT_PLTREL:
            plt_is_rela = d->d_un.d_val == DT_RELA;
            break;
        case DT_RELA:
            rela = dyn_address(info, d->d_un.d_ptr);
            break;
        case DT_RELASZ:
            rela_size = d->d_un.d_val;
            break;
        default:
            break;
        }
    }
    if (!scan->symtab || !scan->strtab) {
        return;
    }
    if (jmprel && plt_is_rela) {
        visit_relocations(scan, jmprel, jmprel_size);
    }
    if (rela) {
        visit_relocations(scan, rela, rela_size);
    }
}

typedef struct {
    int restore;
    int failed;
    lt_object *seen; /* the objects present now, for the next scan */
    size_t nseen, seen_cap;
} lt_walk;

static int
known_object(uintptr_t base, uint64_t name_hash)
{
    for (size_t i = 0; i < nobjects; i++) {
        if (objects[i].base == base && objects[i].name_hash == name_hash) {
            return 1;
        }
    }
    return 0;
}

static int
visit_object(struct dl_phdr_info *info, size_t size, void *arg)
{
    lt_walk *walk = arg;
    (void)size;
    if (skipped_object(info)) {
        return 0;
    }
    uint64_t name_hash = hash_name(info->dlpi_name ? info->dlpi_name : "");
    if (!walk->restore) {
        if (grow((void **)&walk->seen, &walk->seen_cap, walk->nseen, sizeof(lt_object)) < 0) {
            walk->failed = 1;
            return 0;
        }
        walk->seen[walk->nseen].base = info->dlpi_addr;
        walk->seen[walk->nseen].name_hash = name_hash;
        walk->nseen++;
        if (known_object(info->dlpi_addr, name_hash)) {
            return 0;
        }
    }
    lt_scan scan = {.info = info,
                    .restore = walk->restore,
                    .loader_only = info->dlpi_addr == interpreter_base};
    scan_object(&scan);
    if (scan.failed) {
        walk->failed = 1;
    }
    return 0;
}

/* Scans the objects not scanned yet (all of them when restoring).
 * Caller holds PATCH_LOCK. */
static int
walk_objects_locked(int restore)
{
    lt_walk walk = {.restore = restore};
    dl_iterate_phdr(visit_object, &walk);
    if (!restore) {
        if (objects) {
            lt_raw_free(objects, objects_cap * sizeof(lt_object));
        }
        objects = walk.seen;
        nobjects = walk.nseen;
        objects_cap = walk.seen_cap;
    }
    return walk.failed ? -1 : 0;
}

static void
refresh_patches(void)
{
    if (!__atomic_load_n(&installed, __ATOMIC_ACQUIRE)) {
        return;
    }
    pthread_mutex_lock(&PATCH_LOCK);
    if (installed) {
        walk_objects_locked(0);
    }
    pthread_mutex_unlock(&PATCH_LOCK);
}

static uintptr_t
object_base_of(void *address)
{
    Dl_info info;
    if (!address || !dladdr(address, &info)) {
        return 0;
    }
    return (uintptr_t)info.dli_fbase;
}

static int
find_real_functions(void)
{
    for (size_t i = 0; i < NHOOKED; i++) {
        *hooked[i].real = dlsym(RTLD_DEFAULT, hooked[i].name);
        /* free_sized is new in glibc 2.39: without it nothing imports it. */
        if (!*hooked[i].real && strcmp(hooked[i].name, "free_sized") != 0) {
            return -1;
        }
    }
    lt_native_real_dlsym = (void *)real.dlsym;
    return 0;
}

static void
release_tables_locked(void)
{
    if (patches) {
        lt_raw_free(patches, patches_cap * sizeof(lt_patch));
    }
    if (objects) {
        lt_raw_free(objects, objects_cap * sizeof(lt_object));
    }
    patches = NULL;
    objects = NULL;
    npatches = patches_cap = nobjects = objects_cap = 0;
}

int
lt_native_install(void)
{
    int result = -1;
    pthread_mutex_lock(&PATCH_LOCK);
    if (installed) {
        result = 0;
        goto done;
    }
    if (!real.malloc) {
        page_size = (size_t)sysconf(_SC_PAGESIZE);
        if (find_real_functions() < 0) {
            goto done;
        }
    }
    own_base = object_base_of((void *)lt_native_install);
    interpreter_base = object_base_of(dlsym(RTLD_DEFAULT, "PyObject_Malloc"));
    __atomic_store_n(&installed, 1, __ATOMIC_RELEASE);
    if (walk_objects_locked(0) < 0) {
        walk_objects_locked(1);
        __atomic_store_n(&installed, 0, __ATOMIC_RELEASE);
        release_tables_locked();
        goto done;
    }
    result = 0;
done:
    pthread_mutex_unlock(&PATCH_LOCK);
    return result;
}

void
lt_native_uninstall(void)
{
    pthread_mutex_lock(&PATCH_LOCK);
    if (installed) {
        walk_objects_locked(1);
        __atomic_store_n(&installed, 0, __ATOMIC_RELEASE);
        release_tables_locked();
    }
    pthread_mutex_unlock(&PATCH_LOCK);
}

int
lt_native_is_installed(void)
{
    return __atomic_load_n(&installed, __ATOMIC_ACQUIRE);
}

size_t
lt_native_patches(uintptr_t *slots, uintptr_t *originals, size_t max)
{
    pthread_mutex_lock(&PATCH_LOCK);
    size_t n = npatches;
    for (size_t i = 0; i < n && i < max; i++) {
        slots[i] = patches[i].slot;
        originals[i] = patches[i].original;
    }
    pthread_mutex_unlock(&PATCH_LOCK);
    return n;
}

uintptr_t
lt_native_hook_address(const char *symbol)
{
    const lt_hooked *h = find_hooked(symbol);
    return h ? (uintptr_t)h->hook : 0;
}
