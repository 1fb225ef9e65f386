/* lt_native_dl.c - see lt_native_dl.h. */
#define _GNU_SOURCE
#include "record/lt_native_dl.h"

#include <link.h>
#include <string.h>
#include <unistd.h>

#include "base/lt_rawalloc.h"
#include "record/lt_native.h"
#include "record/lt_native_hooks.h"

__attribute__((visibility("hidden"))) void *lt_native_real_dlsym;

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
            handle = lt_native_real.dlopen(path, mode);
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
        return lt_native_real.dlopen(file, mode);
    }
    Lmid_t lmid = LM_ID_BASE;
    if (dlinfo(map, RTLD_DI_LMID, &lmid) == 0 && lmid != LM_ID_BASE) {
        return lt_native_real.dlmopen(lmid, file, mode);
    }
    if (file && !strchr(file, '/')) {
        void *loaded = lt_native_real.dlopen(file, mode | RTLD_NOLOAD);
        if (loaded) {
            /* Already loaded: dlopen again, so that mode's promotions
             * (RTLD_GLOBAL, RTLD_NODELETE) apply, then drop the extra reference. */
            void *handle = lt_native_real.dlopen(file, mode);
            lt_native_real.dlclose(loaded);
            return handle;
        }
        void *handle = open_in_caller_dirs(map, file, mode);
        if (handle) {
            return handle;
        }
    }
    return lt_native_real.dlopen(file, mode);
}

void *
lt_native_hook_dlopen(const char *file, int mode)
{
    void *handle = dlopen_as(__builtin_return_address(0), file, mode);
    if (handle) {
        lt_native_refresh();
    }
    return handle;
}

void *
lt_native_hook_dlmopen(Lmid_t lmid, const char *file, int mode)
{
    void *handle = lt_native_real.dlmopen(lmid, file, mode);
    if (handle) {
        lt_native_refresh();
    }
    return handle;
}

int
lt_native_hook_dlclose(void *handle)
{
    int r = lt_native_real.dlclose(handle);
    lt_native_refresh(); /* forget the objects that went away */
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
    return lt_native_replacement(lt_native_real.dlsym(handle, name));
}

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
