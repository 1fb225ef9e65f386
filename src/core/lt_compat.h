/* lt_compat.h - every CPython version difference leaktrace depends on.
 *
 * No other file tests PY_VERSION_HEX. Supported: 3.10 to 3.13. The frame
 * chain is read through the interpreter's own structures (the internal
 * headers ship with CPython), never through frame objects, so reading a stack
 * allocates nothing.
 *
 *   3.10     tstate->frame, a chain of PyFrameObject; position: f_lasti
 *   3.11     tstate->cframe->current_frame, _PyInterpreterFrame; prev_instr
 *   3.12     as 3.11, plus shim frames owned by the C stack
 *   3.13     tstate->current_frame; f_executable; instr_ptr
 *
 * Include this header first in the one file that uses it (lt_frames.c): it
 * defines Py_BUILD_CORE before Python.h.
 */
#ifndef LT_COMPAT_H
#define LT_COMPAT_H

#ifdef Py_LIMITED_API
#error "leaktrace reads interpreter internals and cannot use the limited API"
#endif

#define PY_SSIZE_T_CLEAN
#ifndef Py_BUILD_CORE
#define Py_BUILD_CORE 1
#endif
#ifndef Py_BUILD_CORE_MODULE
#define Py_BUILD_CORE_MODULE 1
#endif
#include <Python.h>

#if PY_VERSION_HEX < 0x030A0000 || PY_VERSION_HEX >= 0x030E0000
#error "leaktrace supports CPython 3.10 to 3.13"
#endif

#ifdef Py_GIL_DISABLED
#error "leaktrace does not support free-threaded builds yet: its hooks rely on the GIL"
#endif

#include <stdint.h>

#if PY_VERSION_HEX >= 0x030B0000
#include "internal/pycore_code.h"
#include "internal/pycore_frame.h"
#else
#include <frameobject.h>
#endif
#include "internal/pycore_pystate.h"

#if PY_VERSION_HEX >= 0x030B0000
typedef _PyInterpreterFrame lt_pyframe;
#else
typedef PyFrameObject lt_pyframe;
#endif

/* The calling thread's state when it holds the GIL, else NULL. Callable from
 * any thread, with or without the GIL. */
static inline PyThreadState *
lt_compat_attached_tstate(void)
{
#if PY_VERSION_HEX >= 0x030D0000
    return PyThreadState_GetUnchecked();
#elif PY_VERSION_HEX >= 0x030C0000
    return _PyThreadState_GetCurrent();
#else
    /* Before 3.12 the runtime only knows which thread holds the GIL; compare
     * it with this thread's own state. */
    PyThreadState *holder = _PyThreadState_GET();
    if (holder == NULL || holder != PyGILState_GetThisThreadState()) {
        return NULL;
    }
    return holder;
#endif
}

/* The calling thread's own state, whether it holds the GIL or not; NULL for
 * a thread the interpreter does not know. A thread without the GIL may read
 * its own frame chain: it cannot change while the thread runs C code. The
 * thread-specific slot behind PyGILState_GetThisThreadState() is read
 * without any lock, and is cleared when the thread state is deleted and
 * checked for initialization during finalization on every supported version. */
static inline PyThreadState *
lt_compat_thread_tstate(void)
{
    PyThreadState *attached = lt_compat_attached_tstate();
    return attached ? attached : PyGILState_GetThisThreadState();
}

/* The thread state of a thread that is known to hold the GIL. */
static inline PyThreadState *
lt_compat_gil_tstate(void)
{
#if PY_VERSION_HEX >= 0x030D0000
    return PyThreadState_GetUnchecked();
#elif PY_VERSION_HEX >= 0x030C0000
    return _PyThreadState_GetCurrent();
#else
    return _PyThreadState_GET();
#endif
}

static inline lt_pyframe *
lt_compat_top_frame(PyThreadState *tstate)
{
#if PY_VERSION_HEX >= 0x030D0000
    return tstate->current_frame;
#elif PY_VERSION_HEX >= 0x030B0000
    return tstate->cframe ? tstate->cframe->current_frame : NULL;
#else
    return tstate->frame;
#endif
}

static inline lt_pyframe *
lt_compat_previous_frame(lt_pyframe *frame)
{
#if PY_VERSION_HEX >= 0x030B0000
    return frame->previous;
#else
    return frame->f_back;
#endif
}

/* The frame's code object, or NULL for frames that hold no Python code
 * (shim frames that C code pushes on 3.12+). */
static inline PyCodeObject *
lt_compat_frame_code(lt_pyframe *frame)
{
#if PY_VERSION_HEX >= 0x030C0000
    if (frame->owner == FRAME_OWNED_BY_CSTACK) {
        return NULL;
    }
#endif
#if PY_VERSION_HEX >= 0x030D0000
    return PyCode_Check(frame->f_executable) ? (PyCodeObject *)frame->f_executable : NULL;
#else
    return frame->f_code;
#endif
}

/* Whether a frame that holds code is not part of the stack a traceback would
 * show: a frame still being set up (cells and free variables are made before
 * its first instruction), or an internal helper frame that never becomes
 * traceable (3.13 runs __init__ under such a frame).
 *
 * Setting a frame up runs no Python code, so a frame being set up can only be
 * the innermost one. Before 3.13 that is the only case, and the walk checks
 * the innermost frame alone (saving a load from every code object); 3.13's
 * helper frames can sit anywhere in the chain, so there every frame is
 * checked. */
#if PY_VERSION_HEX >= 0x030D0000
#define LT_COMPAT_CHECK_EVERY_FRAME_COMPLETE 1
#else
#define LT_COMPAT_CHECK_EVERY_FRAME_COMPLETE 0
#endif

static inline int
lt_compat_frame_incomplete(lt_pyframe *frame)
{
#if PY_VERSION_HEX >= 0x030B0000
    return _PyFrame_IsIncomplete(frame);
#else
    (void)frame;
    return 0;
#endif
}

/* The frame's position as a raw value, stable while the frame is suspended:
 * an instruction address from 3.11, the instruction index before. */
static inline uintptr_t
lt_compat_frame_position(lt_pyframe *frame)
{
#if PY_VERSION_HEX >= 0x030D0000
    return (uintptr_t)frame->instr_ptr;
#elif PY_VERSION_HEX >= 0x030B0000
    return (uintptr_t)frame->prev_instr;
#else
    return (uintptr_t)(intptr_t)frame->f_lasti;
#endif
}

/* Converts a raw position of a frame running code into a byte offset for
 * PyCode_Addr2Line (negative when the frame has not started). */
static inline int
lt_compat_byte_offset(PyCodeObject *code, uintptr_t position)
{
#if PY_VERSION_HEX >= 0x030B0000
    return (int)((const _Py_CODEUNIT *)position - _PyCode_CODE(code)) * (int)sizeof(_Py_CODEUNIT);
#else
    (void)code;
    return (int)(intptr_t)position * (int)sizeof(_Py_CODEUNIT);
#endif
}

/* The name to show for the function: the qualified name where it exists. */
static inline PyObject *
lt_compat_code_name(PyCodeObject *code)
{
#if PY_VERSION_HEX >= 0x030B0000
    return code->co_qualname;
#else
    return code->co_name;
#endif
}

#endif /* LT_COMPAT_H */
