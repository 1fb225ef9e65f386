/* lt_pyretain.h - leaktrace._core.find_paths: why objects are alive.
 *
 * Builds the heap graph of the live interpreter (heap/lt_retain), finds
 * reference paths from roots to the given objects and returns them as
 * dicts. Runs with the GIL held and the cyclic collector disabled while the
 * graph exists, so that no object moves or dies under it.
 */
#ifndef LT_PYRETAIN_H
#define LT_PYRETAIN_H

#define PY_SSIZE_T_CLEAN
#include <Python.h>

#include "heap/lt_path.h"

/* A decoded retention path as a dict (root_kind, root, target, edges,
 * object_bytes, retained_bytes); also used for the capture's retention
 * records (lt_pycapture). NULL with an exception set on failure. */
PyObject *lt_py_path(const lt_path *p);

/* find_paths(objects, max_paths=5, dominators=True, caller_frames=1) */
PyObject *lt_py_find_paths(PyObject *module, PyObject *args, PyObject *kwargs);

#endif
