/* lt_pysignal.h - leaktrace._core's guard_sigterm: a SIGTERM that a blocked
 * main thread would never see.
 *
 * A followed child catches SIGTERM with a Python handler, to finish its capture
 * before it dies (multiprocessing.Pool's terminate()). CPython runs Python
 * handlers on the main thread when a blocking call returns EINTR. A signal that
 * arrives after the interpreter last checked for signals and before the
 * blocking system call starts (a worker about to wait on its queue's lock)
 * interrupts nothing: the handler waits until the call returns, which for a
 * terminated pool's worker is never, and terminate() hangs.
 *
 * guard_sigterm() puts a C handler in front of the Python one installed for
 * SIGTERM. It calls the Python one (which only records the signal) and arms a
 * one-shot timer that sends SIGTERM again to the main thread 50 ms later, until
 * sigterm_handled() says the Python handler ran. The repeat finds the main
 * thread inside its blocking call, and interrupts it.
 *
 * Lock rules: none. The C handler touches only sig_atomic_t flags and calls
 * async-signal-safe functions (timer_settime). guard_sigterm and sigterm_handled
 * run with the GIL held, on the main thread. A program that installs its own
 * SIGTERM handler afterwards replaces this one too, and is then in charge.
 * Linux only (a timer aimed at one thread); elsewhere guard_sigterm returns
 * False and nothing changes.
 *
 * hold_sigterm_for_fork() closes the window between a fork and the forked
 * child's own handler: called by an os.fork() "before" hook, it blocks SIGTERM
 * in the forking thread, so the child starts with it blocked (a child
 * terminated then would run its parent's handler, which does not finish the
 * child's capture). A pthread_atfork parent handler restores the parent's mask
 * inside fork() itself, so that no Python code runs in between (a Python
 * after_in_parent hook would let pending calls run before 3.12+ counts threads
 * for its fork warning). The child calls release_fork_hold() once its handler
 * is in place; a pending SIGTERM then reaches that handler. fork() from C code
 * (subprocess without preexec_fn) runs no "before" hook and is unaffected.
 * Both run with the GIL held; the flag they share is only read by the atfork
 * handler of the thread that set it, inside the same os.fork() call.
 */
#ifndef LT_PYSIGNAL_H
#define LT_PYSIGNAL_H

#define PY_SSIZE_T_CLEAN
#include <Python.h>

/* guard_sigterm() -> bool: True when the guard is in place. */
PyObject *lt_py_guard_sigterm(PyObject *module, PyObject *unused);

/* sigterm_handled() -> None: the Python handler has run; stop repeating. */
PyObject *lt_py_sigterm_handled(PyObject *module, PyObject *unused);

/* hold_sigterm_for_fork() -> None: block SIGTERM until after the next fork
 * (in the parent) or release_fork_hold() (in the child). */
PyObject *lt_py_hold_sigterm_for_fork(PyObject *module, PyObject *unused);

/* release_fork_hold() -> None: unblock SIGTERM if a fork hold blocked it. */
PyObject *lt_py_release_fork_hold(PyObject *module, PyObject *unused);

#endif
