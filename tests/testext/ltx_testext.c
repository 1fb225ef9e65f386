/* ltx_testext.c - a test-only extension that allocates exact sizes on demand.
 *
 * Every function allocates or frees through one PyMem domain (RAW, MEM, OBJ)
 * and nothing else, so that the Python line that calls it is charged exactly
 * the requested bytes by a tracker.
 *
 * Handles. A block is named by a handle: a small int (0 to LTX_SLOTS - 1)
 * indexing a table that holds the block's address. CPython keeps the ints
 * 0..256 preallocated, so returning a handle allocates nothing; an address
 * returned as an int would put a heap-allocated int object on the same line
 * as the block and make every per-line count inexact. `address(handle)`
 * gives the address itself.
 *
 * The table is only touched with the GIL held; the *_nogil functions release
 * the GIL only around the allocator calls themselves.
 */
#define PY_SSIZE_T_CLEAN
#include <Python.h>

#include <stdlib.h>
#include <string.h>

#define LTX_SLOTS 257 /* handles 0..256: the ints CPython never allocates */

/* LTX_RESERVED: taken by a *_nogil call that has released the GIL. */
enum { LTX_FREE_SLOT = 0, LTX_RAW, LTX_MEM, LTX_OBJ, LTX_NOGIL, LTX_RESERVED };

typedef struct {
    void *ptr;
    int domain; /* LTX_FREE_SLOT when unused */
} ltx_slot;

/* Protected by the GIL. */
static ltx_slot slots[LTX_SLOTS];

static const char *const domain_names[] = {"free", "raw", "mem", "obj", "raw", "reserved"};

/* ---- the table ---- */

static int
slots_reserve(Py_ssize_t count, int *out)
{
    Py_ssize_t found = 0;
    for (int i = 0; i < LTX_SLOTS && found < count; i++) {
        if (slots[i].domain == LTX_FREE_SLOT) {
            out[found++] = i;
        }
    }
    if (found < count) {
        PyErr_Format(PyExc_RuntimeError, "ltx_testext: more than %d live blocks", LTX_SLOTS);
        return -1;
    }
    return 0;
}

static PyObject *
new_handle(void *ptr, int domain)
{
    int index;
    if (slots_reserve(1, &index) < 0) {
        return NULL;
    }
    slots[index].ptr = ptr;
    slots[index].domain = domain;
    return PyLong_FromLong(index);
}

/* The slot of a handle made by a function of the given domain. */
static ltx_slot *
get_slot(PyObject *handle, int domain)
{
    long index = PyLong_AsLong(handle);
    if (index == -1 && PyErr_Occurred()) {
        return NULL;
    }
    if (index < 0 || index >= LTX_SLOTS || slots[index].domain == LTX_FREE_SLOT ||
        slots[index].domain == LTX_RESERVED) {
        PyErr_Format(PyExc_ValueError, "ltx_testext: %ld is not a live handle", index);
        return NULL;
    }
    int have = slots[index].domain == LTX_NOGIL ? LTX_RAW : slots[index].domain;
    if (have != domain) {
        PyErr_Format(PyExc_ValueError, "ltx_testext: handle %ld belongs to the %s domain", index,
                     domain_names[slots[index].domain]);
        return NULL;
    }
    return &slots[index];
}

static int
parse_size(PyObject *arg, size_t *out)
{
    Py_ssize_t n = PyLong_AsSsize_t(arg);
    if (n == -1 && PyErr_Occurred()) {
        return -1;
    }
    if (n < 1) {
        PyErr_SetString(PyExc_ValueError, "ltx_testext: sizes must be positive");
        return -1;
    }
    *out = (size_t)n;
    return 0;
}

/* ---- malloc / calloc / realloc / free per domain ---- */

typedef void *(*malloc_fn)(size_t);
typedef void *(*calloc_fn)(size_t, size_t);
typedef void *(*realloc_fn)(void *, size_t);
typedef void (*free_fn)(void *);

static PyObject *
do_malloc(PyObject *arg, malloc_fn fn, int domain)
{
    size_t n;
    if (parse_size(arg, &n) < 0) {
        return NULL;
    }
    int index;
    if (slots_reserve(1, &index) < 0) { /* fail before allocating */
        return NULL;
    }
    void *ptr = fn(n);
    if (!ptr) {
        return PyErr_NoMemory();
    }
    memset(ptr, 0xA5, n);
    return new_handle(ptr, domain);
}

static PyObject *
do_calloc(PyObject *args, calloc_fn fn, int domain)
{
    Py_ssize_t nelem, elsize;
    if (!PyArg_ParseTuple(args, "nn", &nelem, &elsize)) {
        return NULL;
    }
    if (nelem < 1 || elsize < 1) {
        PyErr_SetString(PyExc_ValueError, "ltx_testext: sizes must be positive");
        return NULL;
    }
    int index;
    if (slots_reserve(1, &index) < 0) {
        return NULL;
    }
    void *ptr = fn((size_t)nelem, (size_t)elsize);
    if (!ptr) {
        return PyErr_NoMemory();
    }
    return new_handle(ptr, domain);
}

/* Reallocates in place of the handle; returns the handle (same number). */
static PyObject *
do_realloc(PyObject *args, realloc_fn fn, int domain)
{
    PyObject *handle, *size;
    if (!PyArg_ParseTuple(args, "OO", &handle, &size)) {
        return NULL;
    }
    ltx_slot *slot = get_slot(handle, domain);
    size_t n;
    if (!slot || parse_size(size, &n) < 0) {
        return NULL;
    }
    void *ptr = fn(slot->ptr, n);
    if (!ptr) {
        return PyErr_NoMemory();
    }
    slot->ptr = ptr;
    slot->domain = domain;
    Py_INCREF(handle);
    return handle;
}

static PyObject *
do_free(PyObject *handle, free_fn fn, int domain)
{
    ltx_slot *slot = get_slot(handle, domain);
    if (!slot) {
        return NULL;
    }
    fn(slot->ptr);
    slot->ptr = NULL;
    slot->domain = LTX_FREE_SLOT;
    Py_RETURN_NONE;
}

#define DOMAIN_FUNCTIONS(prefix, DOMAIN, MALLOC, CALLOC, REALLOC, FREE)                         \
    static PyObject *prefix##_malloc(PyObject *m, PyObject *arg)                                \
    {                                                                                           \
        (void)m;                                                                                \
        return do_malloc(arg, MALLOC, DOMAIN);                                                  \
    }                                                                                           \
    static PyObject *prefix##_calloc(PyObject *m, PyObject *args)                               \
    {                                                                                           \
        (void)m;                                                                                \
        return do_calloc(args, CALLOC, DOMAIN);                                                 \
    }                                                                                           \
    static PyObject *prefix##_realloc(PyObject *m, PyObject *args)                              \
    {                                                                                           \
        (void)m;                                                                                \
        return do_realloc(args, REALLOC, DOMAIN);                                               \
    }                                                                                           \
    static PyObject *prefix##_free(PyObject *m, PyObject *arg)                                  \
    {                                                                                           \
        (void)m;                                                                                \
        return do_free(arg, FREE, DOMAIN);                                                      \
    }

DOMAIN_FUNCTIONS(raw, LTX_RAW, PyMem_RawMalloc, PyMem_RawCalloc, PyMem_RawRealloc, PyMem_RawFree)
DOMAIN_FUNCTIONS(mem, LTX_MEM, PyMem_Malloc, PyMem_Calloc, PyMem_Realloc, PyMem_Free)
DOMAIN_FUNCTIONS(obj, LTX_OBJ, PyObject_Malloc, PyObject_Calloc, PyObject_Realloc, PyObject_Free)

/* ---- RAW without the GIL ---- */

/* raw_malloc_nogil(n, count) -> tuple of handles */
static PyObject *
raw_malloc_nogil(PyObject *m, PyObject *args)
{
    Py_ssize_t n, count;
    (void)m;
    if (!PyArg_ParseTuple(args, "nn", &n, &count)) {
        return NULL;
    }
    if (n < 1 || count < 1 || count > LTX_SLOTS) {
        PyErr_SetString(PyExc_ValueError, "ltx_testext: bad size or count");
        return NULL;
    }
    int indices[LTX_SLOTS];
    void *ptrs[LTX_SLOTS];
    if (slots_reserve(count, indices) < 0) {
        return NULL;
    }
    /* The result is made before the GIL is released: nothing is allocated
     * with the GIL held after the blocks. */
    PyObject *result = PyTuple_New(count);
    if (!result) {
        return NULL;
    }
    /* Other threads run while the GIL is released: keep the slots. */
    for (Py_ssize_t i = 0; i < count; i++) {
        slots[indices[i]].domain = LTX_RESERVED;
    }
    Py_ssize_t made = 0;
    Py_BEGIN_ALLOW_THREADS
    for (; made < count; made++) {
        ptrs[made] = PyMem_RawMalloc((size_t)n);
        if (!ptrs[made]) {
            break;
        }
        memset(ptrs[made], 0x5A, (size_t)n);
    }
    Py_END_ALLOW_THREADS
    if (made < count) {
        Py_BEGIN_ALLOW_THREADS
        for (Py_ssize_t i = 0; i < made; i++) {
            PyMem_RawFree(ptrs[i]);
        }
        Py_END_ALLOW_THREADS
        for (Py_ssize_t i = 0; i < count; i++) {
            slots[indices[i]].domain = LTX_FREE_SLOT;
        }
        Py_DECREF(result);
        return PyErr_NoMemory();
    }
    for (Py_ssize_t i = 0; i < count; i++) {
        slots[indices[i]].ptr = ptrs[i];
        slots[indices[i]].domain = LTX_NOGIL;
        PyTuple_SET_ITEM(result, i, PyLong_FromLong(indices[i])); /* cached: cannot fail */
    }
    return result;
}

/* raw_free_nogil(handles): frees RAW blocks with the GIL released. */
static PyObject *
raw_free_nogil(PyObject *m, PyObject *arg)
{
    (void)m;
    PyObject *seq = PySequence_Fast(arg, "ltx_testext: handles must be a sequence");
    if (!seq) {
        return NULL;
    }
    Py_ssize_t count = PySequence_Fast_GET_SIZE(seq);
    if (count > LTX_SLOTS) {
        Py_DECREF(seq);
        PyErr_SetString(PyExc_ValueError, "ltx_testext: too many handles");
        return NULL;
    }
    ltx_slot *found[LTX_SLOTS];
    void *ptrs[LTX_SLOTS];
    for (Py_ssize_t i = 0; i < count; i++) {
        found[i] = get_slot(PySequence_Fast_GET_ITEM(seq, i), LTX_RAW);
        if (!found[i]) {
            Py_DECREF(seq);
            return NULL;
        }
        for (Py_ssize_t j = 0; j < i; j++) {
            if (found[j] == found[i]) {
                Py_DECREF(seq);
                PyErr_SetString(PyExc_ValueError, "ltx_testext: handle given twice");
                return NULL;
            }
        }
    }
    Py_DECREF(seq);
    for (Py_ssize_t i = 0; i < count; i++) {
        ptrs[i] = found[i]->ptr;
        found[i]->ptr = NULL;
        found[i]->domain = LTX_FREE_SLOT;
    }
    Py_BEGIN_ALLOW_THREADS
    for (Py_ssize_t i = 0; i < count; i++) {
        PyMem_RawFree(ptrs[i]);
    }
    Py_END_ALLOW_THREADS
    Py_RETURN_NONE;
}

/* raw_churn_nogil(n, iterations): malloc + free n bytes, GIL released. */
static PyObject *
raw_churn_nogil(PyObject *m, PyObject *args)
{
    Py_ssize_t n, iterations;
    (void)m;
    if (!PyArg_ParseTuple(args, "nn", &n, &iterations)) {
        return NULL;
    }
    if (n < 1 || iterations < 0) {
        PyErr_SetString(PyExc_ValueError, "ltx_testext: bad size or iterations");
        return NULL;
    }
    Py_ssize_t failed = 0;
    Py_BEGIN_ALLOW_THREADS
    for (Py_ssize_t i = 0; i < iterations; i++) {
        volatile unsigned char *p = PyMem_RawMalloc((size_t)n);
        if (!p) {
            failed++;
            continue;
        }
        p[0] = (unsigned char)i;
        p[n - 1] = (unsigned char)i;
        PyMem_RawFree((void *)p);
    }
    Py_END_ALLOW_THREADS
    if (failed) {
        return PyErr_NoMemory();
    }
    Py_RETURN_NONE;
}

/* ---- introspection ---- */

static PyObject *
address(PyObject *m, PyObject *arg)
{
    (void)m;
    long index = PyLong_AsLong(arg);
    if (index == -1 && PyErr_Occurred()) {
        return NULL;
    }
    if (index < 0 || index >= LTX_SLOTS || slots[index].domain == LTX_FREE_SLOT ||
        slots[index].domain == LTX_RESERVED) {
        PyErr_Format(PyExc_ValueError, "ltx_testext: %ld is not a live handle", index);
        return NULL;
    }
    return PyLong_FromVoidPtr(slots[index].ptr);
}

static PyObject *
live_handles(PyObject *m, PyObject *unused)
{
    (void)m;
    (void)unused;
    PyObject *result = PyList_New(0);
    for (int i = 0; result && i < LTX_SLOTS; i++) {
        if (slots[i].domain != LTX_FREE_SLOT) {
            PyObject *h = PyLong_FromLong(i);
            if (!h || PyList_Append(result, h) < 0) {
                Py_CLEAR(result);
            }
            Py_XDECREF(h);
        }
    }
    return result;
}

/* free_all(): frees every live block with its own domain's free. */
static PyObject *
free_all(PyObject *m, PyObject *unused)
{
    (void)m;
    (void)unused;
    long freed = 0;
    for (int i = 0; i < LTX_SLOTS; i++) {
        switch (slots[i].domain) {
        case LTX_RAW:
        case LTX_NOGIL:
            PyMem_RawFree(slots[i].ptr);
            break;
        case LTX_MEM:
            PyMem_Free(slots[i].ptr);
            break;
        case LTX_OBJ:
            PyObject_Free(slots[i].ptr);
            break;
        default:
            continue;
        }
        slots[i].ptr = NULL;
        slots[i].domain = LTX_FREE_SLOT;
        freed++;
    }
    return PyLong_FromLong(freed);
}

#define ONE(name, doc) {#name, name, METH_O, doc}
#define ARGS(name, doc) {#name, name, METH_VARARGS, doc}

static PyMethodDef methods[] = {
    ONE(raw_malloc, "raw_malloc(n) -> handle: PyMem_RawMalloc(n)"),
    ONE(mem_malloc, "mem_malloc(n) -> handle: PyMem_Malloc(n)"),
    ONE(obj_malloc, "obj_malloc(n) -> handle: PyObject_Malloc(n)"),
    ARGS(raw_calloc, "raw_calloc(nelem, elsize) -> handle: PyMem_RawCalloc"),
    ARGS(mem_calloc, "mem_calloc(nelem, elsize) -> handle: PyMem_Calloc"),
    ARGS(obj_calloc, "obj_calloc(nelem, elsize) -> handle: PyObject_Calloc"),
    ARGS(raw_realloc, "raw_realloc(handle, n) -> handle: PyMem_RawRealloc"),
    ARGS(mem_realloc, "mem_realloc(handle, n) -> handle: PyMem_Realloc"),
    ARGS(obj_realloc, "obj_realloc(handle, n) -> handle: PyObject_Realloc"),
    ONE(raw_free, "raw_free(handle): PyMem_RawFree"),
    ONE(mem_free, "mem_free(handle): PyMem_Free"),
    ONE(obj_free, "obj_free(handle): PyObject_Free"),
    ARGS(raw_malloc_nogil, "raw_malloc_nogil(n, count) -> tuple of handles, GIL released"),
    ONE(raw_free_nogil, "raw_free_nogil(handles): PyMem_RawFree each, GIL released"),
    ARGS(raw_churn_nogil, "raw_churn_nogil(n, iterations): malloc+free loop, GIL released"),
    ONE(address, "address(handle) -> int: the block's address"),
    {"live_handles", live_handles, METH_NOARGS, "live_handles() -> list of live handles"},
    {"free_all", free_all, METH_NOARGS, "free_all() -> int: free every live block"},
    {NULL, NULL, 0, NULL},
};

static struct PyModuleDef module_def = {
    PyModuleDef_HEAD_INIT, "ltx_testext", "Exact-size allocations for leaktrace's tests.", -1,
    methods, NULL, NULL, NULL, NULL,
};

PyMODINIT_FUNC
PyInit_ltx_testext(void)
{
    PyObject *module = PyModule_Create(&module_def);
    if (module && PyModule_AddIntConstant(module, "SLOTS", LTX_SLOTS) < 0) {
        Py_CLEAR(module);
    }
    return module;
}
