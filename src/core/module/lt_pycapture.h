/* lt_pycapture.h - leaktrace._core.read_capture: a whole capture as Python
 * objects.
 *
 * The file is read and validated by capture/lt_reader with the GIL
 * released; the Python objects are then built with the GIL held. Errors in
 * the file raise CaptureError (lt_pyobj.h).
 */
#ifndef LT_PYCAPTURE_H
#define LT_PYCAPTURE_H

#define PY_SSIZE_T_CLEAN
#include <Python.h>

#include "capture/lt_decode.h"

/* read_capture(path, allow_partial=False) */
PyObject *lt_py_read_capture(PyObject *module, PyObject *args, PyObject *kwargs);

/* A retention record (0x40) as the dict read_capture() lists under
 * "retention" (what: site, suspect, cycle or summary). */
PyObject *lt_py_retention_record(const lt_rretention *rec);

#endif
