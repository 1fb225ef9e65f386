/* lt_pyretain.c - leaktrace._core.find_paths: why objects are alive. */
#include "module/lt_pyretain.h"

#include <time.h>

#include "heap/lt_retain.h"
#include "module/lt_pyobj.h"

static const char *const root_kind_names[LT_ROOT_KIND_COUNT] = {
    [LT_ROOT_MODULE] = "module",     [LT_ROOT_CLASS] = "class",
    [LT_ROOT_FRAME] = "frame",       [LT_ROOT_EXCEPTION] = "exception",
    [LT_ROOT_EXTERNAL] = "external", [LT_ROOT_GARBAGE] = "garbage",
};

static const char *const edge_kind_names[LT_EDGE_KIND_COUNT] = {
    [LT_EDGE_ATTR] = "attr",         [LT_EDGE_KEY] = "key",
    [LT_EDGE_INDEX] = "index",       [LT_EDGE_SET_ITEM] = "set_item",
    [LT_EDGE_DICT_KEY] = "dict_key", [LT_EDGE_CLOSURE] = "closure",
    [LT_EDGE_LOCAL] = "local",       [LT_EDGE_OTHER] = "other",
};

/* A decoded path as a dict (the bytes were validated or made by us). */
PyObject *
lt_py_path(const lt_path *p)
{
    PyObject *edges = PyList_New(p->nedges);
    if (!edges) {
        return NULL;
    }
    for (uint32_t i = 0; i < p->nedges; i++) {
        PyObject *t = Py_BuildValue("(sN)", edge_kind_names[p->edges[i].kind],
                                    lt_py_decode(p->edges[i].text, p->edges[i].len));
        if (!t) {
            Py_DECREF(edges);
            return NULL;
        }
        PyList_SET_ITEM(edges, i, t);
    }
    return Py_BuildValue("{s:s,s:N,s:N,s:N,s:K,s:K}", "root_kind", root_kind_names[p->root_kind],
                         "root", lt_py_decode(p->root, p->root_len), "target",
                         lt_py_decode(p->target, p->target_len), "edges", edges, "object_bytes",
                         (unsigned long long)p->object_bytes, "retained_bytes",
                         (unsigned long long)p->retained_bytes);
}

static PyObject *
paths_list(const lt_bytes *b, int npaths)
{
    PyObject *list = PyList_New(npaths);
    const uint8_t *pos = b->data, *end = b->data + b->len;
    for (int i = 0; list && i < npaths; i++) {
        lt_path path;
        PyObject *item = lt_path_decode(&pos, end, &path) == 0 ? lt_py_path(&path) : NULL;
        if (!item) {
            if (!PyErr_Occurred()) {
                PyErr_SetString(PyExc_RuntimeError, "leaktrace: bad retention path");
            }
            Py_CLEAR(list);
            break;
        }
        PyList_SET_ITEM(list, i, item);
    }
    return list;
}

static uint64_t
elapsed_ns(const struct timespec *since)
{
    struct timespec now;
    clock_gettime(CLOCK_MONOTONIC, &now);
    return (uint64_t)(now.tv_sec - since->tv_sec) * 1000000000ull + (uint64_t)now.tv_nsec -
           (uint64_t)since->tv_nsec;
}

PyObject *
lt_py_find_paths(PyObject *module, PyObject *args, PyObject *kwargs)
{
    static char *keywords[] = {"objects", "max_paths", "dominators", "caller_frames", NULL};
    PyObject *objects;
    int max_paths = 5, dominators = 1, caller_frames = 1;
    (void)module;
    if (!PyArg_ParseTupleAndKeywords(args, kwargs, "O!|ipi:find_paths", keywords, &PyTuple_Type,
                                     &objects, &max_paths, &dominators, &caller_frames)) {
        return NULL;
    }
    if (max_paths < 1 || max_paths > 100) {
        PyErr_SetString(PyExc_ValueError, "max_paths must be between 1 and 100");
        return NULL;
    }
    if (lt_graph_collector_running()) {
        PyErr_SetString(PyExc_RuntimeError,
                        "leaktrace cannot analyze the heap while the garbage collector runs");
        return NULL;
    }
    Py_ssize_t nobjects = PyTuple_GET_SIZE(objects);
    lt_retain r;
    lt_bytes *found = PyMem_Calloc((size_t)nobjects + 1, sizeof(lt_bytes));
    int *counts = PyMem_Calloc((size_t)nobjects + 1, sizeof(int));
    PyObject *result = NULL, *paths = NULL;
    uint64_t build_ns = 0, dominators_ns = 0, paths_ns = 0;
    if (!found || !counts) {
        PyMem_Free(found);
        PyMem_Free(counts);
        return PyErr_NoMemory();
    }
    /* No Python object is made from here to lt_retain_destroy(); the
     * collector stays off all the same, in case a C helper allocates. */
    int was_enabled = PyGC_Disable();
    struct timespec t0;
    clock_gettime(CLOCK_MONOTONIC, &t0);
    int failed = lt_retain_build(&r, caller_frames, objects) < 0;
    build_ns = elapsed_ns(&t0);
    clock_gettime(CLOCK_MONOTONIC, &t0);
    if (!failed && dominators) {
        failed = lt_retain_dominators(&r) < 0;
        dominators_ns = elapsed_ns(&t0);
    }
    clock_gettime(CLOCK_MONOTONIC, &t0);
    for (Py_ssize_t i = 0; i < nobjects && !failed; i++) {
        counts[i] = lt_retain_why(&r, PyTuple_GET_ITEM(objects, i), max_paths, &found[i]);
        failed = counts[i] < 0;
    }
    paths_ns = elapsed_ns(&t0);
    uint64_t nodes = r.graph.count, edges = r.graph.nedges, memory = r.graph.peak_memory;
    lt_owners owners = r.owners; /* its figures; the arrays go with r */
    lt_retain_destroy(&r);
    if (was_enabled) {
        PyGC_Enable();
    }
    if (failed) {
        PyErr_NoMemory();
        goto done;
    }
    if (!(paths = PyList_New(nobjects))) {
        goto done;
    }
    for (Py_ssize_t i = 0; i < nobjects; i++) {
        PyObject *list = paths_list(&found[i], counts[i]);
        if (!list) {
            goto done;
        }
        PyList_SET_ITEM(paths, i, list);
    }
    result = Py_BuildValue(
        "{s:O,s:K,s:K,s:K,s:K,s:K,s:K,s:K,s:K,s:K,s:K,s:K,s:O}", "paths", paths, "objects",
        (unsigned long long)nodes, "edges", (unsigned long long)edges, "analysis_bytes",
        (unsigned long long)memory, "build_ns", (unsigned long long)build_ns, "dominators_ns",
        (unsigned long long)dominators_ns, "paths_ns", (unsigned long long)paths_ns, "owners_ns",
        (unsigned long long)owners.duration_ns, "native_blocks",
        (unsigned long long)owners.nblocks, "native_owned_bytes",
        (unsigned long long)owners.owned_bytes, "native_unowned_bytes",
        (unsigned long long)owners.unowned_bytes, "native_read_bytes",
        (unsigned long long)owners.read_bytes, "native_truncated",
        owners.truncated ? Py_True : Py_False);
done:
    Py_XDECREF(paths);
    for (Py_ssize_t i = 0; i < nobjects; i++) {
        lt_bytes_free(&found[i]);
    }
    PyMem_Free(found);
    PyMem_Free(counts);
    return result;
}
