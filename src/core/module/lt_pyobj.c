/* lt_pyobj.c - Python values shared by the calls of leaktrace._core. */
#include "module/lt_pyobj.h"

#include "capture/lt_format.h"

PyObject *lt_py_capture_error;

static const char *const stat_names[LT_STAT_COUNT] = {
    [LT_STAT_PEAK_BYTES] = "peak_bytes",
    [LT_STAT_TOTAL_BYTES] = "total_allocated_bytes",
    [LT_STAT_TOTAL_ALLOCS] = "total_allocations",
    [LT_STAT_TOTAL_FREES] = "total_frees",
    [LT_STAT_TRACKER_PEAK_BYTES] = "tracker_memory_bytes",
    [LT_STAT_DROPPED_ALLOCS] = "dropped_allocations",
    [LT_STAT_NO_STACK_ALLOCS] = "no_stack_allocations",
    [LT_STAT_DURATION_NS] = "duration_ns",
    [LT_STAT_MAX_DEPTH] = "max_depth",
};

PyObject *
lt_py_decode(const char *ptr, size_t len)
{
    return PyUnicode_DecodeUTF8(ptr, (Py_ssize_t)len, "replace");
}

PyObject *
lt_py_stats_dict(const uint64_t *fields)
{
    PyObject *dict = PyDict_New();
    if (!dict) {
        return NULL;
    }
    for (int i = 0; i < LT_STAT_COUNT; i++) {
        PyObject *value = PyLong_FromUnsignedLongLong(fields[i]);
        if (!value || PyDict_SetItemString(dict, stat_names[i], value) < 0) {
            Py_XDECREF(value);
            Py_DECREF(dict);
            return NULL;
        }
        Py_DECREF(value);
    }
    return dict;
}

PyObject *
lt_py_sites(const lt_rsite *sites, size_t nsites)
{
    PyObject *list = PyList_New((Py_ssize_t)nsites);
    if (!list) {
        return NULL;
    }
    for (size_t i = 0; i < nsites; i++) {
        const lt_rsite *site = &sites[i];
        PyObject *t = Py_BuildValue("(IKKKK)", site->node, (unsigned long long)site->live_count,
                                    (unsigned long long)site->live_bytes,
                                    (unsigned long long)site->alloc_count,
                                    (unsigned long long)site->alloc_bytes);
        if (!t) {
            Py_DECREF(list);
            return NULL;
        }
        PyList_SET_ITEM(list, (Py_ssize_t)i, t);
    }
    return list;
}

int
lt_py_fill_frames(PyObject *list, const lt_rframe *frames, PyObject *strings)
{
    for (Py_ssize_t i = 0; i < PyList_GET_SIZE(list); i++) {
        const lt_rframe *f = &frames[i];
        PyObject *t = Py_BuildValue("(OOL)", PyList_GET_ITEM(strings, f->function),
                                    PyList_GET_ITEM(strings, f->file), (long long)f->line);
        if (!t) {
            return -1;
        }
        PyList_SET_ITEM(list, i, t);
    }
    return 0;
}

int
lt_py_fill_nodes(PyObject *list, const lt_rnode *nodes)
{
    for (Py_ssize_t i = 0; i < PyList_GET_SIZE(list); i++) {
        long frame = nodes[i].frame == UINT32_MAX ? -1 : (long)nodes[i].frame;
        PyObject *t = Py_BuildValue("(Il)", nodes[i].parent, frame);
        if (!t) {
            return -1;
        }
        PyList_SET_ITEM(list, i, t);
    }
    return 0;
}

int
lt_py_check_readable(int complete, int allow_partial, size_t nsnapshots, uint64_t valid_size,
                     uint64_t file_size)
{
    if (!complete && !allow_partial) {
        PyErr_Format(lt_py_capture_error,
                     "truncated capture: it ends at byte %llu of %llu without its closing record "
                     "(the tracked process was killed?); --partial reads what it holds",
                     (unsigned long long)valid_size, (unsigned long long)file_size);
        return -1;
    }
    if (nsnapshots == 0 && !complete) {
        PyErr_Format(lt_py_capture_error,
                     "truncated capture holds no snapshot: it ends at byte %llu of %llu, before "
                     "its first snapshot was written",
                     (unsigned long long)valid_size, (unsigned long long)file_size);
        return -1;
    }
    if (nsnapshots == 0) {
        PyErr_Format(lt_py_capture_error, "capture holds no snapshot (%llu bytes readable)",
                     (unsigned long long)valid_size);
        return -1;
    }
    return 0;
}
