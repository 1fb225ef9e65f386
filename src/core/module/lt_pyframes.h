/* lt_pyframes.h - leaktrace._core.frame_table: a document's table of the
 * frames its stacks use, each distinct frame once.
 *
 * A report of a few hundred thousand sites names a few thousand distinct
 * frames at most; writing every stack as indexes into one table of them
 * (JSON schema version 2, docs/json-schema.md) makes the document half as
 * large as writing each frame out. This numbers the frames of a tree of
 * stacks as a list of rows' stacks first meets them, walking each row's
 * node to the root: every node is visited once (a node met before has had
 * its ancestors numbered), so the cost is the tree's size, not the sum of
 * the stacks' lengths.
 *
 *   frame_table(nodes, parent, frame, same) -> (index, order)
 *
 * nodes ('I'): each row's node of the tree parent/frame ('I' both, parent
 * < node below the root, frame 0xFFFFFFFF at the root and 0xFFFFFFFE for a
 * truncation marker, which gets no number); same ('I', one per frame): the
 * first frame equal to each (same[f] <= f, same[same[f]] == same[f]), so
 * that frames alike share one number. Returns the bytes of two uint32
 * arrays: index, the number of each frame (0xFFFFFFFF for those no row
 * uses), and order, the frames (first of their kind) in the order of their
 * numbers. GIL held; on failure NULL with an exception.
 */
#ifndef LT_PYFRAMES_H
#define LT_PYFRAMES_H

#define PY_SSIZE_T_CLEAN
#include <Python.h>

PyObject *lt_py_frame_table(PyObject *module, PyObject *args);

#endif /* LT_PYFRAMES_H */
