/* lt_pysession.h - the tracking session of leaktrace._core: start, snapshot,
 * stop, stats, is_tracking and follow_fork.
 *
 * One session at a time per process. The session owns the capture writer
 * (capture/lt_writer) and its path; the tracker (record/lt_tracker) records
 * into tables that the writer encodes at each snapshot.
 *
 * Everything here runs with the GIL held, which protects the writer and the
 * session's path: the calls below, and the interval timer's snapshots
 * (lt_pytimer), which take the GIL before calling
 * lt_py_session_interval_snapshot().
 */
#ifndef LT_PYSESSION_H
#define LT_PYSESSION_H

#define PY_SSIZE_T_CLEAN
#include <Python.h>

/* 1 when a session is open and the tracker is recording, else 0. */
int lt_py_session_is_open(void);

/* Writes an interval snapshot of the open session and flushes it. Returns 0,
 * or -1 (no memory, or a write error kept in the writer, which surfaces when
 * the session stops). Sets no Python exception. */
int lt_py_session_interval_snapshot(void);

/* start(path, max_depth=64, meta=None, native=False, native_frames=False,
 *       sample_bytes=0, sample_seed=None, follow_fork=False, parent=None,
 *       attached=False) */
PyObject *lt_py_start(PyObject *module, PyObject *args, PyObject *kwargs);
/* snapshot(label=None) -> int */
PyObject *lt_py_snapshot(PyObject *module, PyObject *args);
/* stop(retention_sites=0) -> dict */
PyObject *lt_py_stop(PyObject *module, PyObject *args, PyObject *kwargs);
/* is_tracking() -> bool */
PyObject *lt_py_is_tracking(PyObject *module, PyObject *unused);
/* stats() -> dict */
PyObject *lt_py_stats(PyObject *module, PyObject *unused);
/* follow_fork(path, meta, parent_capture) */
PyObject *lt_py_follow_fork(PyObject *module, PyObject *args);

#endif
