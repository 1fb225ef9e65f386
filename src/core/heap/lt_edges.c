/* lt_edges.c - see lt_edges.h. */
#include "compat/lt_compat.h"

#include "heap/lt_edges.h"

#include <stdio.h>
#include <string.h>
#include <structmember.h>

/* The UTF-8 text of an exact str, without creating anything for ASCII. */
const char *
lt_edges_str_text(PyObject *s, size_t *len)
{
    if (!s || !PyUnicode_CheckExact(s)) {
        return NULL;
    }
    if (PyUnicode_IS_ASCII(s)) {
        *len = (size_t)PyUnicode_GET_LENGTH(s);
        return (const char *)PyUnicode_DATA(s);
    }
    Py_ssize_t n;
    const char *text = PyUnicode_AsUTF8AndSize(s, &n);
    if (!text) {
        PyErr_Clear(); /* lone surrogates: no UTF-8 form */
        return NULL;
    }
    *len = (size_t)n;
    return text;
}

/* The value of the entry of dict with an exact str key equal to name,
 * found by comparing text (a lookup could call a key's __eq__). */
PyObject *
lt_edges_str_entry(PyObject *dict, const char *name)
{
    Py_ssize_t pos = 0;
    PyObject *k, *v;
    size_t want = strlen(name), len;
    while (PyDict_Next(dict, &pos, &k, &v)) {
        const char *text = lt_edges_str_text(k, &len);
        if (text && len == want && memcmp(text, name, len) == 0) {
            return v;
        }
    }
    return NULL;
}

const char *
lt_edges_type_name(PyTypeObject *type, size_t *len)
{
    if (type->tp_flags & Py_TPFLAGS_HEAPTYPE) {
        const char *q = lt_edges_str_text(((PyHeapTypeObject *)type)->ht_qualname, len);
        if (q) {
            return q;
        }
    }
    *len = strlen(type->tp_name);
    return type->tp_name;
}

/* A key as a reader would write it: 'text', 42, or <type>. Never calls the
 * key's own methods. */
static void
key_repr(PyObject *key, char *buf, size_t size)
{
    size_t len;
    const char *text = lt_edges_str_text(key, &len);
    if (text) {
        size_t shown = len > 60 ? 60 : len;
        while (shown < len && shown > 0 && ((unsigned char)text[shown] & 0xC0) == 0x80) {
            shown--;
        }
        snprintf(buf, size, "'%.*s%s'", (int)shown, text, shown < len ? "..." : "");
        return;
    }
    if (PyLong_CheckExact(key)) {
        int overflow;
        long long v = PyLong_AsLongLongAndOverflow(key, &overflow);
        if (!overflow && !(v == -1 && PyErr_Occurred())) {
            snprintf(buf, size, "%lld", v);
            return;
        }
        PyErr_Clear();
    }
    const char *tn = lt_edges_type_name(Py_TYPE(key), &len);
    snprintf(buf, size, "<%.*s>", (int)(len > 80 ? 80 : len), tn);
}

static void
edge(lt_bytes *out, uint32_t *nedges, lt_edge_kind kind, const char *text, size_t len)
{
    lt_bytes_varint(out, kind);
    lt_bytes_str(out, text, len);
    (*nedges)++;
}

static void
edge_str(lt_bytes *out, uint32_t *nedges, lt_edge_kind kind, const char *text)
{
    edge(out, nedges, kind, text, strlen(text));
}

/* A dict entry holding value: as an attribute (str keys, when the dict is an
 * object's namespace) or a key. Returns 0 when value is not in the dict. */
static int
dict_edge(PyObject *dict, PyObject *value, int as_attribute, lt_bytes *out, uint32_t *nedges)
{
    Py_ssize_t pos = 0;
    PyObject *k, *v;
    char buf[LT_MAX_PATH_TEXT];
    while (PyDict_Next(dict, &pos, &k, &v)) {
        if (v == value) {
            size_t len;
            const char *name = as_attribute ? lt_edges_str_text(k, &len) : NULL;
            if (name) {
                edge(out, nedges, LT_EDGE_ATTR, name, len);
            }
            else {
                key_repr(k, buf, sizeof(buf));
                edge_str(out, nedges, LT_EDGE_KEY, buf);
            }
            return 1;
        }
        if (k == value) {
            key_repr(k, buf, sizeof(buf));
            edge_str(out, nedges, LT_EDGE_DICT_KEY, buf);
            return 1;
        }
    }
    return 0;
}

PyObject *
lt_edges_namespace_of(PyObject *op)
{
    if (PyModule_Check(op)) {
        return PyModule_GetDict(op);
    }
    if (PyType_Check(op)) {
        return lt_compat_type_dict((PyTypeObject *)op);
    }
    return lt_compat_existing_dict(op);
}

static int
member_edge(PyObject *p, PyObject *c, lt_bytes *out, uint32_t *nedges)
{
    for (PyTypeObject *t = Py_TYPE(p); t; t = t->tp_base) {
        for (PyMemberDef *m = t->tp_members; m && m->name; m++) {
            if ((m->type == T_OBJECT || m->type == T_OBJECT_EX) &&
                *(PyObject **)((char *)p + m->offset) == c) {
                edge_str(out, nedges, LT_EDGE_ATTR, m->name);
                return 1;
            }
        }
    }
    return 0;
}

typedef struct {
    PyObject *target;
    int is_key;
} lru_probe;

static int
find_lru_key(PyObject *child, void *arg)
{
    lru_probe *probe = arg;
    if (child && PyDict_CheckExact(child)) {
        Py_ssize_t pos = 0;
        PyObject *k, *v;
        while (PyDict_Next(child, &pos, &k, &v)) {
            if (k == probe->target) {
                probe->is_key = 1;
                return 1;
            }
        }
    }
    return 0;
}

/* The position of target among a deque's items: its tp_traverse visits them
 * from left to right, after its type where that is a heap type (3.12+). */
typedef struct {
    PyObject *target;
    PyObject *type;
    Py_ssize_t seen;
    int found;
} deque_probe;

static int
find_deque_item(PyObject *child, void *arg)
{
    deque_probe *probe = arg;
    if (child == probe->target) {
        probe->found = 1;
        return 1;
    }
    probe->seen += child != probe->type;
    return 0;
}

static int
function_edge(PyFunctionObject *f, PyObject *c, lt_bytes *out, uint32_t *nedges)
{
    static const char *const names[] = {"__globals__",  "__defaults__", "__kwdefaults__",
                                        "__code__",     "__module__",   "__name__",
                                        "__qualname__", "__doc__",      "__annotations__"};
    PyObject *fields[] = {f->func_globals,  f->func_defaults, f->func_kwdefaults,
                          f->func_code,     f->func_module,   f->func_name,
                          f->func_qualname, f->func_doc,      f->func_annotations};
    for (size_t i = 0; i < sizeof(fields) / sizeof(fields[0]); i++) {
        if (fields[i] == c) {
            edge_str(out, nedges, LT_EDGE_ATTR, names[i]);
            return 1;
        }
    }
    return 0;
}

static int
local_edge(lt_pyframe *frame, PyObject *c, lt_bytes *out, uint32_t *nedges)
{
    PyCodeObject *code = frame ? lt_compat_frame_code(frame) : NULL;
    if (!code) {
        return 0;
    }
    Py_ssize_t count;
    PyObject **locals = lt_compat_frame_locals(frame, code, &count);
    for (Py_ssize_t i = 0; i < count; i++) {
        size_t len;
        const char *name;
        if (locals[i] == c && (name = lt_edges_str_text(lt_compat_local_name(code, i), &len))) {
            edge(out, nedges, LT_EDGE_LOCAL, name, len);
            return 1;
        }
    }
    return 0;
}

/* Names the reference chain[i] -> chain[i + 1], looking further along the
 * chain where several hops read as one (a namespace dict and its key, a
 * closure tuple, its cell and the cell's contents). Returns the hops used. */
static size_t
describe(PyObject **chain, size_t i, size_t end, int namespace_root, lt_bytes *out,
         uint32_t *nedges)
{
    PyObject *p = chain[i], *c = chain[i + 1];
    PyObject *after = i + 2 <= end ? chain[i + 2] : NULL;

    if (PyFunction_Check(p)) {
        PyFunctionObject *f = (PyFunctionObject *)p;
        if (c == f->func_closure && after && PyTuple_Check(c)) {
            PyCodeObject *code = (PyCodeObject *)f->func_code;
            for (Py_ssize_t k = 0; k < PyTuple_GET_SIZE(c); k++) {
                size_t len;
                const char *name;
                if (PyTuple_GET_ITEM(c, k) == after &&
                    (name = lt_edges_str_text(lt_compat_freevar_name(code, k), &len))) {
                    edge(out, nedges, LT_EDGE_CLOSURE, name, len);
                    /* The cell's contents make one hop with it. */
                    return i + 3 <= end && PyCell_Check(after) && PyCell_GET(after) == chain[i + 3]
                               ? 3
                               : 2;
                }
            }
        }
        if (function_edge(f, c, out, nedges)) {
            return 1;
        }
    }
    PyObject *ns = lt_edges_namespace_of(p);
    if (ns && c == ns) {
        if (after && PyDict_Check(c) && dict_edge(c, after, 1, out, nedges)) {
            return 2;
        }
        edge_str(out, nedges, LT_EDGE_ATTR, "__dict__");
        return 1;
    }
    if (PyDict_Check(p)) {
        if (dict_edge(p, c, namespace_root && i == 0, out, nedges)) {
            return 1;
        }
    }
    else if (PyList_Check(p) || PyTuple_Check(p)) {
        Py_ssize_t size = PyList_Check(p) ? PyList_GET_SIZE(p) : PyTuple_GET_SIZE(p);
        PyObject **items = PyList_Check(p) ? ((PyListObject *)p)->ob_item
                                           : ((PyTupleObject *)p)->ob_item;
        for (Py_ssize_t k = 0; k < size; k++) {
            if (items[k] == c) {
                char buf[32];
                snprintf(buf, sizeof(buf), "%zd", k);
                edge_str(out, nedges, LT_EDGE_INDEX, buf);
                return 1;
            }
        }
    }
    else if (PyAnySet_Check(p)) {
        edge_str(out, nedges, LT_EDGE_SET_ITEM, "");
        return 1;
    }
    else if (PyCell_Check(p)) {
        edge_str(out, nedges, LT_EDGE_ATTR, "cell_contents");
        return 1;
    }
    else if (PyMethod_Check(p)) {
        edge_str(out, nedges, LT_EDGE_ATTR, c == PyMethod_GET_SELF(p) ? "__self__" : "__func__");
        return 1;
    }
    else if (PyFrame_Check(p)) {
        if (local_edge(lt_compat_frame_of_object((PyFrameObject *)p), c, out, nedges)) {
            return 1;
        }
    }
    else if (PyTraceBack_Check(p)) {
        PyTracebackObject *tb = (PyTracebackObject *)p;
        edge_str(out, nedges, LT_EDGE_ATTR,
                 c == (PyObject *)tb->tb_frame ? "tb_frame" : "tb_next");
        return 1;
    }
    else if (PyExceptionInstance_Check(p)) {
        PyBaseExceptionObject *e = (PyBaseExceptionObject *)p;
        const char *name = c == e->traceback ? "__traceback__"
                           : c == e->context ? "__context__"
                           : c == e->cause   ? "__cause__"
                           : c == e->args    ? "args"
                                             : NULL;
        if (name) {
            edge_str(out, nedges, LT_EDGE_ATTR, name);
            return 1;
        }
    }
    else if (strcmp(Py_TYPE(p)->tp_name, "collections.deque") == 0 && Py_TYPE(p)->tp_traverse) {
        deque_probe probe = {c, (PyObject *)Py_TYPE(p), 0, 0};
        Py_TYPE(p)->tp_traverse(p, find_deque_item, &probe);
        if (probe.found) {
            char buf[32];
            snprintf(buf, sizeof(buf), "%zd", probe.seen);
            edge_str(out, nedges, LT_EDGE_INDEX, buf);
            return 1;
        }
    }
    else if (strcmp(Py_TYPE(p)->tp_name, "functools._lru_cache_wrapper") == 0) {
        lru_probe probe = {c, 0};
        traverseproc traverse = Py_TYPE(p)->tp_traverse;
        if (traverse) {
            traverse(p, find_lru_key, &probe);
        }
        edge_str(out, nedges, LT_EDGE_OTHER,
                 PyDict_CheckExact(c) ? "lru_cache's cache"
                 : probe.is_key       ? "lru_cache key"
                                      : "lru_cache result");
        return 1;
    }
    else if (PyType_Check(p)) {
        PyTypeObject *t = (PyTypeObject *)p;
        const char *name = c == t->tp_mro                ? "__mro__"
                           : c == t->tp_bases            ? "__bases__"
                           : c == (PyObject *)t->tp_base ? "__base__"
                                                         : NULL;
        if (name) {
            edge_str(out, nedges, LT_EDGE_ATTR, name);
            return 1;
        }
    }
    size_t len;
    const char *name = lt_edges_str_text(lt_compat_inline_attr_name(p, c), &len);
    if (name) {
        edge(out, nedges, LT_EDGE_ATTR, name, len);
        return 1;
    }
    if (member_edge(p, c, out, nedges)) {
        return 1;
    }
    if (c == (PyObject *)Py_TYPE(p)) {
        edge_str(out, nedges, LT_EDGE_ATTR, "__class__");
        return 1;
    }
    char buf[LT_MAX_PATH_TEXT];
    const char *tn = lt_edges_type_name(Py_TYPE(p), &len);
    /* An object without tp_traverse: the reference was found in its memory
     * (lt_hidden.h), not by the collector. The text ends with what it holds,
     * which the next edge goes on from. */
    if (!(PyObject_IS_GC(p) && Py_TYPE(p)->tp_traverse)) {
        size_t clen;
        const char *cn = lt_edges_type_name(Py_TYPE(c), &clen);
        snprintf(buf, sizeof(buf), "reference from %.*s the collector cannot see: %.*s",
                 (int)(len > 100 ? 100 : len), tn, (int)(clen > 100 ? 100 : clen), cn);
    }
    else {
        snprintf(buf, sizeof(buf), "referent of %.*s", (int)(len > 100 ? 100 : len), tn);
    }
    edge_str(out, nedges, LT_EDGE_OTHER, buf);
    return 1;
}

/* Encodes the edges along chain[0..n) (n objects), keeping the first and
 * last hops when there are more than a path holds. local, when not NULL, is a
 * first edge: the frame's local variable that holds chain[0]. */
void
lt_edges_encode(PyObject **chain, size_t n, int namespace_root, const char *local,
                size_t local_len, lt_bytes *out)
{
    size_t hops = n - 1, keep = LT_MAX_PATH_EDGES / 2 - 2;
    lt_bytes edges = {0};
    uint32_t nedges = 0;
    if (local) {
        edge(&edges, &nedges, LT_EDGE_LOCAL, local, local_len);
    }
    if (hops <= LT_MAX_PATH_EDGES - 2) {
        for (size_t i = 0; i < hops;) {
            i += describe(chain, i, hops, namespace_root, &edges, &nedges);
        }
    }
    else {
        for (size_t i = 0; i < keep;) {
            i += describe(chain, i, keep, namespace_root, &edges, &nedges);
        }
        char buf[64];
        snprintf(buf, sizeof(buf), "... %zu references ...", hops - 2 * keep);
        edge_str(&edges, &nedges, LT_EDGE_OTHER, buf);
        for (size_t i = hops - keep; i < hops;) {
            i += describe(chain, i, hops, 0, &edges, &nedges);
        }
    }
    lt_bytes_varint(out, nedges);
    lt_bytes_append(out, edges.data, edges.len);
    out->failed |= edges.failed;
    lt_bytes_free(&edges);
}

void
lt_edges_encode_head(lt_bytes *out, lt_root_kind kind, const char *root, size_t root_len,
                     PyObject *target, uint64_t object_bytes, uint64_t retained)
{
    size_t len;
    const char *tn = lt_edges_type_name(Py_TYPE(target), &len);
    lt_bytes_varint(out, kind);
    lt_bytes_str(out, root, root_len);
    lt_bytes_str(out, tn, len);
    lt_bytes_varint(out, object_bytes);
    lt_bytes_varint(out, retained);
}
