/* lt_pytimer.c - leaktrace._core's interval snapshots and their fork and
 * exit glue. */
#include "module/lt_pytimer.h"

#include <errno.h>

#include "module/lt_pysession.h"
#include "record/lt_timer.h"
#include "record/lt_tracker.h"

/* Runs on the timer thread with the GIL held. Errors stay in the writer and
 * surface when the session stops. */
static int
interval_tick(void *unused)
{
    (void)unused;
    return lt_py_session_interval_snapshot();
}

/* The default schedule's work: every byte allocated so far. Runs on the
 * timer thread without the GIL; lt_tracker_get_stats() takes TRACKER_LOCK
 * for a copy of the counters, never the hooks' path. */
static uint64_t
allocated_bytes(void)
{
    lt_tracker_stats stats;
    lt_tracker_get_stats(&stats);
    return stats.fields[LT_STAT_TOTAL_BYTES];
}

PyObject *
lt_py_stop_timer(PyObject *module, PyObject *unused)
{
    (void)module;
    (void)unused;
    lt_timer_stop();
    Py_RETURN_NONE;
}

/* The timer thread must be gone before the interpreter is finalized. */
static int
register_atexit(PyObject *module)
{
    static int registered;
    if (registered) {
        return 0;
    }
    PyObject *func = PyObject_GetAttrString(module, "stop_timer");
    if (!func) {
        return -1;
    }
    PyObject *atexit = PyImport_ImportModule("atexit");
    PyObject *r = atexit ? PyObject_CallMethod(atexit, "register", "O", func) : NULL;
    Py_XDECREF(atexit);
    Py_DECREF(func);
    if (!r) {
        return -1;
    }
    Py_DECREF(r);
    registered = 1;
    return 0;
}

PyObject *
lt_py_timer_before_fork(PyObject *module, PyObject *unused)
{
    (void)module;
    (void)unused;
    lt_timer_pause_for_fork();
    Py_RETURN_NONE;
}

/* A pending call: it runs in the main thread once os.fork() has returned. A
 * restart that fails (no memory, no thread) leaves the timer stopped; raising
 * here would surface at an arbitrary line of the program. */
static int
resume_timer(void *unused)
{
    (void)unused;
    (void)lt_timer_resume_after_fork();
    return 0;
}

PyObject *
lt_py_timer_after_fork_parent(PyObject *module, PyObject *unused)
{
    (void)module;
    (void)unused;
    /* 3.13 counts the threads after the after_in_parent callbacks: a thread
     * started here would be counted, so the restart waits for a pending call. */
    if (Py_AddPendingCall(resume_timer, NULL) < 0) {
        resume_timer(NULL);
    }
    Py_RETURN_NONE;
}

/* os.fork() warns (3.12+) when other threads run: the timer thread is joined
 * before a fork and restarted in the parent after it (lt_timer.h). */
static int
register_at_fork(PyObject *module)
{
    static int registered;
    if (registered) {
        return 0;
    }
    PyObject *before = PyObject_GetAttrString(module, "_timer_before_fork");
    PyObject *after = before ? PyObject_GetAttrString(module, "_timer_after_fork_parent") : NULL;
    PyObject *os = after ? PyImport_ImportModule("os") : NULL;
    PyObject *func = os ? PyObject_GetAttrString(os, "register_at_fork") : NULL;
    PyObject *kwargs = func ? Py_BuildValue("{sOsO}", "before", before, "after_in_parent", after)
                            : NULL;
    PyObject *empty = kwargs ? PyTuple_New(0) : NULL;
    PyObject *r = empty ? PyObject_Call(func, empty, kwargs) : NULL;
    Py_XDECREF(empty);
    Py_XDECREF(kwargs);
    Py_XDECREF(func);
    Py_XDECREF(os);
    Py_XDECREF(after);
    Py_XDECREF(before);
    if (!r) {
        return -1;
    }
    Py_DECREF(r);
    registered = 1;
    return 0;
}

PyObject *
lt_py_start_timer(PyObject *module, PyObject *args)
{
    double seconds = 0.0;
    if (!PyArg_ParseTuple(args, "|d:start_timer", &seconds)) {
        return NULL;
    }
    if (seconds != 0.0 && !(seconds >= 0.001 && seconds <= 86400.0)) {
        PyErr_SetString(PyExc_ValueError, "interval must be between 0.001 and 86400 seconds");
        return NULL;
    }
    if (!lt_py_session_is_open()) {
        PyErr_SetString(PyExc_RuntimeError, "leaktrace is not tracking");
        return NULL;
    }
    if (register_atexit(module) < 0 || register_at_fork(module) < 0) {
        return NULL;
    }
    lt_schedule_config config = seconds ? lt_schedule_fixed((uint64_t)(seconds * 1e9))
                                        : lt_schedule_default();
    if (lt_timer_start(&config, seconds ? NULL : allocated_bytes, interval_tick, NULL) < 0) {
        if (errno == EBUSY) {
            PyErr_SetString(PyExc_RuntimeError, "the snapshot timer is already running");
            return NULL;
        }
        return PyErr_SetFromErrno(PyExc_OSError);
    }
    Py_RETURN_NONE;
}

PyObject *
lt_py_timer_ticks(PyObject *module, PyObject *unused)
{
    (void)module;
    (void)unused;
    return PyLong_FromUnsignedLongLong(lt_timer_ticks());
}
