/* lt_pyanalysis.h - leaktrace._core.analyze: the streaming analysis of a
 * capture as Python objects, for the reporters.
 *
 * analyze/lt_analysis streams through the file with the GIL released
 * (progress, when asked for, is drawn on a file descriptor from that same
 * thread); the Python objects are then built with the GIL held. Errors in
 * the file raise CaptureError (lt_pyobj.h).
 */
#ifndef LT_PYANALYSIS_H
#define LT_PYANALYSIS_H

#define PY_SSIZE_T_CLEAN
#include <Python.h>

/* analyze(path, allow_partial=False, progress_fd=-1, progress_delay=0.5) */
PyObject *lt_py_analyze(PyObject *module, PyObject *args, PyObject *kwargs);

#endif
