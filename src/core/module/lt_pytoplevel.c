/* lt_pytoplevel.c - see lt_pytoplevel.h. */
#include "compat/lt_compat.h" /* first: it defines Py_BUILD_CORE */

#include "module/lt_pytoplevel.h"

PyObject *
lt_py_call_as_main(PyObject *module, PyObject *args)
{
    (void)module;
    PyObject *callable, *call_args;
    if (!PyArg_ParseTuple(args, "OO!:call_as_main", &callable, &PyTuple_Type, &call_args)) {
        return NULL;
    }
    PyThreadState *tstate = lt_compat_gil_tstate();
    lt_pyframe *caller = lt_compat_swap_top_frame(tstate, NULL);
    PyObject *result = PyObject_Call(callable, call_args, NULL);
    /* A fork inside the call returns here in the child too, where the copied
     * chain is just as valid. */
    lt_compat_swap_top_frame(tstate, caller);
    return result;
}
