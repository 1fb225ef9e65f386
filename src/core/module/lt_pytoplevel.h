/* lt_pytoplevel.h - leaktrace._core's call_as_main: calling the traced
 * program as the interpreter calls its main.
 *
 * `leaktrace run` starts the program from its own Python code, so every frame
 * of the program would sit on top of leaktrace's frames (the -c stub, the
 * bootstrap, the runner). `python script.py` runs the script's code with no
 * frame below it; call_as_main does the same: it empties the calling
 * thread's frame chain for the duration of the call and restores it after.
 * The program then sees no leaktrace frame: not in sys._getframe().f_back,
 * inspect.stack(), tracebacks, warnings' stacklevel or faulthandler's dumps.
 *
 * Runs with the GIL held; only the calling thread's chain changes. An
 * exception of the callable propagates to the caller unchanged.
 */
#ifndef LT_PYTOPLEVEL_H
#define LT_PYTOPLEVEL_H

#define PY_SSIZE_T_CLEAN
#include <Python.h>

/* call_as_main(callable, args) -> callable(*args) */
PyObject *lt_py_call_as_main(PyObject *module, PyObject *args);

#endif
