/* ltx_native.c - a test-only extension that allocates with the C library
 * directly (the malloc family and mmap), not through any PyMem domain.
 *
 * Each function makes exactly the one call it is named after, so a tracker
 * of native allocations must charge the calling Python line exactly the
 * requested bytes. Blocks are named by handles, small ints (0 to
 * LTXN_SLOTS - 1) that CPython never allocates, as in ltx_testext.c.
 *
 * The table is only touched with the GIL held. The *_nogil functions call
 * the allocator with the GIL released; in_c_thread runs it on a thread that
 * Python does not know at all.
 */
#define PY_SSIZE_T_CLEAN
#include <Python.h>

#include <malloc.h>
#include <pthread.h>
#include <stdlib.h>
#include <sys/mman.h>

#define LTXN_SLOTS 257

enum { LTXN_FREE_SLOT = 0, LTXN_HEAP, LTXN_MAP };

typedef struct {
    void *ptr;
    size_t size; /* mappings: their length */
    int kind;
} ltxn_slot;

/* Protected by the GIL. */
static ltxn_slot slots[LTXN_SLOTS];

static PyObject *
new_handle(void *ptr, size_t size, int kind)
{
    for (int i = 0; i < LTXN_SLOTS; i++) {
        if (slots[i].kind == LTXN_FREE_SLOT) {
            slots[i].ptr = ptr;
            slots[i].size = size;
            slots[i].kind = kind;
            return PyLong_FromLong(i);
        }
    }
    PyErr_Format(PyExc_RuntimeError, "ltx_native: more than %d live blocks", LTXN_SLOTS);
    return NULL;
}

static ltxn_slot *
get_slot(PyObject *handle, int kind)
{
    long index = PyLong_AsLong(handle);
    if (index == -1 && PyErr_Occurred()) {
        return NULL;
    }
    if (index < 0 || index >= LTXN_SLOTS || slots[index].kind != kind) {
        PyErr_Format(PyExc_ValueError, "ltx_native: %ld is not a live handle of that kind",
                     index);
        return NULL;
    }
    return &slots[index];
}

static PyObject *
heap_handle(void *ptr, size_t size)
{
    if (!ptr) {
        return PyErr_NoMemory();
    }
    return new_handle(ptr, size, LTXN_HEAP);
}

static PyObject *
ltxn_malloc(PyObject *self, PyObject *arg)
{
    (void)self;
    Py_ssize_t n = PyLong_AsSsize_t(arg);
    if (n < 0) {
        return PyErr_Occurred() ? NULL : PyErr_Format(PyExc_ValueError, "negative size");
    }
    return heap_handle(malloc((size_t)n), (size_t)n);
}

static PyObject *
ltxn_calloc(PyObject *self, PyObject *args)
{
    (void)self;
    Py_ssize_t nelem, elsize;
    if (!PyArg_ParseTuple(args, "nn", &nelem, &elsize)) {
        return NULL;
    }
    return heap_handle(calloc((size_t)nelem, (size_t)elsize), (size_t)(nelem * elsize));
}

static PyObject *
ltxn_realloc(PyObject *self, PyObject *args)
{
    (void)self;
    PyObject *handle;
    Py_ssize_t n;
    if (!PyArg_ParseTuple(args, "On", &handle, &n)) {
        return NULL;
    }
    ltxn_slot *slot = get_slot(handle, LTXN_HEAP);
    if (!slot) {
        return NULL;
    }
    void *ptr = realloc(slot->ptr, (size_t)n);
    if (!ptr) {
        return PyErr_NoMemory();
    }
    slot->ptr = ptr;
    slot->size = (size_t)n;
    Py_INCREF(handle);
    return handle;
}

static PyObject *
ltxn_reallocarray(PyObject *self, PyObject *args)
{
    (void)self;
    PyObject *handle;
    Py_ssize_t nelem, elsize;
    if (!PyArg_ParseTuple(args, "Onn", &handle, &nelem, &elsize)) {
        return NULL;
    }
    ltxn_slot *slot = get_slot(handle, LTXN_HEAP);
    if (!slot) {
        return NULL;
    }
    void *ptr = reallocarray(slot->ptr, (size_t)nelem, (size_t)elsize);
    if (!ptr) {
        return PyErr_NoMemory();
    }
    slot->ptr = ptr;
    slot->size = (size_t)(nelem * elsize);
    Py_INCREF(handle);
    return handle;
}

static PyObject *
ltxn_posix_memalign(PyObject *self, PyObject *args)
{
    (void)self;
    Py_ssize_t alignment, n;
    if (!PyArg_ParseTuple(args, "nn", &alignment, &n)) {
        return NULL;
    }
    void *ptr = NULL;
    if (posix_memalign(&ptr, (size_t)alignment, (size_t)n) != 0) {
        return PyErr_NoMemory();
    }
    return heap_handle(ptr, (size_t)n);
}

static PyObject *
ltxn_aligned_alloc(PyObject *self, PyObject *args)
{
    (void)self;
    Py_ssize_t alignment, n;
    if (!PyArg_ParseTuple(args, "nn", &alignment, &n)) {
        return NULL;
    }
    return heap_handle(aligned_alloc((size_t)alignment, (size_t)n), (size_t)n);
}

static PyObject *
ltxn_memalign(PyObject *self, PyObject *args)
{
    (void)self;
    Py_ssize_t alignment, n;
    if (!PyArg_ParseTuple(args, "nn", &alignment, &n)) {
        return NULL;
    }
    return heap_handle(memalign((size_t)alignment, (size_t)n), (size_t)n);
}

static PyObject *
ltxn_valloc(PyObject *self, PyObject *arg)
{
    (void)self;
    Py_ssize_t n = PyLong_AsSsize_t(arg);
    if (n < 0) {
        return PyErr_Occurred() ? NULL : PyErr_Format(PyExc_ValueError, "negative size");
    }
    return heap_handle(valloc((size_t)n), (size_t)n);
}

static PyObject *
ltxn_pvalloc(PyObject *self, PyObject *arg)
{
    (void)self;
    Py_ssize_t n = PyLong_AsSsize_t(arg);
    if (n < 0) {
        return PyErr_Occurred() ? NULL : PyErr_Format(PyExc_ValueError, "negative size");
    }
    return heap_handle(pvalloc((size_t)n), (size_t)n);
}

static PyObject *
ltxn_free(PyObject *self, PyObject *handle)
{
    (void)self;
    ltxn_slot *slot = get_slot(handle, LTXN_HEAP);
    if (!slot) {
        return NULL;
    }
    free(slot->ptr);
    slot->kind = LTXN_FREE_SLOT;
    Py_RETURN_NONE;
}

static PyObject *
ltxn_mmap(PyObject *self, PyObject *arg)
{
    (void)self;
    Py_ssize_t n = PyLong_AsSsize_t(arg);
    if (n <= 0) {
        return PyErr_Occurred() ? NULL : PyErr_Format(PyExc_ValueError, "size must be > 0");
    }
    void *ptr = mmap(NULL, (size_t)n, PROT_READ | PROT_WRITE, MAP_PRIVATE | MAP_ANONYMOUS, -1, 0);
    if (ptr == MAP_FAILED) {
        return PyErr_SetFromErrno(PyExc_OSError);
    }
    return new_handle(ptr, (size_t)n, LTXN_MAP);
}

/* munmap(handle, nbytes): unmaps the first nbytes; the rest stays mapped
 * under the same handle. */
static PyObject *
ltxn_munmap(PyObject *self, PyObject *args)
{
    (void)self;
    PyObject *handle;
    Py_ssize_t n;
    if (!PyArg_ParseTuple(args, "On", &handle, &n)) {
        return NULL;
    }
    ltxn_slot *slot = get_slot(handle, LTXN_MAP);
    if (!slot) {
        return NULL;
    }
    if (n <= 0 || (size_t)n > slot->size) {
        return PyErr_Format(PyExc_ValueError, "ltx_native: bad length");
    }
    if (munmap(slot->ptr, (size_t)n) != 0) {
        return PyErr_SetFromErrno(PyExc_OSError);
    }
    slot->ptr = (char *)slot->ptr + n;
    slot->size -= (size_t)n;
    if (slot->size == 0) {
        slot->kind = LTXN_FREE_SLOT;
    }
    Py_RETURN_NONE;
}

static PyObject *
ltxn_malloc_nogil(PyObject *self, PyObject *arg)
{
    (void)self;
    Py_ssize_t n = PyLong_AsSsize_t(arg);
    if (n < 0) {
        return PyErr_Occurred() ? NULL : PyErr_Format(PyExc_ValueError, "negative size");
    }
    void *ptr;
    Py_BEGIN_ALLOW_THREADS
    ptr = malloc((size_t)n);
    Py_END_ALLOW_THREADS
    return heap_handle(ptr, (size_t)n);
}

static PyObject *
ltxn_free_nogil(PyObject *self, PyObject *handle)
{
    (void)self;
    ltxn_slot *slot = get_slot(handle, LTXN_HEAP);
    if (!slot) {
        return NULL;
    }
    void *ptr = slot->ptr;
    slot->kind = LTXN_FREE_SLOT;
    Py_BEGIN_ALLOW_THREADS
    free(ptr);
    Py_END_ALLOW_THREADS
    Py_RETURN_NONE;
}

static void *
c_thread_main(void *arg)
{
    return malloc(*(size_t *)arg);
}

/* Allocates n bytes on a new thread that never meets the interpreter. */
static PyObject *
ltxn_malloc_in_c_thread(PyObject *self, PyObject *arg)
{
    (void)self;
    Py_ssize_t n = PyLong_AsSsize_t(arg);
    if (n < 0) {
        return PyErr_Occurred() ? NULL : PyErr_Format(PyExc_ValueError, "negative size");
    }
    size_t size = (size_t)n;
    pthread_t thread;
    void *ptr = NULL;
    int err;
    Py_BEGIN_ALLOW_THREADS
    err = pthread_create(&thread, NULL, c_thread_main, &size);
    if (err == 0) {
        pthread_join(thread, &ptr);
    }
    Py_END_ALLOW_THREADS
    if (err != 0) {
        errno = err;
        return PyErr_SetFromErrno(PyExc_OSError);
    }
    return heap_handle(ptr, size);
}

static PyObject *
ltxn_free_all(PyObject *self, PyObject *unused)
{
    (void)self;
    (void)unused;
    long n = 0;
    for (int i = 0; i < LTXN_SLOTS; i++) {
        if (slots[i].kind == LTXN_HEAP) {
            free(slots[i].ptr);
        }
        else if (slots[i].kind == LTXN_MAP) {
            munmap(slots[i].ptr, slots[i].size);
        }
        else {
            continue;
        }
        slots[i].kind = LTXN_FREE_SLOT;
        n++;
    }
    return PyLong_FromLong(n);
}

/* The function a call to malloc from this object reaches now, read from
 * its own GOT (the address of an imported function is taken through it). */
static PyObject *
ltxn_malloc_target(PyObject *self, PyObject *unused)
{
    (void)self;
    (void)unused;
    void *(*volatile target)(size_t) = malloc;
    return PyLong_FromVoidPtr((void *)target);
}

#define ONE(name, doc) {#name, ltxn_##name, METH_O, doc}
#define ARGS(name, doc) {#name, ltxn_##name, METH_VARARGS, doc}
#define NONE(name, doc) {#name, ltxn_##name, METH_NOARGS, doc}

static PyMethodDef methods[] = {
    ONE(malloc, "malloc(n) -> handle"),
    ARGS(calloc, "calloc(nelem, elsize) -> handle"),
    ARGS(realloc, "realloc(handle, n) -> handle"),
    ARGS(reallocarray, "reallocarray(handle, nelem, elsize) -> handle"),
    ARGS(posix_memalign, "posix_memalign(alignment, n) -> handle"),
    ARGS(aligned_alloc, "aligned_alloc(alignment, n) -> handle"),
    ARGS(memalign, "memalign(alignment, n) -> handle"),
    ONE(valloc, "valloc(n) -> handle"),
    ONE(pvalloc, "pvalloc(n) -> handle"),
    ONE(free, "free(handle)"),
    ONE(mmap, "mmap(n) -> handle of an anonymous private mapping"),
    ARGS(munmap, "munmap(handle, n): unmap the first n bytes"),
    ONE(malloc_nogil, "malloc_nogil(n) -> handle, malloc called without the GIL"),
    ONE(free_nogil, "free_nogil(handle): free called without the GIL"),
    ONE(malloc_in_c_thread, "malloc_in_c_thread(n) -> handle, malloc on a non-Python thread"),
    NONE(free_all, "free_all() -> int: free every live block"),
    NONE(malloc_target, "malloc_target() -> int: where this object's malloc calls go"),
    {NULL, NULL, 0, NULL},
};

static struct PyModuleDef module_def = {
    PyModuleDef_HEAD_INIT, "ltx_native", "Exact-size C library allocations for leaktrace's tests.",
    -1, methods, NULL, NULL, NULL, NULL,
};

PyMODINIT_FUNC
PyInit_ltx_native(void)
{
    return PyModule_Create(&module_def);
}
