/* lt_retain_dom.h - the dominator tree and retained sizes of an lt_retain.
 *
 * Cooper, Harvey and Kennedy's iterative algorithm over a reverse post-order
 * from a super-root joined to every root, every object held from outside and
 * every cycle entry; an object's retained size is the sum of the sizes in its
 * dominator subtree. Same rules as lt_retain.h.
 */
#ifndef LT_RETAIN_DOM_H
#define LT_RETAIN_DOM_H

#include "heap/lt_retain.h"

/* Fills r->idom, r->postorder and r->retained (once; later calls return 0).
 * Returns 0 or -1 (memory). */
int lt_retain_dominators(lt_retain *r);

#endif /* LT_RETAIN_DOM_H */
