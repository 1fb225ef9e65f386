/* lt_native.c - see lt_native.h: which slots get which hook, the record of
 * what was patched, and install/uninstall. */
#define _GNU_SOURCE
#include "record/lt_native.h"

#include <pthread.h>
#include <string.h>

#include "base/lt_rawalloc.h"
#include "record/lt_elf.h"
#include "record/lt_native_hooks.h"

typedef struct {
    uintptr_t slot;
    uintptr_t original; /* what the slot held before */
} lt_patch;

typedef struct {
    uintptr_t base;
    uint64_t name_hash;
} lt_object;

static pthread_mutex_t PATCH_LOCK = PTHREAD_MUTEX_INITIALIZER;

/* Protected by PATCH_LOCK. */
static int installed; /* also read without the lock as a hint */

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
                                           "libubsan", "liblsan", "libtsan",    "libhwasan"};
    for (size_t i = 0; i < sizeof(prefixes) / sizeof(prefixes[0]); i++) {
        if (strncmp(base, prefixes[i], strlen(prefixes[i])) == 0) {
            return 1;
        }
    }
    return 0;
}

void *
lt_native_replacement(void *function)
{
    if (function && __atomic_load_n(&installed, __ATOMIC_ACQUIRE)) {
        const lt_hooked *h = lt_native_allocator_at((uintptr_t)function);
        if (h) {
            return h->hook;
        }
    }
    return function;
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

/* Records that slot held original, and points it at value. */
static int
patch_slot(const lt_elf_object *o, uintptr_t slot, uintptr_t original, uintptr_t value)
{
    if (grow((void **)&patches, &patches_cap, npatches, sizeof(lt_patch)) < 0) {
        return -1;
    }
    patches[npatches].slot = slot;
    patches[npatches].original = original;
    npatches++;
    return lt_elf_write_slot(o, slot, value);
}

/* A PLT or GOT slot of a hooked symbol, by the symbol's name. */
static int
visit_symbol_slot(const lt_elf_object *o, const ElfW(Rela) * rel, int restore, int loader_only)
{
    unsigned type = ELF64_R_TYPE(rel->r_info);
    if (type != R_X86_64_JUMP_SLOT && type != R_X86_64_GLOB_DAT) {
        return 0;
    }
    const char *name = lt_elf_symbol_name(o, rel);
    const lt_hooked *h = name ? lt_native_find_hooked(name) : NULL;
    if (!h || !*h->real || (loader_only && h->kind != LT_HOOK_LOADER)) {
        return 0;
    }
    uintptr_t slot = lt_elf_slot(o, rel);
    uintptr_t current = lt_elf_read_slot(slot);
    if (restore) {
        if (current == (uintptr_t)h->hook) {
            const lt_patch *p = find_patch(slot);
            return lt_elf_write_slot(o, slot, p ? p->original : (uintptr_t)*h->real);
        }
        return 0;
    }
    /* Patch slots bound to the global definition, or not bound yet (lazy
     * binding: the slot points back into the object's own PLT). */
    int lazy = current >= o->lo && current < o->hi;
    if (current == (uintptr_t)h->hook || (current != (uintptr_t)*h->real && !lazy)) {
        return 0;
    }
    return patch_slot(o, slot, current, (uintptr_t)h->hook);
}

/* A data slot (R_X86_64_64, GLOB_DAT, RELATIVE) holding the address of a
 * real allocator function: a function pointer initialised in data (libxml2's
 * xmlMalloc = malloc, an allocator table), whatever symbol it was resolved
 * through. Recognized by value, so aliases and addends are covered; slots
 * outside writable or RELRO pages (text relocations) are left alone. */
static int
visit_data_slot(const lt_elf_object *o, const ElfW(Rela) * rel, int restore)
{
    unsigned type = ELF64_R_TYPE(rel->r_info);
    if (type != R_X86_64_64 && type != R_X86_64_GLOB_DAT && type != R_X86_64_RELATIVE) {
        return 0;
    }
    uintptr_t slot = lt_elf_slot(o, rel);
    if (!lt_elf_slot_writable(o, slot)) {
        return 0;
    }
    uintptr_t current = lt_elf_read_slot(slot);
    if (restore) {
        const lt_hooked *h = lt_native_allocator_hooked_by(current);
        if (h) {
            const lt_patch *p = find_patch(slot);
            return lt_elf_write_slot(o, slot, p ? p->original : (uintptr_t)*h->real);
        }
        return 0;
    }
    const lt_hooked *h = lt_native_allocator_at(current);
    return h ? patch_slot(o, slot, current, (uintptr_t)h->hook) : 0;
}

static int
patch_relocations(const lt_elf_object *o, const ElfW(Rela) * table, size_t count, int restore,
                  int loader_only)
{
    int result = 0;
    for (size_t i = 0; i < count; i++) {
        int r = visit_symbol_slot(o, &table[i], restore, loader_only);
        if (r == 0 && !loader_only) {
            r = visit_data_slot(o, &table[i], restore);
        }
        if (r < 0) {
            result = -1;
        }
    }
    return result;
}

/* Patches (or restores) one object. Caller holds PATCH_LOCK. */
static int
patch_object(const lt_elf_object *o, int restore, int loader_only)
{
    int a = patch_relocations(o, o->jmprel, o->njmprel, restore, loader_only);
    int b = patch_relocations(o, o->rela, o->nrela, restore, loader_only);
    return a < 0 || b < 0 ? -1 : 0;
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
    lt_elf_object object;
    if (lt_elf_read(&object, info, lt_native_page_size) &&
        patch_object(&object, walk->restore, info->dlpi_addr == interpreter_base) < 0) {
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

void
lt_native_refresh(void)
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
    if (lt_native_find_real() < 0) {
        goto done;
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
    const lt_hooked *h = lt_native_find_hooked(symbol);
    return h ? (uintptr_t)h->hook : 0;
}