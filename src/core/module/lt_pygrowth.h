/* lt_pygrowth.h - leaktrace._core.growth: the growth verdict of every row of
 * a series (analyze/lt_growth.h), as C arrays.
 *
 * GIL held to parse the arguments and build the result, released while the
 * rows are classed.
 */
#ifndef LT_PYGROWTH_H
#define LT_PYGROWTH_H

#define PY_SSIZE_T_CLEAN
#include <Python.h>

/* growth(live, alloc, xs, seconds) -> (classes, reasons, rates,
 * rates_per_second, confidences, points): live holds rows of len(xs) uint64
 * live bytes (native order); alloc the same rows of cumulative allocated
 * bytes, or None; seconds len(xs) floats, or None. The results are the bytes
 * of uint8 (lt_growth_class, lt_growth_reason), double and uint32 arrays, a
 * value per row. */
PyObject *lt_py_growth(PyObject *module, PyObject *args);

/* The names of lt_growth_class and lt_growth_reason, as tuples of str, for
 * the module's constants GROWTH_CLASSES and GROWTH_REASONS. */
PyObject *lt_py_growth_names(int reasons);

#endif
