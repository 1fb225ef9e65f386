/* lt_pyframes.c - leaktrace._core.frame_table: see lt_pyframes.h. */
#include "module/lt_pyframes.h"

#include <stdint.h>
#include <string.h>

#include "module/lt_pyprofile.h"

#define NO_FRAME UINT32_MAX
#define TRUNCATED_FRAME (UINT32_MAX - 1)
#define NO_INDEX UINT32_MAX

/* Numbers the frames of each row's stack (index, order: nframes each; seen:
 * nnodes bytes, zeroed). Returns the count of numbers, or -1 with
 * ValueError. */
static Py_ssize_t
number_frames(const uint32_t *nodes, size_t nrows, const uint32_t *parent, const uint32_t *frame,
              size_t nnodes, const uint32_t *same, size_t nframes, uint32_t *index,
              uint32_t *order, uint8_t *seen)
{
    uint32_t count = 0;
    for (size_t r = 0; r < nrows; r++) {
        size_t n = nodes[r];
        for (;;) {
            if (n >= nnodes) {
                PyErr_SetString(PyExc_ValueError, "frame_table: a stack node is outside its tree");
                return -1;
            }
            if (seen[n]) {
                break;
            }
            seen[n] = 1;
            uint32_t fr = frame[n];
            if (fr == NO_FRAME) {
                break;
            }
            if (fr != TRUNCATED_FRAME) {
                if (fr >= nframes) {
                    PyErr_SetString(PyExc_ValueError, "frame_table: a tree node's frame is out "
                                                      "of range");
                    return -1;
                }
                uint32_t first = same[fr];
                if (index[first] == NO_INDEX) {
                    index[first] = count;
                    order[count++] = first;
                }
            }
            if (parent[n] >= n) {
                PyErr_SetString(PyExc_ValueError,
                                "frame_table: a tree node's parent must come before it");
                return -1;
            }
            n = parent[n];
        }
    }
    for (size_t f = 0; f < nframes; f++) {
        index[f] = index[same[f]];
    }
    return count;
}

PyObject *
lt_py_frame_table(PyObject *module, PyObject *args)
{
    PyObject *o_nodes, *o_parent, *o_frame, *o_same;
    (void)module;
    if (!PyArg_ParseTuple(args, "OOOO:frame_table", &o_nodes, &o_parent, &o_frame, &o_same)) {
        return NULL;
    }
    lt_py_views v = {.nviews = 0};
    PyObject *result = NULL;
    uint32_t *index = NULL, *order = NULL;
    uint8_t *seen = NULL;
    size_t nrows = 0, nnodes = 0, nframes = 0;
    const uint32_t *nodes = lt_py_get_array(&v, o_nodes, 'I', (size_t)-1, &nrows, "nodes");
    const uint32_t *parent = nodes ? lt_py_get_array(&v, o_parent, 'I', (size_t)-1, &nnodes,
                                                     "parent")
                                   : NULL;
    const uint32_t *frame = parent ? lt_py_get_array(&v, o_frame, 'I', nnodes, NULL, "frame")
                                   : NULL;
    const uint32_t *same = frame ? lt_py_get_array(&v, o_same, 'I', (size_t)-1, &nframes, "same")
                                 : NULL;
    if (!same) {
        goto error;
    }
    for (size_t f = 0; f < nframes; f++) {
        if (same[f] > f || same[same[f]] != same[f]) {
            PyErr_SetString(PyExc_ValueError,
                            "frame_table: same[f] must be the first frame equal to f");
            goto error;
        }
    }
    index = PyMem_Malloc((nframes ? nframes : 1) * sizeof(uint32_t));
    order = PyMem_Malloc((nframes ? nframes : 1) * sizeof(uint32_t));
    seen = PyMem_Calloc(nnodes ? nnodes : 1, 1);
    if (!index || !order || !seen) {
        PyErr_NoMemory();
        goto error;
    }
    memset(index, 0xFF, nframes * sizeof(uint32_t));
    Py_ssize_t count = number_frames(nodes, nrows, parent, frame, nnodes, same, nframes, index,
                                     order, seen);
    if (count < 0) {
        goto error;
    }
    result = Py_BuildValue("(y#y#)", (const char *)index, (Py_ssize_t)(nframes * sizeof(uint32_t)),
                           (const char *)order, count * (Py_ssize_t)sizeof(uint32_t));
error:
    PyMem_Free(index);
    PyMem_Free(order);
    PyMem_Free(seen);
    lt_py_release_views(&v);
    return result;
}
