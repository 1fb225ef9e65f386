/* lt_holder.c - see lt_holder.h. */
#include "compat/lt_compat.h"

#include "heap/lt_holder.h"

#include <string.h>
#include <structmember.h>

#include "heap/lt_edges.h"

/* Whether op's type is the type named `name`, or derives from it. */
static int
is_a(PyObject *op, const char *name)
{
    for (PyTypeObject *t = Py_TYPE(op); t; t = t->tp_base) {
        if (strcmp(t->tp_name, name) == 0) {
            return 1;
        }
    }
    return 0;
}

static int
is_lru_wrapper(PyObject *op)
{
    return is_a(op, "functools._lru_cache_wrapper");
}

/* A positive exact int, or 0. */
static uint64_t
positive_int(PyObject *v)
{
    if (!v || !PyLong_CheckExact(v)) {
        return 0;
    }
    int overflow;
    long long x = PyLong_AsLongLongAndOverflow(v, &overflow);
    if (x == -1 && PyErr_Occurred()) {
        PyErr_Clear();
    }
    return overflow || x <= 0 ? 0 : (uint64_t)x;
}

typedef struct {
    PyObject *skip; /* the wrapper's own __dict__ */
    PyObject *found;
} dict_probe;

static int
find_cache_dict(PyObject *child, void *arg)
{
    dict_probe *probe = arg;
    if (child && PyDict_CheckExact(child) && child != probe->skip) {
        probe->found = child;
        return 1;
    }
    return 0;
}

/* The cache dict of an lru_cache wrapper: the dict it visits that is not
 * its __dict__. */
static PyObject *
lru_cache_dict(PyObject *wrapper)
{
    dict_probe probe = {lt_compat_existing_dict(wrapper), NULL};
    if (Py_TYPE(wrapper)->tp_traverse) {
        Py_TYPE(wrapper)->tp_traverse(wrapper, find_cache_dict, &probe);
    }
    return probe.found;
}

/* The maxsize an lru_cache decorator kept: functools.lru_cache sets the
 * wrapper's cache_parameters to a lambda over its maxsize, whose cell holds
 * an int (None when unbounded). 0 when not an int or not found. */
static uint64_t
lru_maxsize(PyObject *wrapper)
{
    PyObject *dict = lt_compat_existing_dict(wrapper);
    PyObject *params = dict && PyDict_Check(dict) ? lt_edges_str_entry(dict, "cache_parameters")
                                                  : NULL;
    if (!params || !PyFunction_Check(params)) {
        return 0;
    }
    PyFunctionObject *f = (PyFunctionObject *)params;
    PyObject *closure = f->func_closure;
    if (!closure || !PyTuple_Check(closure) || !PyCode_Check(f->func_code)) {
        return 0;
    }
    for (Py_ssize_t k = 0; k < PyTuple_GET_SIZE(closure); k++) {
        size_t len;
        PyObject *cell = PyTuple_GET_ITEM(closure, k);
        const char *name = lt_edges_str_text(
            lt_compat_freevar_name((PyCodeObject *)f->func_code, k), &len);
        if (name && len == 7 && memcmp(name, "maxsize", 7) == 0 && PyCell_Check(cell)) {
            return positive_int(PyCell_GET(cell));
        }
    }
    return 0;
}

/* An attribute of op by name, from its instance dict, its inline values or
 * its slots; borrowed, or NULL. */
static PyObject *
attribute(PyObject *op, const char *name)
{
    size_t len = strlen(name);
    PyObject *dict = lt_compat_existing_dict(op);
    PyObject *v = dict && PyDict_Check(dict) ? lt_edges_str_entry(dict, name) : NULL;
    if (!v) {
        v = lt_compat_inline_attr(op, name, len);
    }
    for (PyTypeObject *t = Py_TYPE(op); !v && t; t = t->tp_base) {
        for (PyMemberDef *m = t->tp_members; m && m->name && !v; m++) {
            if ((m->type == T_OBJECT || m->type == T_OBJECT_EX) && strcmp(m->name, name) == 0) {
                v = *(PyObject **)((char *)op + m->offset);
            }
        }
    }
    return v;
}

/* The bound an object states for the mapping it keeps, or 0. */
static uint64_t
capacity_of(PyObject *op)
{
    static const char *const names[] = {"capacity", "maxsize", "maxlen"};
    if (PyModule_Check(op) || PyType_Check(op)) {
        return 0;
    }
    for (size_t i = 0; i < sizeof(names) / sizeof(names[0]); i++) {
        uint64_t bound = positive_int(attribute(op, names[i]));
        if (bound) {
            return bound;
        }
    }
    return 0;
}

/* Whether dict is one of re's pattern caches in the namespace ns (a module
 * global _cache or _cache2); sets *bound to re's _MAXCACHE of the same
 * suffix (0 when it cannot be read). */
static int
re_cache(PyObject *ns, PyObject *dict, uint64_t *bound)
{
    size_t len;
    const char *module = lt_edges_str_text(lt_edges_str_entry(ns, "__name__"), &len);
    if (!module || len != 2 || memcmp(module, "re", 2) != 0) {
        return 0;
    }
    Py_ssize_t pos = 0;
    PyObject *k, *v;
    while (PyDict_Next(ns, &pos, &k, &v)) {
        const char *key = v == dict ? lt_edges_str_text(k, &len) : NULL;
        if (key && len >= 6 && len < 16 && memcmp(key, "_cache", 6) == 0) {
            char name[32];
            memcpy(name, "_MAXCACHE", 9);
            memcpy(name + 9, key + 6, len - 6);
            name[9 + len - 6] = '\0';
            *bound = positive_int(lt_edges_str_entry(ns, name));
            return 1;
        }
    }
    return 0;
}

/* Whether chain[i] is the program's structure rather than a container of
 * its data: a namespace, a closure tuple, a function's globals, a class's
 * __mro__ or __bases__. */
static int
structural(PyObject **chain, size_t i, int namespace_root)
{
    if (i == 0) {
        return namespace_root;
    }
    PyObject *p = chain[i - 1], *c = chain[i];
    if (lt_edges_namespace_of(p) == c) {
        return 1;
    }
    if (PyFunction_Check(p)) {
        PyFunctionObject *f = (PyFunctionObject *)p;
        return c == f->func_closure || c == f->func_globals;
    }
    if (PyType_Check(p)) {
        PyTypeObject *t = (PyTypeObject *)p;
        return c == t->tp_mro || c == t->tp_bases;
    }
    return 0;
}

/* The items chain[i] holds when it is a container of data; -1 otherwise. */
static int64_t
items_of(PyObject **chain, size_t i, int namespace_root)
{
    PyObject *op = chain[i];
    if (structural(chain, i, namespace_root)) {
        return -1;
    }
    if (PyDict_Check(op)) {
        return PyDict_GET_SIZE(op);
    }
    if (PyList_Check(op) || PyTuple_Check(op)) {
        return Py_SIZE(op);
    }
    if (PyAnySet_Check(op)) {
        return PySet_GET_SIZE(op);
    }
    if (is_a(op, "collections.deque")) {
        return Py_SIZE(op);
    }
    if (is_lru_wrapper(op)) {
        PyObject *cache = lru_cache_dict(op);
        return cache ? PyDict_GET_SIZE(cache) : 0;
    }
    return -1;
}

void
lt_holder_find(PyObject **chain, size_t n, int namespace_root, lt_holder *out)
{
    *out = (lt_holder){n - 2, LT_HOLD_REFERENCE, 0, 0};
    int64_t most = -1;
    size_t i = 0;
    for (size_t k = 0; k < n; k++) {
        int64_t items = items_of(chain, k, namespace_root);
        if (items >= 0 && items >= most) { /* the innermost of equals */
            most = items;
            i = k;
        }
    }
    if (most < 0) {
        return;
    }
    PyObject *h = chain[i], *owner = i > 0 ? chain[i - 1] : NULL;
    *out = (lt_holder){i, LT_HOLD_SEQUENCE, 0, (uint64_t)most};
    if (is_lru_wrapper(h) || (owner && PyDict_Check(h) && is_lru_wrapper(owner))) {
        out->at = is_lru_wrapper(h) ? i : i - 1;
        out->kind = LT_HOLD_LRU_CACHE;
        out->bound = lru_maxsize(chain[out->at]);
    }
    else if (is_a(h, "collections.deque")) {
        Py_ssize_t maxlen = lt_compat_deque_maxlen(h);
        out->kind = LT_HOLD_DEQUE;
        out->bound = maxlen > 0 ? (uint64_t)maxlen : 0;
    }
    else if (PyDict_Check(h)) {
        out->kind = LT_HOLD_DICT;
        if (i == 1 && namespace_root && re_cache(chain[0], h, &out->bound)) {
            out->kind = LT_HOLD_RE_CACHE;
        }
        else if ((out->bound = capacity_of(h)) != 0) {
            out->kind = LT_HOLD_CAPACITY;
        }
        else if (owner) {
            /* The object keeping the dict, past its own namespace (3.10). */
            size_t o = i - 1;
            if (o > 0 && lt_edges_namespace_of(chain[o - 1]) == chain[o]) {
                o--;
            }
            if (!structural(chain, o, namespace_root) &&
                (out->bound = capacity_of(chain[o])) != 0) {
                out->kind = LT_HOLD_CAPACITY;
                out->at = o;
            }
        }
    }
    else if (PyAnySet_Check(h)) {
        out->kind = LT_HOLD_SET;
    }
}
