/* lt_intern.h - interned strings, frames and stack nodes.
 *
 * A stack is stored as a node of a trace tree (as heaptrack does): node 0 is
 * the empty stack, and every other node is (parent node, frame), so a stack
 * is one small integer and stacks that share their outer frames share nodes.
 * Each node also carries the allocation counters of the stacks that end there.
 *
 * Frames are keyed by the raw pair the frame walker produces (code object
 * address, instruction position) plus a fingerprint of the code object, so
 * that a code object freed and replaced by another at the same address is not
 * mistaken for it. Strings are deduplicated by content.
 *
 * Everything is append-only until lt_intern_clear(); ids are dense and count
 * from 0, which lets the writer emit "everything defined since last time".
 *
 * Not thread-safe: the caller serializes every call. The tracker holds
 * TRACKER_LOCK, except while it creates or destroys the tables, which no
 * hook can reach then (before a session's data is published, after it is
 * withdrawn). Memory comes from lt_rawalloc. Functions returning ids return LT_NO_ID when memory is
 * short.
 */
#ifndef LT_INTERN_H
#define LT_INTERN_H

#include <stddef.h>
#include <stdint.h>

#define LT_NO_ID UINT32_MAX
#define LT_ROOT_NODE 0u
#define LT_TRUNCATED_FRAME 0u

typedef struct {
    const char *ptr; /* not NUL-terminated */
    uint32_t len;
} lt_string;

typedef struct {
    uint32_t function;    /* string id */
    uint32_t file;        /* string id */
    int32_t line;         /* -1 when unknown */
    uint64_t fingerprint; /* of the code object, see lt_frames_fingerprint() */
} lt_frame;

typedef struct {
    uint32_t parent;
    uint32_t frame;
    uint64_t live_bytes;
    uint64_t live_count;
    uint64_t alloc_bytes;
    uint64_t alloc_count;
} lt_node;

/* Open-addressing map from a 128-bit key to an id (internal to lt_intern.c). */
typedef struct {
    uint64_t k1, k2;
    uint32_t value; /* LT_NO_ID: empty */
} lt_map_slot;

typedef struct {
    lt_map_slot *slots;
    size_t mask;
    size_t count;
} lt_map;

typedef struct lt_chunk lt_chunk;

typedef struct {
    lt_string *strings;
    uint32_t nstrings, strings_cap;
    lt_map string_map;
    lt_chunk *chunks; /* string bytes */

    lt_frame *frames;
    uint32_t nframes, frames_cap;
    lt_map frame_map;

    lt_node *nodes;
    uint32_t nnodes, nodes_cap;
    lt_map node_map;
} lt_intern;

/* Creates the tables with the root node and the truncation-marker frame.
 * Returns 0 or -1. */
int lt_intern_init(lt_intern *in);
void lt_intern_destroy(lt_intern *in);

uint32_t lt_intern_string(lt_intern *in, const char *s, size_t len);

/* Returns the frame interned for this key and fingerprint, or LT_NO_ID. */
uint32_t lt_intern_find_frame(lt_intern *in, uintptr_t code, uintptr_t instr,
                              uint64_t fingerprint);
/* Adds a frame for the key (replacing a stale one with another fingerprint). */
uint32_t lt_intern_add_frame(lt_intern *in, uintptr_t code, uintptr_t instr, uint64_t fingerprint,
                             uint32_t function, uint32_t file, int32_t line);

/* Returns the node for (parent, frame), creating it when new. */
uint32_t lt_intern_node(lt_intern *in, uint32_t parent, uint32_t frame);

size_t lt_intern_memory(const lt_intern *in);

#endif /* LT_INTERN_H */
