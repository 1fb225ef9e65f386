/* lt_pyprofile.h - the profile-shaped reports' big arrays, written in C.
 *
 * A profile (reading/profile.py) is the tree of trimmed stacks with each
 * node's own values; pprof, folded stacks, speedscope and HTML walk it once
 * per node, which for a few hundred thousand stacks is most of a report's
 * time in Python. These calls do the per-node work and leave the per-frame
 * work (a few thousand distinct frames at most) to Python:
 *
 * - rank_nodes(live_bytes, peak_bytes, alloc_bytes, alloc_count,
 *   peak_count) -> bytes of uint32: the nodes that allocated or were alive
 *   at the peak, by leaked, then peak, then allocated bytes, descending,
 *   ties by node (Profile.nodes_by_size);
 * - pprof_samples(order, parent, frame, alloc_count, alloc_bytes,
 *   live_count, live_bytes, frame_location, root_location, labels=None) ->
 *   (samples, locations): the encoded Sample messages (field 2 of
 *   profile.proto) of the nodes of `order` that allocated, each ending with
 *   labels[node] (encoded Label fields, bytes, or None) when labels (a list,
 *   one item per node) is given, with location ids numbered from 1
 *   as the samples first meet them, innermost frame first; and the bytes of
 *   a uint32 array of the location keys in the order of their ids;
 * - folded stacks: lt_pyfolded.h;
 * - speedscope_stacks(order, parent, frame, nframes, weights) -> (texts,
 *   frames): for
 *   each weight array, the JSON of its samples (each node of `order` that
 *   weighs, its stack as frame numbers, root first) and of its weights, as
 *   json.dumps(separators=(",", ":")) writes them; frames numbered as the
 *   stacks first meet them, and the bytes of an int32 array of the profile
 *   frame of each number (-1 for the root's own: [no Python frame]);
 * - prune_tree(parent, live_bytes, peak_bytes) -> (kept, parent): the nodes
 *   whose subtree leaked or was alive at the peak (the root always), and
 *   each one's parent renumbered among them, as uint32 arrays.
 *
 * Trees are arrays by node: parent ('I', parent < node), frame ('i', -1 for
 * the root), values 'Q'. frame_location ('I') maps a frame to its location
 * key (frames equal in function, file and line share one). Runs with the
 * GIL held; on failure NULL with an exception.
 */
#ifndef LT_PYPROFILE_H
#define LT_PYPROFILE_H

#define PY_SSIZE_T_CLEAN
#include <Python.h>

/* The buffers one call borrows: each is released at the end. */
#define LT_PY_MAX_VIEWS 8
typedef struct {
    Py_buffer views[LT_PY_MAX_VIEWS];
    int nviews;
} lt_py_views;

/* A contiguous array of elements of format `code` ('I', 'i' or 'Q'), at
 * least `count` of them unless count is (size_t)-1 (then any count, returned
 * in *count_out), kept in v. NULL with an exception when it is not one. */
const void *lt_py_get_array(lt_py_views *v, PyObject *obj, char code, size_t count,
                            size_t *count_out, const char *what);

void lt_py_release_views(lt_py_views *v);

/* Checks a tree: parent[n] < n below the root, frames in [0, nframes) and
 * -1 for the root. Returns 0, or -1 with ValueError. */
int lt_py_check_tree(const uint32_t *parent, const int32_t *frame, size_t nnodes, size_t nframes);

PyObject *lt_py_rank_nodes(PyObject *module, PyObject *args);

PyObject *lt_py_pprof_samples(PyObject *module, PyObject *args);

PyObject *lt_py_speedscope_stacks(PyObject *module, PyObject *args);

PyObject *lt_py_prune_tree(PyObject *module, PyObject *args);

#endif /* LT_PYPROFILE_H */
