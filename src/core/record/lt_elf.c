/* lt_elf.c - see lt_elf.h. */
#define _GNU_SOURCE
#include "record/lt_elf.h"

#include <string.h>
#include <sys/mman.h>

static uintptr_t
dyn_address(const struct dl_phdr_info *info, ElfW(Addr) value)
{
    /* glibc relocates the d_ptr entries it uses in place; other loaders
     * (and the vDSO) leave them relative to the base. */
    return value < info->dlpi_addr ? info->dlpi_addr + value : value;
}

int
lt_elf_read(lt_elf_object *o, const struct dl_phdr_info *info, size_t page_size)
{
    memset(o, 0, sizeof(*o));
    o->info = info;
    o->page_size = page_size;
    o->lo = UINTPTR_MAX;
    const ElfW(Dyn) *dynamic = NULL;
    for (int i = 0; i < info->dlpi_phnum; i++) {
        const ElfW(Phdr) *ph = &info->dlpi_phdr[i];
        uintptr_t start = info->dlpi_addr + ph->p_vaddr;
        if (ph->p_type == PT_DYNAMIC) {
            dynamic = (const ElfW(Dyn) *)start;
        }
        else if (ph->p_type == PT_LOAD) {
            if (start < o->lo) {
                o->lo = start;
            }
            if (start + ph->p_memsz > o->hi) {
                o->hi = start + ph->p_memsz;
            }
            if ((ph->p_flags & PF_W) && o->nwritable < LT_ELF_MAX_WRITABLE) {
                o->writable_lo[o->nwritable] = start;
                o->writable_hi[o->nwritable++] = start + ph->p_memsz;
            }
        }
        else if (ph->p_type == PT_GNU_RELRO) {
            o->relro_lo = start & ~(page_size - 1);
            o->relro_hi = (start + ph->p_memsz + page_size - 1) & ~(page_size - 1);
        }
    }
    if (!dynamic) {
        return 0;
    }
    uintptr_t jmprel = 0, rela = 0;
    size_t jmprel_size = 0, rela_size = 0;
    int plt_is_rela = 1;
    for (const ElfW(Dyn) *d = dynamic; d->d_tag != DT_NULL; d++) {
        switch (d->d_tag) {
        case DT_SYMTAB: o->symtab = (const ElfW(Sym) *)dyn_address(info, d->d_un.d_ptr); break;
        case DT_STRTAB: o->strtab = (const char *)dyn_address(info, d->d_un.d_ptr); break;
        case DT_JMPREL: jmprel = dyn_address(info, d->d_un.d_ptr); break;
        case DT_PLTRELSZ: jmprel_size = d->d_un.d_val; break;
        case DT_PLTREL: plt_is_rela = d->d_un.d_val == DT_RELA; break;
        case DT_RELA: rela = dyn_address(info, d->d_un.d_ptr); break;
        case DT_RELASZ: rela_size = d->d_un.d_val; break;
        default: break;
        }
    }
    if (!o->symtab || !o->strtab) {
        return 0;
    }
    if (jmprel && plt_is_rela) {
        o->jmprel = (const ElfW(Rela) *)jmprel;
        o->njmprel = jmprel_size / sizeof(ElfW(Rela));
    }
    if (rela) {
        o->rela = (const ElfW(Rela) *)rela;
        o->nrela = rela_size / sizeof(ElfW(Rela));
    }
    return 1;
}

const char *
lt_elf_symbol_name(const lt_elf_object *o, const ElfW(Rela) * rel)
{
    size_t index = ELF64_R_SYM(rel->r_info);
    if (index == 0) {
        return NULL;
    }
    const ElfW(Sym) *sym = &o->symtab[index];
    return sym->st_name ? o->strtab + sym->st_name : NULL;
}

static int
in_relro(const lt_elf_object *o, uintptr_t slot)
{
    return slot >= o->relro_lo && slot < o->relro_hi;
}

int
lt_elf_slot_writable(const lt_elf_object *o, uintptr_t slot)
{
    if (slot % sizeof(uintptr_t) != 0) {
        return 0;
    }
    if (in_relro(o, slot)) {
        return 1;
    }
    for (int i = 0; i < o->nwritable; i++) {
        if (slot >= o->writable_lo[i] && slot + sizeof(uintptr_t) <= o->writable_hi[i]) {
            return 1;
        }
    }
    return 0;
}

/* Slot accesses are not instrumented by AddressSanitizer: in an object
 * built with it, a relocated word may lie in the redzone of a global, mapped
 * and valid, yet poisoned for the program's own accesses. */
#define LT_ELF_UNSANITIZED __attribute__((no_sanitize_address, noinline))

LT_ELF_UNSANITIZED uintptr_t
lt_elf_read_slot(uintptr_t slot)
{
    return __atomic_load_n((const uintptr_t *)slot, __ATOMIC_ACQUIRE);
}

LT_ELF_UNSANITIZED int
lt_elf_write_slot(const lt_elf_object *o, uintptr_t slot, uintptr_t value)
{
    if (!lt_elf_slot_writable(o, slot)) {
        return -1;
    }
    if (in_relro(o, slot)) {
        void *page = (void *)(slot & ~(o->page_size - 1));
        if (mprotect(page, o->page_size, PROT_READ | PROT_WRITE) != 0) {
            return -1;
        }
        __atomic_store_n((uintptr_t *)slot, value, __ATOMIC_RELEASE);
        mprotect(page, o->page_size, PROT_READ);
        return 0;
    }
    __atomic_store_n((uintptr_t *)slot, value, __ATOMIC_RELEASE);
    return 0;
}
