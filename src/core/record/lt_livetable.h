/* lt_livetable.h - the live table: address -> (size, stack node).
 *
 * One entry per live tracked block, 16 bytes each, in an open-addressing
 * table with linear probing and backward-shift deletion (no tombstones in the
 * table, so lookups of absent addresses stay short after heavy churn). The table grows
 * by doubling when it is three quarters full and halves when less than an
 * eighth full, never below its initial capacity, so its size follows the
 * number of live blocks: memory taken by a burst of them is given back. A
 * resize leaves the table between a quarter and three eighths full. It is
 * incremental: the new array is allocated, and the entries move from the old
 * one a few slots per later insert or remove, so that no call costs more than
 * O(1) (a lock held around each call stays short even with millions of live
 * blocks); lookups meanwhile try both arrays. A resize that finds no memory
 * leaves the table as it was (an insert into a full table then fails).
 *
 * In front of the table, a nursery: a small direct-mapped array, indexed by
 * other bits of the same hash, where new blocks are put. Many blocks of a
 * Python program are freed soon after their birth (temporaries), and such a
 * block is removed from its nursery slot without a probe or a shift; a block
 * still live when a newer one needs its slot moves (is evicted) into the
 * table. An address lives in exactly one place, the nursery or the table: an
 * insert looks for it in both first (the "replaced" case), and every lookup,
 * walk and count sees both. The nursery is allocated at init, never
 * resized, and counts in lt_livetable_memory.
 *
 * A free leaves a mark in the block's nursery slot when that slot holds no
 * live block: the freed address and LT_LIVE_FREED for its size. The mark says
 * that the address is in no array (an insert of it would have overwritten the
 * mark), so the next insert at that address, commonly the next allocation of
 * its size (allocators reuse the last freed block first), skips the search of
 * the arrays for a stale entry.
 *
 * A table of more than LT_LIVE_NURSERY_TABLE_LIMIT slots (16 MiB) takes new
 * blocks directly, as if there were no nursery (which its lookups still
 * check, and its frees still mark): out of the cache, a survivor's move from
 * the nursery is a second cache miss at insert time, which cost more time
 * than the nursery saved (bigheap, docs/benchmarks.md).
 *
 * Sizes up to 4 GiB - 3 are stored inline; larger blocks are marked inline and
 * their size kept in a side table searched linearly: blocks of 4 GiB are few
 * (a process has room for a handful), so a hash there would be dead weight.
 *
 * Not thread-safe: the caller serializes every call. The tracker holds
 * TRACKER_LOCK, except while it creates or destroys the table, which no hook
 * can reach then (before a session's data is published, after it is
 * withdrawn). Memory comes from lt_rawalloc.
 */
#ifndef LT_LIVETABLE_H
#define LT_LIVETABLE_H

#include <stddef.h>
#include <stdint.h>

typedef struct {
    uintptr_t addr; /* 0: empty slot */
    uint32_t node;  /* stack node that allocated the block */
    uint32_t size;  /* LT_LIVE_BIG_SIZE: look in the big-size side table */
} lt_live_entry;

#define LT_LIVE_BIG_SIZE (UINT32_MAX - 1)
#define LT_LIVE_FREED UINT32_MAX /* the size of a nursery slot's free mark */

typedef struct {
    uintptr_t addr;
    uint64_t size;
} lt_big_entry;

/* The nursery's size in the tracker (64 KiB); at most LT_LIVE_MAX_NURSERY. */
#define LT_LIVE_NURSERY_SLOTS 4096
#define LT_LIVE_MAX_NURSERY ((size_t)1 << 24)
#define LT_LIVE_NURSERY_TABLE_LIMIT ((size_t)1 << 20)

typedef struct {
    lt_live_entry *slots;
    size_t mask;         /* capacity - 1; capacity is a power of two */
    size_t count;        /* live entries: nursery and both arrays */
    lt_live_entry *old;  /* while resizing: the array being drained, else NULL */
    size_t old_mask;     /* its capacity - 1 */
    size_t old_count;    /* live entries still in it */
    size_t cursor;       /* its next slot to move */
    size_t step;         /* its slots moved per insert or remove */
    size_t min_capacity; /* the initial capacity: the table never shrinks below it */
    lt_big_entry *big;   /* unsorted array of blocks of LT_LIVE_BIG_SIZE bytes or more */
    size_t nbig;
    size_t big_capacity;
    lt_live_entry *nursery;
    size_t nursery_mask;  /* its slots - 1; a power of two */
    size_t nursery_count; /* live entries in it */
} lt_livetable;

/* nursery_slots is rounded up to a power of two, at least 1 and at most
 * LT_LIVE_MAX_NURSERY. Returns 0, or -1 when memory is short. */
int lt_livetable_init(lt_livetable *table, size_t initial_capacity, size_t nursery_slots);
void lt_livetable_destroy(lt_livetable *table);
void lt_livetable_clear(lt_livetable *table);

/* Records a block. An existing entry for addr is replaced (its old values are
 * returned through replaced_size and replaced_node, and the function returns 1).
 * Returns 0 when inserted, 1 when replaced, -1 when memory is short (nothing
 * changed). */
int lt_livetable_insert(lt_livetable *table, uintptr_t addr, uint64_t size, uint32_t node,
                        uint64_t *replaced_size, uint32_t *replaced_node);

/* Removes a block: returns 1 and its size and node, or 0 when absent. */
int lt_livetable_remove(lt_livetable *table, uintptr_t addr, uint64_t *size, uint32_t *node);

/* Looks a block up: returns 1 and its size and node, or 0 when absent. */
int lt_livetable_find(lt_livetable *table, uintptr_t addr, uint64_t *size, uint32_t *node);

typedef struct {
    uintptr_t addr;
    uint64_t size;
    uint32_t node;
} lt_live_block;

/* Moves the entries of up to nslots slots of a resize's old array into the
 * current one. Returns 1 while some remain there, 0 when every entry is in the
 * current array (the table was not resizing, or is done now): what
 * lt_livetable_scan needs, since it walks the current array only. */
int lt_livetable_settle(lt_livetable *table, size_t nslots);

/* Copies the blocks of at least min_size bytes found in the nursery's slots,
 * then the current array's (settle a resize first, or blocks still in its old
 * array are missed), from *cursor on into out (room for max), looking at
 * nslots slots at most and stopping early when out is full; *cursor moves
 * past the slots looked at (it equals lt_livetable_scan_end when the table is
 * done). For walking the table in chunks, releasing the caller's lock between
 * them: a block evicted from the nursery meanwhile is then seen twice.
 * Returns how many blocks were copied. */
size_t lt_livetable_scan(lt_livetable *table, size_t *cursor, size_t nslots, uint64_t min_size,
                         lt_live_block *out, size_t max);

/* The cursor of a finished scan: the nursery's slots plus the current
 * array's capacity. */
size_t lt_livetable_scan_end(const lt_livetable *table);

/* Bytes of memory the table occupies. */
size_t lt_livetable_memory(const lt_livetable *table);

#endif /* LT_LIVETABLE_H */
