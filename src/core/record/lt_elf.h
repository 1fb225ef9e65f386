/* lt_elf.h - the relocations of a loaded ELF object, and writing to the
 * slots they filled.
 *
 * lt_elf_read() reads what the loader left in memory (the program headers
 * that dl_iterate_phdr reports and the dynamic section): the object's mapped
 * range, its writable segments, its RELRO pages, its dynamic symbol and string
 * tables, and its RELA tables (DT_JMPREL for the PLT, DT_RELA for data). Only
 * x86-64 RELA objects are read; REL tables are left alone.
 *
 * lt_elf_write_slot() writes one aligned 8-byte word with a release store, so
 * a thread reading the slot meanwhile sees the old or the new value. A slot in
 * RELRO pages is made writable with mprotect for the store and read-only
 * again afterwards; a slot in no writable segment and not in RELRO (text
 * relocations) is refused.
 *
 * No state of its own: the caller keeps the objects from being unloaded
 * while it reads them (it runs inside dl_iterate_phdr, under the loader's
 * lock). No allocation.
 */
#ifndef LT_ELF_H
#define LT_ELF_H

#define _GNU_SOURCE
#include <elf.h>
#include <link.h>
#include <stddef.h>
#include <stdint.h>

#define LT_ELF_MAX_WRITABLE 8

typedef struct {
    const struct dl_phdr_info *info;
    uintptr_t lo, hi;             /* the object's mapped range */
    uintptr_t relro_lo, relro_hi; /* its RELRO pages (page-aligned), or 0, 0 */
    uintptr_t writable_lo[LT_ELF_MAX_WRITABLE], writable_hi[LT_ELF_MAX_WRITABLE];
    int nwritable;
    const ElfW(Sym) * symtab;
    const char *strtab;
    const ElfW(Rela) * jmprel, *rela; /* NULL when absent */
    size_t njmprel, nrela;
    size_t page_size;
} lt_elf_object;

/* Reads the object described by info. Returns 1 when it has a dynamic
 * section with symbol and string tables, 0 otherwise (nothing to patch). */
int lt_elf_read(lt_elf_object *o, const struct dl_phdr_info *info, size_t page_size);

/* The address of the slot a relocation fills. */
static inline uintptr_t
lt_elf_slot(const lt_elf_object *o, const ElfW(Rela) * rel)
{
    return o->info->dlpi_addr + rel->r_offset;
}

/* The name of the symbol a relocation refers to, or NULL (none, or empty). */
const char *lt_elf_symbol_name(const lt_elf_object *o, const ElfW(Rela) * rel);

/* Whether a store to slot can be made (a writable segment, or RELRO). */
int lt_elf_slot_writable(const lt_elf_object *o, uintptr_t slot);

/* The word in slot (an acquire load). */
uintptr_t lt_elf_read_slot(uintptr_t slot);

/* Writes value to slot (see above). Returns 0, or -1 when the slot is not
 * writable or mprotect failed (nothing written). */
int lt_elf_write_slot(const lt_elf_object *o, uintptr_t slot, uintptr_t value);

#endif /* LT_ELF_H */
