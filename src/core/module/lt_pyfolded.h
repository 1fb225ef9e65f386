/* lt_pyfolded.h - leaktrace._core.folded: the folded-stack report's lines.
 *
 * folded(parent, frame, live_bytes, labels, root_label) -> bytes: one line
 * "outermost;...;innermost VALUE\n" per node of a profile tree that leaked
 * (the root's own: root_label), by value descending, then by the stack's
 * text as Python compares str (UTF-8 bytes compare the same). The tree is
 * as lt_pyprofile.h says; labels are the bytes of each frame's label.
 *
 * Ties are ordered without comparing texts when no two siblings' labels are
 * equal or one a prefix of the other: the order of the texts is then the
 * tree's depth-first order with siblings by label. Otherwise every text is
 * built and compared. Runs with the GIL held; NULL with an exception on
 * failure.
 */
#ifndef LT_PYFOLDED_H
#define LT_PYFOLDED_H

#define PY_SSIZE_T_CLEAN
#include <Python.h>

PyObject *lt_py_folded(PyObject *module, PyObject *args);

#endif /* LT_PYFOLDED_H */
