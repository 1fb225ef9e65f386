/* lt_pygrowth.c - see lt_pygrowth.h. */
#include "module/lt_pygrowth.h"

#include <stdint.h>

#include "analyze/lt_growth.h"

/* Floats of a sequence of n numbers into out (PyMem). Returns 0 or -1. */
static int
doubles_arg(PyObject *seq, Py_ssize_t n, double **out, const char *what)
{
    PyObject *fast = PySequence_Fast(seq, what);
    if (!fast) {
        return -1;
    }
    if (PySequence_Fast_GET_SIZE(fast) != n) {
        PyErr_Format(PyExc_ValueError, "%s must have as many values as xs", what);
        Py_DECREF(fast);
        return -1;
    }
    *out = PyMem_Malloc((size_t)(n ? n : 1) * sizeof(double));
    if (!*out) {
        Py_DECREF(fast);
        PyErr_NoMemory();
        return -1;
    }
    for (Py_ssize_t i = 0; i < n; i++) {
        (*out)[i] = PyFloat_AsDouble(PySequence_Fast_GET_ITEM(fast, i));
        if ((*out)[i] == -1.0 && PyErr_Occurred()) {
            Py_DECREF(fast);
            return -1;
        }
    }
    Py_DECREF(fast);
    return 0;
}

PyObject *
lt_py_growth(PyObject *module, PyObject *args)
{
    Py_buffer live, alloc = {0};
    PyObject *alloc_arg, *xs_arg, *seconds_arg;
    (void)module;
    if (!PyArg_ParseTuple(args, "y*OOO:growth", &live, &alloc_arg, &xs_arg, &seconds_arg)) {
        return NULL;
    }
    PyObject *result = NULL, *out[6] = {NULL};
    double *xs = NULL, *seconds = NULL, *scratch = NULL;
    if (alloc_arg != Py_None && PyObject_GetBuffer(alloc_arg, &alloc, PyBUF_SIMPLE) < 0) {
        PyBuffer_Release(&live);
        return NULL;
    }
    Py_ssize_t n = PySequence_Size(xs_arg);
    if (n < 0) {
        goto done;
    }
    size_t row_bytes = (size_t)n * sizeof(uint64_t);
    if (n == 0 || (size_t)live.len % row_bytes != 0 || (alloc.buf && alloc.len != live.len)) {
        PyErr_SetString(PyExc_ValueError,
                        "live (and alloc) must hold rows of len(xs) values, xs at least one");
        goto done;
    }
    if (doubles_arg(xs_arg, n, &xs, "xs") < 0 ||
        (seconds_arg != Py_None && doubles_arg(seconds_arg, n, &seconds, "seconds") < 0)) {
        goto done;
    }
    Py_ssize_t nrows = live.len / (Py_ssize_t)row_bytes;
    scratch = PyMem_Malloc(lt_growth_scratch((size_t)n) * sizeof(double));
    if (!scratch) {
        PyErr_NoMemory();
        goto done;
    }
    const Py_ssize_t sizes[6] = {
        1, 1, sizeof(double), sizeof(double), sizeof(double), sizeof(uint32_t)};
    for (int i = 0; i < 6; i++) {
        if (!(out[i] = PyBytes_FromStringAndSize(NULL, nrows * sizes[i]))) {
            goto done;
        }
    }
    uint8_t *cls = (uint8_t *)PyBytes_AS_STRING(out[0]);
    uint8_t *reason = (uint8_t *)PyBytes_AS_STRING(out[1]);
    double *rate = (double *)PyBytes_AS_STRING(out[2]);
    double *per_second = (double *)PyBytes_AS_STRING(out[3]);
    double *confidence = (double *)PyBytes_AS_STRING(out[4]);
    uint32_t *points = (uint32_t *)PyBytes_AS_STRING(out[5]);
    const uint64_t *lives = live.buf, *allocs = alloc.buf;
    Py_BEGIN_ALLOW_THREADS for (Py_ssize_t r = 0; r < nrows; r++)
    {
        lt_growth_series s = {(size_t)n, xs, seconds, lives + r * n,
                              allocs ? allocs + r * n : NULL};
        lt_growth g;
        lt_growth_classify(&s, scratch, &g);
        cls[r] = (uint8_t)g.cls;
        reason[r] = (uint8_t)g.reason;
        rate[r] = g.rate;
        per_second[r] = g.rate_per_second;
        confidence[r] = g.confidence;
        points[r] = g.points;
    }
    Py_END_ALLOW_THREADS result = PyTuple_Pack(6, out[0], out[1], out[2], out[3], out[4], out[5]);
done:
    for (int i = 0; i < 6; i++) {
        Py_XDECREF(out[i]);
    }
    PyMem_Free(xs);
    PyMem_Free(seconds);
    PyMem_Free(scratch);
    if (alloc.buf) {
        PyBuffer_Release(&alloc);
    }
    PyBuffer_Release(&live);
    return result;
}

PyObject *
lt_py_growth_names(int reasons)
{
    int count = reasons ? LT_GROWTH_WHY_COUNT : LT_GROWTH_CLASS_COUNT;
    PyObject *names = PyTuple_New(count);
    for (int i = 0; names && i < count; i++) {
        const char *name = reasons ? lt_growth_reason_name((lt_growth_reason)i)
                                   : lt_growth_class_name((lt_growth_class)i);
        PyObject *s = PyUnicode_FromString(name);
        if (!s) {
            Py_CLEAR(names);
            break;
        }
        PyTuple_SET_ITEM(names, i, s);
    }
    return names;
}
