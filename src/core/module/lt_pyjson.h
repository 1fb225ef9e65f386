/* lt_pyjson.h - leaktrace._core.json_rows: a JSON array of objects written
 * from columns, as json.dumps(..., indent=2) writes it.
 *
 * The JSON report lists every site (hundreds of thousands of them in a
 * capture with many stacks); building a dict per site for json.dumps costs
 * most of a report's time. Here the Python side describes each object's
 * fields once, as columns (one value per row), and the array is written in
 * one pass. Field descriptions, in the order the keys are written (every
 * key an ASCII name without quotes or backslashes):
 *
 *   (key, "int", column)                  int64 ('q'), uint64 ('Q') or uint32
 *                                         ('I') values
 *   (key, "bool", column)                 'B': 0 false, else true
 *   (key, "float", column, ndigits)       'd'; round(x, ndigits) first unless
 *                                         ndigits is None; then repr(), as json
 *                                         writes floats (Infinity, NaN too)
 *   (key, "enum", column, texts)          'B' or 'I' indexes into a sequence
 *                                         of JSON texts (e.g. '"leaking"')
 *   (key, "const", text)                  the same JSON text in every row
 *   (key, "sparse", rows, texts, default) 'I' rows (strictly increasing) with a
 *                                         JSON text of their own, the others
 *                                         `default`
 *   (key, "stack", nodes, parent, frame, index)
 *                                         'I' nodes of a tree (parent and
 *                                         frame of every node, 'I', parent <
 *                                         node): the list of the ints
 *                                         index[frame] ('I', one per frame,
 *                                         e.g. frame_table's: lt_pyframes.h)
 *                                         from the row's node to the root
 *                                         (frame 0xFFFFFFFF), innermost
 *                                         first, frames 0xFFFFFFFE
 *                                         (truncation markers) left out; a
 *                                         frame whose index is 0xFFFFFFFF is
 *                                         an error
 *   (key, "series", rows, matrix, npoints) 'I' rows of a 'Q' matrix of
 *                                         npoints columns, a list of ints;
 *                                         row 0xFFFFFFFF: []
 *   (key, "object", present, fields)      a nested object of those fields, or
 *                                         null where the 'B' column `present`
 *                                         is 0 (None: present in every row)
 *
 * Texts are JSON already and are copied as they are: the nested ones
 * (sparse values) must be indented for the depth they land at. The
 * descriptions are parsed by lt_pyjsonfields.h. Everything runs with the
 * GIL held; on failure NULL with an exception.
 */
#ifndef LT_PYJSON_H
#define LT_PYJSON_H

#define PY_SSIZE_T_CLEAN
#include <Python.h>

/* json_rows(nrows, fields, depth, file=None, compact=False) -> str: the
 * array of nrows objects, as it reads nested `depth` levels deep in a
 * document written with indent=2. compact: each object on a line of its
 * own, as json.dumps(object) writes it (separators ", " and ": "); its
 * texts must then be written so too. With a file, the text goes to
 * file.write() as UTF-8 bytes (a memoryview, released when write returns)
 * in pieces of about a megabyte as it is made, and None is returned: a
 * report of hundreds of megabytes is never whole in memory. */
PyObject *lt_py_json_rows(PyObject *module, PyObject *args);

/* json_ints(values) -> str: an array of ints ('q', 'Q', 'i' or 'I') as
 * json.dumps(list, separators=(",", ":")) writes it. */
PyObject *lt_py_json_ints(PyObject *module, PyObject *arg);

#endif /* LT_PYJSON_H */
