/* lt_livetable.c - see lt_livetable.h. */
#include "record/lt_livetable.h"

#include <string.h>

#include "base/lt_rawalloc.h"

static inline size_t
home_slot(uintptr_t addr, size_t mask)
{
    /* Allocator addresses share their low bits; multiply to spread them. */
    uint64_t h = (uint64_t)addr * 0x9E3779B97F4A7C15ull;
    return (size_t)(h >> 29) & mask;
}

static lt_live_entry *
alloc_slots(size_t capacity)
{
    return lt_raw_calloc(capacity, sizeof(lt_live_entry));
}

int
lt_livetable_init(lt_livetable *table, size_t initial_capacity)
{
    size_t capacity = 1024;
    while (capacity < initial_capacity) {
        capacity <<= 1;
    }
    memset(table, 0, sizeof(*table));
    table->slots = alloc_slots(capacity);
    if (!table->slots) {
        return -1;
    }
    table->mask = capacity - 1;
    table->min_capacity = capacity;
    return 0;
}

void
lt_livetable_destroy(lt_livetable *table)
{
    lt_raw_free(table->slots, (table->mask + 1) * sizeof(lt_live_entry));
    lt_raw_free(table->big, table->big_capacity * sizeof(lt_big_entry));
    memset(table, 0, sizeof(*table));
}

void
lt_livetable_clear(lt_livetable *table)
{
    memset(table->slots, 0, (table->mask + 1) * sizeof(lt_live_entry));
    table->count = 0;
    table->nbig = 0;
}

/* Moves every entry into a new array of the given capacity (a power of two
 * that holds them all). Returns -1, changing nothing, when memory is short. */
static int
resize(lt_livetable *table, size_t capacity)
{
    size_t old_capacity = table->mask + 1;
    lt_live_entry *slots = alloc_slots(capacity);
    if (!slots) {
        return -1;
    }
    size_t mask = capacity - 1;
    for (size_t i = 0; i < old_capacity; i++) {
        lt_live_entry *e = &table->slots[i];
        if (e->addr) {
            size_t j = home_slot(e->addr, mask);
            while (slots[j].addr) {
                j = (j + 1) & mask;
            }
            slots[j] = *e;
        }
    }
    lt_raw_free(table->slots, old_capacity * sizeof(lt_live_entry));
    table->slots = slots;
    table->mask = mask;
    return 0;
}

static lt_big_entry *
find_big(lt_livetable *table, uintptr_t addr)
{
    for (size_t i = 0; i < table->nbig; i++) {
        if (table->big[i].addr == addr) {
            return &table->big[i];
        }
    }
    return NULL;
}

static uint64_t
take_big(lt_livetable *table, uintptr_t addr)
{
    lt_big_entry *e = find_big(table, addr);
    if (!e) {
        return LT_LIVE_BIG_SIZE;
    }
    uint64_t size = e->size;
    *e = table->big[--table->nbig];
    return size;
}

static int
put_big(lt_livetable *table, uintptr_t addr, uint64_t size)
{
    if (table->nbig == table->big_capacity) {
        size_t capacity = table->big_capacity ? table->big_capacity * 2 : 16;
        lt_big_entry *big = lt_raw_malloc(capacity * sizeof(lt_big_entry));
        if (!big) {
            return -1;
        }
        if (table->nbig) {
            memcpy(big, table->big, table->nbig * sizeof(lt_big_entry));
        }
        lt_raw_free(table->big, table->big_capacity * sizeof(lt_big_entry));
        table->big = big;
        table->big_capacity = capacity;
    }
    table->big[table->nbig].addr = addr;
    table->big[table->nbig].size = size;
    table->nbig++;
    return 0;
}

int
lt_livetable_insert(lt_livetable *table, uintptr_t addr, uint64_t size, uint32_t node,
                    uint64_t *replaced_size, uint32_t *replaced_node)
{
    size_t capacity = table->mask + 1;
    if ((table->count + 1) * 4 > capacity * 3 && resize(table, capacity * 2) < 0) {
        return -1;
    }
    uint32_t inline_size = size >= LT_LIVE_BIG_SIZE ? LT_LIVE_BIG_SIZE : (uint32_t)size;
    size_t mask = table->mask;
    size_t i = home_slot(addr, mask);
    for (;;) {
        lt_live_entry *e = &table->slots[i];
        if (e->addr == addr) {
            /* A block we missed the free of (freed through an untracked path).
             * Touch the side table only in ways that cannot fail halfway. */
            int was_big = e->size == LT_LIVE_BIG_SIZE;
            lt_big_entry *old_big = was_big ? find_big(table, addr) : NULL;
            *replaced_size = old_big ? old_big->size : e->size;
            *replaced_node = e->node;
            if (old_big && inline_size == LT_LIVE_BIG_SIZE) {
                old_big->size = size;
            }
            else if (old_big) {
                take_big(table, addr);
            }
            else if (inline_size == LT_LIVE_BIG_SIZE && put_big(table, addr, size) < 0) {
                return -1;
            }
            e->size = inline_size;
            e->node = node;
            return 1;
        }
        if (!e->addr) {
            if (inline_size == LT_LIVE_BIG_SIZE && put_big(table, addr, size) < 0) {
                return -1;
            }
            e->addr = addr;
            e->size = inline_size;
            e->node = node;
            table->count++;
            return 0;
        }
        i = (i + 1) & mask;
    }
}

int
lt_livetable_remove(lt_livetable *table, uintptr_t addr, uint64_t *size, uint32_t *node)
{
    size_t mask = table->mask;
    size_t i = home_slot(addr, mask);
    for (;;) {
        lt_live_entry *e = &table->slots[i];
        if (!e->addr) {
            return 0;
        }
        if (e->addr == addr) {
            break;
        }
        i = (i + 1) & mask;
    }
    lt_live_entry *hole = &table->slots[i];
    *size = hole->size == LT_LIVE_BIG_SIZE ? take_big(table, addr) : hole->size;
    *node = hole->node;
    table->count--;

    /* Backward-shift deletion: move later members of the probe run into the
     * hole when their home slot does not lie cyclically in (hole, j]. */
    size_t j = i;
    for (;;) {
        j = (j + 1) & mask;
        lt_live_entry *e = &table->slots[j];
        if (!e->addr) {
            break;
        }
        size_t home = home_slot(e->addr, mask);
        int home_in_range = i <= j ? (i < home && home <= j) : (i < home || home <= j);
        if (!home_in_range) {
            table->slots[i] = *e;
            i = j;
        }
    }
    table->slots[i].addr = 0;

    size_t capacity = table->mask + 1;
    if (capacity > table->min_capacity && table->count * 8 < capacity) {
        resize(table, capacity / 2); /* without memory, the table stays as it is */
    }
    return 1;
}

size_t
lt_livetable_memory(const lt_livetable *table)
{
    return (table->mask + 1) * sizeof(lt_live_entry) + table->big_capacity * sizeof(lt_big_entry);
}

int
lt_livetable_find(lt_livetable *table, uintptr_t addr, uint64_t *size, uint32_t *node)
{
    for (size_t i = home_slot(addr, table->mask);; i = (i + 1) & table->mask) {
        const lt_live_entry *e = &table->slots[i];
        if (!e->addr) {
            return 0;
        }
        if (e->addr == addr) {
            lt_big_entry *big = e->size == LT_LIVE_BIG_SIZE ? find_big(table, addr) : NULL;
            *size = big ? big->size : e->size;
            *node = e->node;
            return 1;
        }
    }
}

size_t
lt_livetable_scan(lt_livetable *table, size_t *cursor, size_t nslots, uint64_t min_size,
                  lt_live_block *out, size_t max)
{
    size_t capacity = table->mask + 1, n = 0, i = *cursor;
    size_t end = nslots < capacity - i ? i + nslots : capacity;
    for (; i < end && n < max; i++) {
        const lt_live_entry *e = &table->slots[i];
        if (!e->addr || e->size < min_size) {
            continue;
        }
        lt_big_entry *big = e->size == LT_LIVE_BIG_SIZE ? find_big(table, e->addr) : NULL;
        out[n++] = (lt_live_block){e->addr, big ? big->size : e->size, e->node};
    }
    *cursor = i;
    return n;
}
