/* lt_livetable.c - see lt_livetable.h. */
#include "record/lt_livetable.h"

#include <string.h>

#include "base/lt_rawalloc.h"

static inline uint64_t
hash_of(uintptr_t addr)
{
    /* Allocator addresses share their low bits; multiply to spread them. */
    return (uint64_t)addr * 0x9E3779B97F4A7C15ull;
}

static inline size_t
slot_of_hash(uint64_t h, size_t mask)
{
    return (size_t)(h >> 29) & mask;
}

static inline size_t
home_slot(uintptr_t addr, size_t mask)
{
    return slot_of_hash(hash_of(addr), mask);
}

/* The nursery's slot: bits of the product above those of a small table's home
 * slot, so that the blocks of one nursery slot spread over the table. */
static inline lt_live_entry *
nursery_slot(const lt_livetable *table, uint64_t h)
{
    return &table->nursery[(size_t)(h >> 40) & table->nursery_mask];
}

static lt_live_entry *
alloc_slots(size_t capacity)
{
    return lt_raw_calloc(capacity, sizeof(lt_live_entry));
}

int
lt_livetable_init(lt_livetable *table, size_t initial_capacity, size_t nursery_slots)
{
    size_t capacity = 1024, nursery = 1;
    while (capacity < initial_capacity) {
        capacity <<= 1;
    }
    while (nursery < nursery_slots && nursery < LT_LIVE_MAX_NURSERY) {
        nursery <<= 1;
    }
    memset(table, 0, sizeof(*table));
    table->slots = alloc_slots(capacity);
    table->nursery = alloc_slots(nursery);
    if (!table->slots || !table->nursery) {
        lt_raw_free(table->slots, capacity * sizeof(lt_live_entry));
        lt_raw_free(table->nursery, nursery * sizeof(lt_live_entry));
        memset(table, 0, sizeof(*table));
        return -1;
    }
    table->mask = capacity - 1;
    table->min_capacity = capacity;
    table->nursery_mask = nursery - 1;
    return 0;
}

void
lt_livetable_destroy(lt_livetable *table)
{
    lt_raw_free(table->slots, (table->mask + 1) * sizeof(lt_live_entry));
    if (table->old) {
        lt_raw_free(table->old, (table->old_mask + 1) * sizeof(lt_live_entry));
    }
    lt_raw_free(table->nursery, (table->nursery_mask + 1) * sizeof(lt_live_entry));
    lt_raw_free(table->big, table->big_capacity * sizeof(lt_big_entry));
    memset(table, 0, sizeof(*table));
}

void
lt_livetable_clear(lt_livetable *table)
{
    memset(table->slots, 0, (table->mask + 1) * sizeof(lt_live_entry));
    memset(table->nursery, 0, (table->nursery_mask + 1) * sizeof(lt_live_entry));
    table->nursery_count = 0;
    if (table->old) {
        lt_raw_free(table->old, (table->old_mask + 1) * sizeof(lt_live_entry));
        table->old = NULL;
        table->old_mask = table->old_count = table->cursor = 0;
    }
    table->count = 0;
    table->nbig = 0;
}

/* ---- incremental resizing ----
 * A resize allocates the new array and leaves the entries in the old one,
 * which is drained a few slots per insert or remove (GROW_STEP,
 * SHRINK_STEP), in index order, so that no call moves more than a handful of entries. While it
 * drains, an address lives in exactly one of the two arrays: lookups try the
 * new one, then the old one. Nothing is inserted into the old array; an entry
 * leaving it (moved, or removed by the program) leaves a MOVED marker, which
 * lookups pass over as they would an occupied slot, so every entry still
 * left in the old array stays reachable from its home slot. */

#define MOVED ((uintptr_t)1) /* no block starts at address 1 */

/* Slots of the old array visited per call. A growth drains C slots while at
 * most 3C/4 inserts bring the new array (2C) to its next growth; a shrink
 * drains C mostly empty slots while at most C/16 removes bring the new array
 * (C/2) to its next shrink. Both steps finish well before. While it drains,
 * a call also probes the old array, so a growth drains faster than it must:
 * a dozen moves per call are still a short hold of the lock. */
#define GROW_STEP 16
#define SHRINK_STEP 32

static int
migrating(const lt_livetable *table)
{
    return table->old != NULL;
}

/* Puts an entry into the current array, which has room (its load stays under
 * three quarters: see start_resize). */
static void
place(lt_livetable *table, const lt_live_entry *entry)
{
    size_t i = home_slot(entry->addr, table->mask);
    while (table->slots[i].addr) {
        i = (i + 1) & table->mask;
    }
    table->slots[i] = *entry;
}

static void
finish_if_drained(lt_livetable *table)
{
    if (table->old_count == 0 || table->cursor > table->old_mask) {
        lt_raw_free(table->old, (table->old_mask + 1) * sizeof(lt_live_entry));
        table->old = NULL;
        table->old_mask = 0;
        table->old_count = 0;
        table->cursor = 0;
    }
}

/* Moves the entries of up to steps slots of the old array, from the cursor on. */
static void
migrate(lt_livetable *table, size_t steps)
{
    for (; steps > 0 && table->cursor <= table->old_mask; steps--) {
        lt_live_entry *e = &table->old[table->cursor++];
        if (e->addr > MOVED) {
            place(table, e);
            e->addr = MOVED;
            table->old_count--;
        }
    }
    finish_if_drained(table);
}

/* Starts moving every entry into a new array of the given capacity (a power
 * of two). A resize still draining is finished first, in one go: the growth
 * and shrink thresholds are far enough apart that this does not happen unless
 * the program alternates a burst and a mass free faster than a drain.
 * Returns -1, changing nothing, when memory is short. */
static int
start_resize(lt_livetable *table, size_t capacity)
{
    if (migrating(table)) {
        migrate(table, table->old_mask + 1);
    }
    lt_live_entry *slots = alloc_slots(capacity);
    if (!slots) {
        return -1;
    }
    table->old = table->slots;
    table->old_mask = table->mask;
    table->old_count = table->count - table->nursery_count;
    table->cursor = 0;
    table->step = capacity > table->mask ? GROW_STEP : SHRINK_STEP;
    table->slots = slots;
    table->mask = capacity - 1;
    finish_if_drained(table);
    return 0;
}

/* The old array's entry for addr (h its hash), or NULL. */
static lt_live_entry *
find_old(lt_livetable *table, uintptr_t addr, uint64_t h)
{
    if (!migrating(table)) {
        return NULL;
    }
    for (size_t i = slot_of_hash(h, table->old_mask);; i = (i + 1) & table->old_mask) {
        lt_live_entry *e = &table->old[i];
        if (e->addr == addr) {
            return e;
        }
        if (!e->addr) {
            return NULL;
        }
    }
}

/* The entry for addr (h its hash) in the current or the old array, or NULL. */
static lt_live_entry *
find_in_arrays(lt_livetable *table, uintptr_t addr, uint64_t h)
{
    for (size_t i = slot_of_hash(h, table->mask);; i = (i + 1) & table->mask) {
        lt_live_entry *e = &table->slots[i];
        if (e->addr == addr) {
            return e;
        }
        if (!e->addr) {
            return find_old(table, addr, h);
        }
    }
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

/* Gives e, the entry of a live addr, new values; returns 1 and the old ones.
 * A block we missed the free of (freed through an untracked path). Touches the
 * side table only in ways that cannot fail halfway: -1 when it has no room for
 * a new big size, with the entry as it was. */
static int
replace(lt_livetable *table, lt_live_entry *e, uint64_t size, uint32_t inline_size, uint32_t node,
        uint64_t *replaced_size, uint32_t *replaced_node)
{
    lt_big_entry *old_big = e->size == LT_LIVE_BIG_SIZE ? find_big(table, e->addr) : NULL;
    *replaced_size = old_big ? old_big->size : e->size;
    *replaced_node = e->node;
    if (old_big && inline_size == LT_LIVE_BIG_SIZE) {
        old_big->size = size;
    }
    else if (old_big) {
        take_big(table, e->addr);
    }
    else if (inline_size == LT_LIVE_BIG_SIZE && put_big(table, e->addr, size) < 0) {
        return -1;
    }
    e->size = inline_size;
    e->node = node;
    return 1;
}

/* Before an entry is placed into the current array: grows the table when the
 * entry would make it more than three quarters full, and moves a step of a
 * resize. Returns -1, changing nothing, when the growth finds no memory. */
static int
make_room(lt_livetable *table)
{
    size_t capacity = table->mask + 1;
    if ((table->count - table->nursery_count - table->old_count + 1) * 4 > capacity * 3 &&
        start_resize(table, capacity * 2) < 0) {
        return -1;
    }
    if (migrating(table)) {
        migrate(table, table->step);
    }
    return 0;
}

/* Moves the nursery entry n into the current array. Returns -1, changing
 * nothing, when the table cannot grow. */
static int
evict(lt_livetable *table, lt_live_entry *n)
{
    if (make_room(table) < 0) {
        return -1;
    }
    place(table, n);
    n->addr = 0;
    table->nursery_count--;
    return 0;
}

/* Inserts addr (h its hash, not in the nursery) straight into the arrays: one
 * probe run finds its stale entry or the empty slot to fill. */
static int
insert_in_arrays(lt_livetable *table, uintptr_t addr, uint64_t h, uint64_t size,
                 uint32_t inline_size, uint32_t node, uint64_t *replaced_size,
                 uint32_t *replaced_node)
{
    if (make_room(table) < 0) {
        return -1;
    }
    lt_live_entry *old = find_old(table, addr, h);
    if (old) {
        return replace(table, old, size, inline_size, node, replaced_size, replaced_node);
    }
    for (size_t i = slot_of_hash(h, table->mask);; i = (i + 1) & table->mask) {
        lt_live_entry *e = &table->slots[i];
        if (e->addr == addr) {
            return replace(table, e, size, inline_size, node, replaced_size, replaced_node);
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
    }
}

int
lt_livetable_insert(lt_livetable *table, uintptr_t addr, uint64_t size, uint32_t node,
                    uint64_t *replaced_size, uint32_t *replaced_node)
{
    uint64_t h = hash_of(addr);
    uint32_t inline_size = size >= LT_LIVE_BIG_SIZE ? LT_LIVE_BIG_SIZE : (uint32_t)size;
    lt_live_entry *n = nursery_slot(table, h);
    if (n->addr == addr && n->size != LT_LIVE_FREED) {
        return replace(table, n, size, inline_size, node, replaced_size, replaced_node);
    }
    int marked = n->addr == addr; /* the slot holds addr's free mark */
    if (table->mask >= LT_LIVE_NURSERY_TABLE_LIMIT) {
        /* A large table: the block goes straight there (see the header). */
        int r = insert_in_arrays(table, addr, h, size, inline_size, node, replaced_size,
                                 replaced_node);
        if (r >= 0 && marked) {
            n->addr = 0; /* the mark would say addr is in no array */
        }
        return r;
    }
    if (!marked) { /* addr may be in an array */
        lt_live_entry *e = find_in_arrays(table, addr, h);
        if (e) {
            return replace(table, e, size, inline_size, node, replaced_size, replaced_node);
        }
    }
    /* A new block goes to the nursery; the slot's block, if any, has lived
     * long enough to move to the table. */
    if (n->addr && n->size != LT_LIVE_FREED && evict(table, n) < 0) {
        return -1;
    }
    if (inline_size == LT_LIVE_BIG_SIZE && put_big(table, addr, size) < 0) {
        return -1; /* the eviction moved an entry, which changes no lookup */
    }
    n->addr = addr;
    n->size = inline_size;
    n->node = node;
    table->nursery_count++;
    table->count++;
    return 0;
}

/* Removes addr (h its hash) from the old array, or returns 0. */
static int
remove_old(lt_livetable *table, uintptr_t addr, uint64_t h, uint64_t *size, uint32_t *node)
{
    lt_live_entry *e = find_old(table, addr, h);
    if (!e) {
        return 0;
    }
    *size = e->size == LT_LIVE_BIG_SIZE ? take_big(table, addr) : e->size;
    *node = e->node;
    e->addr = MOVED;
    table->old_count--;
    table->count--;
    finish_if_drained(table);
    return 1;
}

/* Leaves the free mark of addr in its nursery slot n, unless a live block is there. */
static inline void
mark_freed(lt_live_entry *n, uintptr_t addr)
{
    if (!n->addr || n->size == LT_LIVE_FREED) {
        n->addr = addr;
        n->size = LT_LIVE_FREED;
    }
}

int
lt_livetable_remove(lt_livetable *table, uintptr_t addr, uint64_t *size, uint32_t *node)
{
    uint64_t h = hash_of(addr);
    lt_live_entry *n = nursery_slot(table, h);
    if (n->addr == addr) {
        if (n->size == LT_LIVE_FREED) {
            return 0; /* freed already, and in no array */
        }
        /* A short-lived block: no probe, no shift. */
        *size = n->size == LT_LIVE_BIG_SIZE ? take_big(table, addr) : n->size;
        *node = n->node;
        n->size = LT_LIVE_FREED;
        table->nursery_count--;
        table->count--;
        return 1;
    }
    if (migrating(table)) {
        migrate(table, table->step);
    }
    size_t mask = table->mask;
    size_t i = slot_of_hash(h, mask);
    for (;;) {
        lt_live_entry *e = &table->slots[i];
        if (!e->addr) {
            if (!remove_old(table, addr, h, size, node)) {
                return 0;
            }
            mark_freed(n, addr);
            return 1;
        }
        if (e->addr == addr) {
            break;
        }
        i = (i + 1) & mask;
    }
    mark_freed(n, addr);
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
    if (capacity > table->min_capacity && (table->count - table->nursery_count) * 8 < capacity &&
        !migrating(table)) {
        start_resize(table, capacity / 2); /* without memory, the table stays as it is */
    }
    return 1;
}

size_t
lt_livetable_memory(const lt_livetable *table)
{
    size_t old = table->old ? (table->old_mask + 1) * sizeof(lt_live_entry) : 0;
    return (table->mask + 1 + table->nursery_mask + 1) * sizeof(lt_live_entry) + old +
           table->big_capacity * sizeof(lt_big_entry);
}

int
lt_livetable_find(lt_livetable *table, uintptr_t addr, uint64_t *size, uint32_t *node)
{
    uint64_t h = hash_of(addr);
    lt_live_entry *e = nursery_slot(table, h);
    if (e->addr == addr && e->size == LT_LIVE_FREED) {
        return 0;
    }
    if (e->addr != addr) {
        e = find_in_arrays(table, addr, h);
        if (!e) {
            return 0;
        }
    }
    lt_big_entry *big = e->size == LT_LIVE_BIG_SIZE ? find_big(table, addr) : NULL;
    *size = big ? big->size : e->size;
    *node = e->node;
    return 1;
}

int
lt_livetable_settle(lt_livetable *table, size_t nslots)
{
    if (migrating(table)) {
        migrate(table, nslots);
    }
    return migrating(table);
}

size_t
lt_livetable_scan_end(const lt_livetable *table)
{
    return table->mask + 1 + table->nursery_mask + 1;
}

size_t
lt_livetable_scan(lt_livetable *table, size_t *cursor, size_t nslots, uint64_t min_size,
                  lt_live_block *out, size_t max)
{
    /* The nursery first: a block that moves while the caller's lock is released
     * goes from the nursery to the array, so it is seen twice, never missed. */
    size_t first = table->nursery_mask + 1, last = lt_livetable_scan_end(table), n = 0;
    size_t i = *cursor, end = nslots < last - i ? i + nslots : last;
    for (; i < end && n < max; i++) {
        const lt_live_entry *e = i < first ? &table->nursery[i] : &table->slots[i - first];
        if (!e->addr || e->size < min_size || e->size == LT_LIVE_FREED) {
            continue;
        }
        lt_big_entry *big = e->size == LT_LIVE_BIG_SIZE ? find_big(table, e->addr) : NULL;
        out[n++] = (lt_live_block){e->addr, big ? big->size : e->size, e->node};
    }
    *cursor = i;
    return n;
}
