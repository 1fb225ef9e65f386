/* lt_pyarray.h - a C array handed to Python as it is, without a copy.
 *
 * leaktrace._core.read() returns the analyzer's largest arrays (the growth
 * series: 8 bytes a site and point, twice) as objects of this type instead
 * of bytes copied from them, so the reading holds each array once. The
 * object owns the array (from malloc) and frees it when the last reference
 * and the last buffer export are gone; it exposes the bytes, read-only, by
 * the buffer protocol (format "B"), for memoryview(...).cast() like bytes.
 *
 * GIL held throughout.
 */
#ifndef LT_PYARRAY_H
#define LT_PYARRAY_H

#define PY_SSIZE_T_CLEAN
#include <Python.h>

#include <stddef.h>

/* Readies the type; PyInit__core calls it once. Returns 0 or -1. */
int lt_py_array_ready(void);

/* An object owning the nbytes of *data (malloc'd, or NULL when nbytes is 0).
 * Takes the array in every case: *data is set to NULL, and on failure
 * (NULL returned, exception set) the array is freed. */
PyObject *lt_py_array_take(void **data, size_t nbytes);

#endif /* LT_PYARRAY_H */
