/* pep445_floor.c - the cheapest possible PEP 445 hook, for bench/suite.py.
 *
 * install() wraps the RAW, MEM and OBJ domains with functions that only
 * forward to the wrapped allocator: what any tracer built on
 * PyMem_SetAllocator pays before it records anything. Never uninstalled.
 */
#define PY_SSIZE_T_CLEAN
#include <Python.h>

static PyMemAllocatorEx wrapped[3];

#define FORWARDERS(N)                                                                    \
    static void *malloc_##N(void *ctx, size_t size)                                      \
    {                                                                                    \
        (void)ctx;                                                                       \
        return wrapped[N].malloc(wrapped[N].ctx, size);                                  \
    }                                                                                    \
    static void *calloc_##N(void *ctx, size_t nelem, size_t elsize)                      \
    {                                                                                    \
        (void)ctx;                                                                       \
        return wrapped[N].calloc(wrapped[N].ctx, nelem, elsize);                         \
    }                                                                                    \
    static void *realloc_##N(void *ctx, void *ptr, size_t size)                          \
    {                                                                                    \
        (void)ctx;                                                                       \
        return wrapped[N].realloc(wrapped[N].ctx, ptr, size);                            \
    }                                                                                    \
    static void free_##N(void *ctx, void *ptr)                                           \
    {                                                                                    \
        (void)ctx;                                                                       \
        wrapped[N].free(wrapped[N].ctx, ptr);                                            \
    }

FORWARDERS(0)
FORWARDERS(1)
FORWARDERS(2)

static PyObject *
install(PyObject *module, PyObject *unused)
{
    static const PyMemAllocatorDomain domains[3] = {PYMEM_DOMAIN_RAW, PYMEM_DOMAIN_MEM,
                                                    PYMEM_DOMAIN_OBJ};
    PyMemAllocatorEx hooks[3] = {
        {NULL, malloc_0, calloc_0, realloc_0, free_0},
        {NULL, malloc_1, calloc_1, realloc_1, free_1},
        {NULL, malloc_2, calloc_2, realloc_2, free_2},
    };
    (void)module;
    (void)unused;
    for (int i = 0; i < 3; i++) {
        PyMem_GetAllocator(domains[i], &wrapped[i]);
        hooks[i].ctx = wrapped[i].ctx;
        PyMem_SetAllocator(domains[i], &hooks[i]);
    }
    Py_RETURN_NONE;
}

static PyMethodDef methods[] = {
    {"install", install, METH_NOARGS, "install()\n--\n\nWrap the three domains, forever."},
    {NULL, NULL, 0, NULL},
};

static struct PyModuleDef module_def = {
    PyModuleDef_HEAD_INIT, "pep445_floor", NULL, -1, methods, NULL, NULL, NULL, NULL,
};

PyMODINIT_FUNC
PyInit_pep445_floor(void)
{
    return PyModule_Create(&module_def);
}
