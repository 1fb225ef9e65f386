/* lt_retain_internal.h - what the units of the retention analysis share:
 * the marks the search leaves on nodes and the emitter of report records.
 * Included by heap/lt_retain*.c only; not an interface for other callers.
 * Same rules as lt_retain.h.
 */
#ifndef LT_RETAIN_INTERNAL_H
#define LT_RETAIN_INTERNAL_H

#include "heap/lt_retain.h"

/* Flags of the analysis, above lt_graph's own. */
enum {
    FROM_ROOT = 4,     /* reached from a named root */
    FROM_EXTERNAL = 8, /* reached only from an object held from outside */
    SEED = 16,         /* joined to the super-root */
    FROM_CALLER = 32,  /* reached only from the caller's own frames (tier 1) */
    SEEN = 64,         /* visited by the depth-first search of the dominators */
};

/* via[i] for a node the search reached: its parent, below count; a root's own
 * node: count + root id; an object held from outside: EXTERNAL_MARK(g). */
#define EXTERNAL_MARK(r) ((r)->graph.count + (r)->nroots)
#define IGNORED_MARK(r) (EXTERNAL_MARK(r) + 1)

/* Not reached from any root nor from an object held from outside. */
static inline int
lt_retain_is_garbage(const lt_graph *g, uint32_t u)
{
    return !(g->flags[u] & (FROM_ROOT | FROM_EXTERNAL | FROM_CALLER));
}

/* Where the records of lt_retain_report() go. */
typedef struct {
    int (*emit)(void *ctx, const uint8_t *payload, size_t len);
    void *ctx;
} lt_retain_emitter;

/* Emits b's bytes as one record and empties b. Returns 0 or -1. */
static inline int
lt_retain_emit(lt_retain_emitter *em, lt_bytes *b)
{
    int result = b->failed ? -1 : em->emit(em->ctx, b->data, b->len);
    b->len = 0;
    return result;
}

uint64_t lt_retain_now_ns(void);

#endif /* LT_RETAIN_INTERNAL_H */
