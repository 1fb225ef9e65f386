/* lt_pytimer.h - leaktrace._core's interval snapshots: start_timer,
 * stop_timer, timer_ticks, and the fork and exit glue of the timer thread.
 *
 * The timer thread itself is record/lt_timer; this file registers, once per
 * process, an atexit handler that joins it before the interpreter is
 * finalized and os.register_at_fork callbacks that join it before a fork and
 * restart it in the parent (lt_timer.h). Everything here runs with the GIL
 * held; the tick runs on the timer thread, which takes the GIL for it.
 */
#ifndef LT_PYTIMER_H
#define LT_PYTIMER_H

#define PY_SSIZE_T_CLEAN
#include <Python.h>

/* start_timer(seconds=0.0): every seconds, or with 0 the default schedule
 * (record/lt_schedule.h), whose work is the tracker's allocated bytes. */
PyObject *lt_py_start_timer(PyObject *module, PyObject *args);
/* stop_timer() */
PyObject *lt_py_stop_timer(PyObject *module, PyObject *unused);
/* timer_ticks() -> int */
PyObject *lt_py_timer_ticks(PyObject *module, PyObject *unused);
/* _timer_before_fork(), an os.register_at_fork callback */
PyObject *lt_py_timer_before_fork(PyObject *module, PyObject *unused);
/* _timer_after_fork_parent(), an os.register_at_fork callback */
PyObject *lt_py_timer_after_fork_parent(PyObject *module, PyObject *unused);

#endif
