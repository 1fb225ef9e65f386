/* lt_pyobj.h - Python values shared by the calls of leaktrace._core.
 *
 * Small converters from the C engine's results to Python objects, used by
 * more than one call (lt_pysession, lt_pycapture, lt_pyanalysis,
 * lt_pyretain), and the CaptureError exception they raise.
 *
 * Everything here runs with the GIL held; on failure a function returns
 * NULL or -1 with a Python exception set.
 */
#ifndef LT_PYOBJ_H
#define LT_PYOBJ_H

#define PY_SSIZE_T_CLEAN
#include <Python.h>

#include <stddef.h>
#include <stdint.h>

#include "capture/lt_decode.h"

/* leaktrace.CaptureError, made once by PyInit__core (lt_module.c) and kept
 * for the life of the process. Protected by the GIL. */
extern PyObject *lt_py_capture_error;

/* A str from UTF-8 bytes of the capture or the engine; bad bytes become
 * U+FFFD rather than an error. */
PyObject *lt_py_decode(const char *ptr, size_t len);

/* A dict of the LT_STAT_COUNT session statistics (lt_format.h), by name. */
PyObject *lt_py_stats_dict(const uint64_t *fields);

/* A list of (node, live_count, live_bytes, alloc_count, alloc_bytes). */
PyObject *lt_py_sites(const lt_rsite *sites, size_t nsites);

/* Fills a list of PyList_New(n) with (function, file, line) of each frame;
 * strings holds the capture's strings as str. Returns 0 or -1. */
int lt_py_fill_frames(PyObject *list, const lt_rframe *frames, PyObject *strings);

/* Fills a list of PyList_New(n) with (parent, frame) of each node, frame -1
 * for the root. Returns 0 or -1. */
int lt_py_fill_nodes(PyObject *list, const lt_rnode *nodes);

/* Raises CaptureError and returns -1 unless a parsed capture can be
 * reported: it must hold a snapshot, and be complete unless partial ones are
 * allowed. */
int lt_py_check_readable(int complete, int allow_partial, size_t nsnapshots, uint64_t valid_size,
                         uint64_t file_size);

#endif
