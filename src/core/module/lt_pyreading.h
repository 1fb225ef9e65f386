/* lt_pyreading.h - leaktrace._core.read: what every report needs of a
 * capture, from the streaming analyzer (analyze/lt_analysis), as Python
 * objects.
 *
 * The capture is read with the GIL released (progress, when asked for, is
 * drawn on a file descriptor from that same thread); the Python objects are
 * then built with the GIL held. Per-site and per-node figures come back as
 * the bytes of C arrays (uint64 or uint32, native order), which the Python
 * model views with memoryview.cast() instead of making an object per value:
 * bytes gathered from the analyzer's structures, or the analyzer's own
 * arrays, taken without a copy (the series, the verdicts: lt_pyarray.h).
 * Errors in the file, and memory running out while reading it, raise
 * CaptureError (lt_pyobj.h).
 */
#ifndef LT_PYREADING_H
#define LT_PYREADING_H

#define PY_SSIZE_T_CLEAN
#include <Python.h>

/* read(path, *, allow_partial=False, own_prefix=b"", own_files=(),
 *      include_all=False, picks=(), points=None, max_points=0,
 *      raw_snapshot=-2, progress_fd=-1, progress_delay=0.5) */
PyObject *lt_py_read(PyObject *module, PyObject *args, PyObject *kwargs);

/* take(values, indexes, fill=None) -> bytes: the items of a buffer (any
 * item size) at uint32 indexes, in their order, as the bytes of an array of
 * that item size. An index outside the values takes `fill` (the bytes of one
 * item), or without it raises IndexError. How a report gathers a column of
 * read()'s arrays in its own order, or maps ids through a table. */
PyObject *lt_py_take(PyObject *module, PyObject *args);

/* positions(indexes, size) -> bytes: a uint32 array of `size` items, the
 * position in `indexes` (uint32) of each value below size, 0xFFFFFFFF for a
 * value it does not hold (the last position for one it holds twice). Where
 * a report finds its rows of given sites in O(1). */
PyObject *lt_py_positions(PyObject *module, PyObject *args);

#endif
