/* lt_retain_cycles.h - unreachable cyclic garbage, grouped and sampled.
 *
 * Unreachable objects fall into clusters (connected through references among
 * them); clusters made by the same code have the same types. The largest
 * groups are reported with one sample cycle each and the sites holding the
 * most of their bytes. Same rules as lt_retain.h.
 */
#ifndef LT_RETAIN_CYCLES_H
#define LT_RETAIN_CYCLES_H

#include "heap/lt_retain_internal.h"

/* Emits one LT_RET_CYCLE record per group, largest first. Runs after
 * lt_retain_dominators() and reuses its arrays (r->idom, r->postorder and
 * r->retained are scratch afterwards). Returns 0 or -1. */
int lt_retain_cycles_report(lt_retain *r, lt_retain_emitter *em);

#endif /* LT_RETAIN_CYCLES_H */
