/* lt_pyarray.c - see lt_pyarray.h. */
#include "module/lt_pyarray.h"

#include <stdlib.h>

typedef struct {
    PyObject ob_base; /* PyObject_HEAD, spelt out for clang-format */
    void *data;       /* owned; NULL when empty */
    Py_ssize_t nbytes;
} array_object;

static int
array_getbuffer(PyObject *self, Py_buffer *view, int flags)
{
    array_object *a = (array_object *)self;
    static char empty[1];
    return PyBuffer_FillInfo(view, self, a->data ? a->data : empty, a->nbytes, 1, flags);
}

static void
array_dealloc(PyObject *self)
{
    free(((array_object *)self)->data);
    Py_TYPE(self)->tp_free(self);
}

static PyBufferProcs array_as_buffer = {array_getbuffer, NULL};

static PyTypeObject array_type = {
    PyVarObject_HEAD_INIT(NULL, 0).tp_name = "leaktrace._core.Array",
    .tp_basicsize = sizeof(array_object),
    .tp_dealloc = array_dealloc,
    .tp_as_buffer = &array_as_buffer,
    .tp_flags = Py_TPFLAGS_DEFAULT,
    .tp_doc = "A C array of the analyzer, read-only, as bytes by the buffer protocol.",
};

int
lt_py_array_ready(void)
{
    return PyType_Ready(&array_type);
}

PyObject *
lt_py_array_take(void **data, size_t nbytes)
{
    void *owned = *data;
    *data = NULL;
    array_object *a = PyObject_New(array_object, &array_type);
    if (!a) {
        free(owned);
        return NULL;
    }
    a->data = nbytes ? owned : NULL;
    a->nbytes = (Py_ssize_t)nbytes;
    if (!nbytes) {
        free(owned);
    }
    return (PyObject *)a;
}
