/* ltx_table.c - a test-only extension that allocates as libxml2 or sqlite3
 * do: through function pointers initialised in data, and that keeps native
 * blocks inside Python objects.
 *
 * ltxt_data_table sits in .data and ltxt_relro_table in .data.rel.ro (made
 * read-only after loading): the loader fills both with R_X86_64_64
 * relocations against malloc, realloc and free, which no PLT or GOT slot
 * carries. Their entries are read through volatile pointers so that the
 * compiler cannot turn a call through them into a direct call.
 *
 * Holder(n) is a Python object whose struct holds the one pointer to a
 * malloc'd block of n bytes (freed with the object): the native memory an
 * ndarray or an lxml element owns. Holder(n, offset) stores a pointer offset
 * bytes into the block instead (an interior pointer). orphan(n) mallocs a
 * block whose only pointer is kept in this object's own .bss: no Python
 * object owns it. Box(obj) keeps a strong reference to obj and is not a
 * gc object (no tp_traverse), as extension objects written without gc
 * support are: the collector cannot see what it holds.
 *
 * Blocks of the table functions are named by handles, small ints (0 to
 * LTXT_BLOCKS - 1) that CPython never allocates, so that the calling line is
 * charged the block alone. Everything runs with the GIL held.
 */
#define PY_SSIZE_T_CLEAN
#include <Python.h>

#include <stdint.h>
#include <stdlib.h>

typedef struct {
    void *(*alloc)(size_t);
    void *(*resize)(void *, size_t);
    void (*release)(void *);
} ltxt_allocator;

ltxt_allocator ltxt_data_table = {malloc, realloc, free};
const ltxt_allocator ltxt_relro_table = {malloc, realloc, free};

typedef void *(*alloc_fn)(size_t);
typedef void *(*resize_fn)(void *, size_t);
typedef void (*release_fn)(void *);

static const ltxt_allocator *
table_of(int relro)
{
    return relro ? &ltxt_relro_table : (const ltxt_allocator *)&ltxt_data_table;
}

#define LTXT_BLOCKS 64

/* Protected by the GIL. */
static void *blocks[LTXT_BLOCKS];

static PyObject *
new_handle(void *ptr)
{
    if (!ptr) {
        return PyErr_NoMemory();
    }
    for (int i = 0; i < LTXT_BLOCKS; i++) {
        if (!blocks[i]) {
            blocks[i] = ptr;
            return PyLong_FromLong(i);
        }
    }
    free(ptr);
    PyErr_SetString(PyExc_RuntimeError, "ltx_table: too many live blocks");
    return NULL;
}

static void **
get_handle(PyObject *handle)
{
    long i = PyLong_AsLong(handle);
    if (i < 0 || i >= LTXT_BLOCKS || !blocks[i]) {
        if (!PyErr_Occurred()) {
            PyErr_SetString(PyExc_ValueError, "ltx_table: not a live handle");
        }
        return NULL;
    }
    return &blocks[i];
}

/* table_malloc(n, relro=0): malloc through the table's pointer. */
static PyObject *
ltxt_table_malloc(PyObject *self, PyObject *args)
{
    (void)self;
    Py_ssize_t n;
    int relro = 0;
    if (!PyArg_ParseTuple(args, "n|p", &n, &relro)) {
        return NULL;
    }
    alloc_fn f = *(alloc_fn volatile *)&table_of(relro)->alloc;
    return new_handle(f((size_t)n));
}

/* table_realloc(handle, n): realloc through the .data table. */
static PyObject *
ltxt_table_realloc(PyObject *self, PyObject *args)
{
    (void)self;
    PyObject *handle;
    Py_ssize_t n;
    if (!PyArg_ParseTuple(args, "On", &handle, &n)) {
        return NULL;
    }
    void **block = get_handle(handle);
    if (!block) {
        return NULL;
    }
    resize_fn f = *(resize_fn volatile *)&ltxt_data_table.resize;
    void *grown = f(*block, (size_t)n);
    if (!grown) {
        return PyErr_NoMemory();
    }
    *block = grown;
    Py_INCREF(handle);
    return handle;
}

/* table_free(handle): free through the .data table. */
static PyObject *
ltxt_table_free(PyObject *self, PyObject *handle)
{
    (void)self;
    void **block = get_handle(handle);
    if (!block) {
        return NULL;
    }
    release_fn f = *(release_fn volatile *)&ltxt_data_table.release;
    f(*block);
    *block = NULL;
    Py_RETURN_NONE;
}

/* table_slots(): the addresses of the alloc entries of both tables. */
static PyObject *
ltxt_table_slots(PyObject *self, PyObject *unused)
{
    (void)self;
    (void)unused;
    return Py_BuildValue("(NN)", PyLong_FromVoidPtr((void *)&ltxt_data_table.alloc),
                         PyLong_FromVoidPtr((void *)&ltxt_relro_table.alloc));
}

/* ---- Holder ---- */

typedef struct {
    PyObject_HEAD char *block; /* the block, or offset bytes into it */
    Py_ssize_t offset;
} ltxt_holder;

static int
holder_init(PyObject *op, PyObject *args, PyObject *kwds)
{
    ltxt_holder *h = (ltxt_holder *)op;
    static char *names[] = {"size", "offset", NULL};
    Py_ssize_t size, offset = 0;
    if (!PyArg_ParseTupleAndKeywords(args, kwds, "n|n", names, &size, &offset)) {
        return -1;
    }
    if (size <= 0 || offset < 0 || offset >= size || h->block) {
        PyErr_SetString(PyExc_ValueError, "ltx_table: bad Holder size or offset");
        return -1;
    }
    char *block = malloc((size_t)size);
    if (!block) {
        PyErr_NoMemory();
        return -1;
    }
    h->block = block + offset;
    h->offset = offset;
    return 0;
}

static void
holder_dealloc(PyObject *op)
{
    ltxt_holder *h = (ltxt_holder *)op;
    if (h->block) {
        free(h->block - h->offset);
    }
    Py_TYPE(op)->tp_free(op);
}

static PyObject *
holder_address(PyObject *op, PyObject *unused)
{
    (void)unused;
    ltxt_holder *h = (ltxt_holder *)op;
    return PyLong_FromVoidPtr(h->block - h->offset);
}

static PyMethodDef holder_methods[] = {
    {"address", holder_address, METH_NOARGS, "the block's start address"},
    {NULL, NULL, 0, NULL},
};

static PyTypeObject holder_type = {
    PyVarObject_HEAD_INIT(NULL, 0).tp_name = "ltx_table.Holder",
    .tp_basicsize = sizeof(ltxt_holder),
    .tp_flags = Py_TPFLAGS_DEFAULT,
    .tp_new = PyType_GenericNew,
    .tp_init = holder_init,
    .tp_dealloc = holder_dealloc,
    .tp_methods = holder_methods,
};

/* ---- Box ---- */

typedef struct {
    PyObject_HEAD PyObject *item;
} ltxt_box;

static PyObject *
box_new(PyTypeObject *type, PyObject *args, PyObject *kwds)
{
    PyObject *item;
    if (kwds || !PyArg_ParseTuple(args, "O:Box", &item)) {
        if (kwds) {
            PyErr_SetString(PyExc_TypeError, "Box takes one positional argument");
        }
        return NULL;
    }
    ltxt_box *box = (ltxt_box *)type->tp_alloc(type, 0);
    if (box) {
        box->item = Py_NewRef(item);
    }
    return (PyObject *)box;
}

static void
box_dealloc(PyObject *op)
{
    Py_CLEAR(((ltxt_box *)op)->item);
    Py_TYPE(op)->tp_free(op);
}

static PyTypeObject box_type = {
    PyVarObject_HEAD_INIT(NULL, 0).tp_name = "ltx_table.Box",
    .tp_basicsize = sizeof(ltxt_box),
    .tp_flags = Py_TPFLAGS_DEFAULT,
    .tp_new = box_new,
    .tp_dealloc = box_dealloc,
};

/* ---- a block no Python object owns ---- */

static void *orphan_block;

static PyObject *
ltxt_orphan(PyObject *self, PyObject *arg)
{
    (void)self;
    Py_ssize_t n = PyLong_AsSsize_t(arg);
    if (n <= 0) {
        return PyErr_Occurred() ? NULL : PyErr_Format(PyExc_ValueError, "size must be > 0");
    }
    free(orphan_block);
    orphan_block = malloc((size_t)n);
    return orphan_block ? PyLong_FromVoidPtr(orphan_block) : PyErr_NoMemory();
}

static PyObject *
ltxt_free_orphan(PyObject *self, PyObject *unused)
{
    (void)self;
    (void)unused;
    free(orphan_block);
    orphan_block = NULL;
    Py_RETURN_NONE;
}

static PyMethodDef methods[] = {
    {"table_malloc", ltxt_table_malloc, METH_VARARGS, NULL},
    {"table_realloc", ltxt_table_realloc, METH_VARARGS, NULL},
    {"table_free", ltxt_table_free, METH_O, NULL},
    {"table_slots", ltxt_table_slots, METH_NOARGS, NULL},
    {"orphan", ltxt_orphan, METH_O, NULL},
    {"free_orphan", ltxt_free_orphan, METH_NOARGS, NULL},
    {NULL, NULL, 0, NULL},
};

static struct PyModuleDef module_def = {PyModuleDef_HEAD_INIT, "ltx_table", NULL, -1, methods};

PyMODINIT_FUNC
PyInit_ltx_table(void)
{
    if (PyType_Ready(&holder_type) < 0 || PyType_Ready(&box_type) < 0) {
        return NULL;
    }
    PyObject *m = PyModule_Create(&module_def);
    if (!m) {
        return NULL;
    }
    if (PyModule_AddObjectRef(m, "Holder", (PyObject *)&holder_type) < 0 ||
        PyModule_AddObjectRef(m, "Box", (PyObject *)&box_type) < 0) {
        Py_DECREF(m);
        return NULL;
    }
    return m;
}
