/* lt_native_dl.h - the loader hooks: objects loaded while tracking are
 * patched before their dlopen returns, and dlsym hands out the allocation
 * hooks in place of the allocator functions (ctypes finds libc's malloc that
 * way).
 *
 * glibc's dlopen and dlsym look at their caller's return address; called
 * from a hook they would see _core, so the hooks redo what depends on it
 * (the link-map namespace and the caller's DT_RPATH/DT_RUNPATH for dlopen,
 * RTLD_NEXT for dlsym: see lt_native_dl.c).
 *
 * Any thread, with or without the GIL: they call lt_native_refresh(), which
 * takes PATCH_LOCK; never on an allocation path.
 */
#ifndef LT_NATIVE_DL_H
#define LT_NATIVE_DL_H

#define _GNU_SOURCE
#include <dlfcn.h>

void *lt_native_hook_dlopen(const char *file, int mode);
void *lt_native_hook_dlmopen(Lmid_t lmid, const char *file, int mode);
int lt_native_hook_dlclose(void *handle);

/* The dlsym hook: a few instructions of assembly, see lt_native_dl.c. */
void *lt_native_dlsym_entry(void *handle, const char *name);

/* What lt_native_dlsym_entry jumps to for RTLD_NEXT: the real dlsym. Set by
 * lt_native_find_real(). */
__attribute__((visibility("hidden"))) extern void *lt_native_real_dlsym;

#endif /* LT_NATIVE_DL_H */
