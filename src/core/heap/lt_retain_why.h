/* lt_retain_why.h - retention paths to one object, encoded as the `path`
 * bytes of lt_format.h. Same rules as lt_retain.h.
 */
#ifndef LT_RETAIN_WHY_H
#define LT_RETAIN_WHY_H

#include "heap/lt_path.h"
#include "heap/lt_retain.h"

/* Encodes up to max_paths paths to obj into out (the shortest one first, then
 * one through each other direct referrer); returns how many, or -1. 0 when
 * obj is not in the graph. */
int lt_retain_why(lt_retain *r, PyObject *obj, int max_paths, lt_bytes *out);

/* Encodes the search's path to node; extra, when not LT_GRAPH_NONE, is
 * appended as one more hop (a path to a referrer, then the reference to
 * extra). A node the search did not reach is encoded as cyclic garbage.
 * Returns 0 or -1. */
int lt_retain_encode_path(lt_retain *r, uint32_t node, uint32_t extra, lt_bytes *out);

/* Encodes `kind bound entries path` of what holds node (lt_holder.h): the
 * body of a HOLDER record. Returns 1, 0 when no root reaches node through a
 * referrer (nothing written), or -1. */
int lt_retain_encode_holder(lt_retain *r, uint32_t node, lt_bytes *out);

/* Encodes the path of native memory that no Python object owns
 * (lt_owners.h): held from outside, by native code, with no reference. */
void lt_retain_encode_unowned(lt_bytes *out, uint64_t bytes);

#endif /* LT_RETAIN_WHY_H */
