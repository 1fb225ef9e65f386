/* lt_native.h - native allocations: the malloc family and mmap, seen by
 * rewriting the GOT slots of loaded ELF objects.
 *
 * lt_native_install() walks every loaded object (dl_iterate_phdr) and, in its
 * PLT relocations (R_X86_64_JUMP_SLOT) and data relocations
 * (R_X86_64_GLOB_DAT), points the slots of malloc, calloc, realloc,
 * reallocarray, free, free_sized, posix_memalign, aligned_alloc, memalign,
 * valloc, pvalloc, mmap, mmap64 and munmap at leaktrace's hooks. Data words
 * that relocations (R_X86_64_64, GLOB_DAT, RELATIVE) filled with the address
 * of one of these functions - function pointers initialised in data, such as
 * libxml2's xmlMalloc - are pointed at the hooks too. The hooks
 * call the global definition (what dlsym(RTLD_DEFAULT) finds) and report to
 * the tracker (lt_tracker_native_*). Slots of dlopen, dlmopen, dlclose and
 * dlsym are hooked as well: objects loaded later are patched as soon as their
 * dlopen returns, and dlsym hands out the hooks instead of the allocator
 * itself (ctypes finds libc's malloc that way).
 *
 * Objects left alone: leaktrace._core itself (its own memory must never be
 * traced), libc and the dynamic loader (their internal calls do not go
 * through a GOT), the vDSO and sanitizer runtimes. In the object that holds
 * the interpreter (libpython, or a python executable linked statically) only
 * dlopen, dlmopen and dlclose are hooked, since imports load extensions
 * through them: its allocations are seen through the PyMem domains, and its
 * direct calls are pymalloc's arenas and the frame stack, whose contents are
 * counted object by object (see docs/architecture.md). An object whose slot is bound to another
 * definition than the global one (RTLD_DEEPBIND, its own allocator) is left
 * alone for that symbol.
 *
 * Slots in RELRO pages are made writable with mprotect for the write and
 * read-only again after it. Every slot is written with one aligned 8-byte
 * store, so a thread calling through it sees the old or the new function.
 *
 * lt_native_uninstall() puts back the value each slot held before, in every
 * object still loaded, where the slot still holds our hook. A slot someone
 * else rewrote since keeps their value (which may chain to our hook): the
 * hooks stay valid code for the life of the process and merely forward once
 * the tracker has stopped.
 *
 * Locking. install/uninstall run with the GIL held; the patching itself runs
 * inside dl_iterate_phdr, under the loader's own lock, so no object can be
 * loaded or unloaded meanwhile. The dlopen/dlclose hooks patch from whatever
 * thread loaded a library (with or without the GIL), so the list of patched
 * objects and slots is guarded by PATCH_LOCK (a pthread mutex, never taken on
 * an allocation path). Lock order: PATCH_LOCK, then the loader's lock.
 *
 * The units: lt_native.c (which slots get which hook, what was patched,
 * install/uninstall), lt_elf.c (reading an object's relocations, writing a
 * slot), lt_native_hooks.c (the allocation hooks and the real functions) and
 * lt_native_dl.c (the loader hooks).
 *
 * Signals and fork. The allocation hooks take no lock of their own: they set
 * the tracker's thread-local re-entry guard before anything else, so a signal
 * handler that allocates while a hook runs on the same thread passes straight
 * through to the real function. After fork the child's tracker stops
 * recording; the slots stay patched and forward until lt_native_uninstall().
 */
#ifndef LT_NATIVE_H
#define LT_NATIVE_H

#include <stddef.h>
#include <stdint.h>

/* Patches every loaded object. Returns 0, or -1 when the real functions
 * cannot be found or memory runs out (nothing is left patched then). */
int lt_native_install(void);

/* Restores every slot still holding our hook. Safe to call when not
 * installed. */
void lt_native_uninstall(void);

int lt_native_is_installed(void);

/* For the tests. Copies up to max of the slots patched now (slot address and
 * the value it held before) and returns how many there are in all. */
size_t lt_native_patches(uintptr_t *slots, uintptr_t *originals, size_t max);
/* The address our hook for a symbol puts in a slot (0 when not hooked). */
uintptr_t lt_native_hook_address(const char *symbol);

/* For the loader hooks (lt_native_dl.c), from any thread. Patches the
 * objects loaded since the last scan and forgets the ones unloaded; takes
 * PATCH_LOCK. Does nothing when not installed. */
void lt_native_refresh(void);
/* The hook to hand out in place of function when it is a real allocator
 * function and the hooks are installed; function itself otherwise. No lock. */
void *lt_native_replacement(void *function);

#endif /* LT_NATIVE_H */
