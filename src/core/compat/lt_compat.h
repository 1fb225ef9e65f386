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
 * Include this header first in the files that use it (lt_frames.c for the
 * stack walk, lt_graph.c, lt_retain.c and lt_edges.c for the object graph,
 * lt_pytoplevel.c to run the program with no frame below it): it defines
 * Py_BUILD_CORE before Python.h.
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
#include "internal/pycore_gc.h"
/* 3.13's pycore_object.h has inline helpers with unused parameters. */
#pragma GCC diagnostic push
#pragma GCC diagnostic ignored "-Wunused-parameter"
#include "internal/pycore_object.h"
#if PY_VERSION_HEX >= 0x030B0000
#include "internal/pycore_dict.h"
#endif
#pragma GCC diagnostic pop

#if PY_VERSION_HEX >= 0x030B0000
typedef _PyInterpreterFrame lt_pyframe;
#else
typedef PyFrameObject lt_pyframe;
#endif

/* After Py_AddPendingCall() on a thread other than the main one. 3.10-3.12
 * compute the eval breaker on the calling thread, where a call for the main
 * thread does not count, so the main thread ran it only once it stopped for
 * another reason (the GIL's 5 ms switch interval, often later): this sets the
 * breaker as the main thread computes it while the call waits (its handler
 * runs the call and computes the breaker again). 3.13 signals the main
 * thread's own breaker. Any thread, with or without the GIL. */
static inline void
lt_compat_signal_pending_call(PyInterpreterState *interp)
{
#if PY_VERSION_HEX < 0x030D0000
    _Py_atomic_store_relaxed(&interp->ceval.eval_breaker, 1);
#else
    (void)interp;
#endif
}

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

/* Makes frame the thread's innermost frame and returns the one it replaces.
 * With NULL, code called next runs with no Python frame below it, as the
 * interpreter runs the main program; the evaluation loop links each new frame
 * to this slot and puts the slot back when the frame returns. Requires the GIL. */
static inline lt_pyframe *
lt_compat_swap_top_frame(PyThreadState *tstate, lt_pyframe *frame)
{
    lt_pyframe *previous = lt_compat_top_frame(tstate);
#if PY_VERSION_HEX >= 0x030D0000
    tstate->current_frame = frame;
#elif PY_VERSION_HEX >= 0x030B0000
    tstate->cframe->current_frame = frame;
#else
    tstate->frame = frame;
#endif
    return previous;
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

/* Whether the frame runs Python code: not a shim frame that C code pushes
 * (3.12+), nor a frame of something other than a code object (3.13). */
static inline int
lt_compat_frame_has_code(lt_pyframe *frame)
{
#if PY_VERSION_HEX >= 0x030D0000
    return frame->owner != FRAME_OWNED_BY_CSTACK && PyCode_Check(frame->f_executable);
#elif PY_VERSION_HEX >= 0x030C0000
    return frame->owner != FRAME_OWNED_BY_CSTACK;
#else
    (void)frame;
    return 1;
#endif
}

/* The code object of a frame that has code (never NULL): the stack walk tests
 * lt_compat_frame_has_code() and reads this, without a test of its own. */
static inline PyCodeObject *
lt_compat_frame_code_of(lt_pyframe *frame)
{
#if PY_VERSION_HEX >= 0x030D0000
    return (PyCodeObject *)frame->f_executable;
#else
    return frame->f_code;
#endif
}

/* The frame's code object, or NULL for frames that hold no Python code. */
static inline PyCodeObject *
lt_compat_frame_code(lt_pyframe *frame)
{
    return lt_compat_frame_has_code(frame) ? lt_compat_frame_code_of(frame) : NULL;
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

/* ---- the object graph (lt_graph.c, lt_retain.c) ---- */

/* Calls visit(object, arg) for every object the collector tracks, in every
 * generation including the permanent one that gc.freeze() fills; stops at
 * the first non-zero return and returns it. The lists are read directly on
 * every version: PyUnstable_GC_VisitObjects (3.12+) skips the permanent
 * generation. The caller holds the GIL and must not allocate Python objects
 * meanwhile (an allocation may start a collection, which moves objects
 * between the lists). */
static inline int
lt_compat_gc_visit(int (*visit)(PyObject *, void *), void *arg)
{
    struct _gc_runtime_state *gc = &PyInterpreterState_Get()->gc;
    PyGC_Head *lists[NUM_GENERATIONS + 1];
    for (int i = 0; i < NUM_GENERATIONS; i++) {
        lists[i] = &gc->generations[i].head;
    }
    lists[NUM_GENERATIONS] = &gc->permanent_generation.head;
    for (int i = 0; i <= NUM_GENERATIONS; i++) {
        for (PyGC_Head *g = _PyGCHead_NEXT(lists[i]); g != lists[i]; g = _PyGCHead_NEXT(g)) {
            int r = visit((PyObject *)(g + 1), arg);
            if (r) {
                return r;
            }
        }
    }
    return 0;
}

/* Whether a collection is running now (a finalizer called us): its objects
 * sit on a private list then, outside the generations. */
static inline int
lt_compat_gc_collecting(void)
{
    return PyInterpreterState_Get()->gc.collecting;
}

/* The start of the memory block an object lives in: the allocator saw this
 * address. The collector's header comes first and, from 3.11, two more
 * pointers (managed dict and values, or weak references) before it. */
static inline const void *
lt_compat_alloc_start(PyObject *op)
{
#if PY_VERSION_HEX >= 0x030B0000
    return (const char *)op - _PyType_PreHeaderSize(Py_TYPE(op));
#else
    return PyType_IS_GC(Py_TYPE(op)) ? (const char *)op - sizeof(PyGC_Head) : (const char *)op;
#endif
}

/* The bytes an object occupies before its header (see lt_compat_alloc_start). */
static inline size_t
lt_compat_preheader_size(PyTypeObject *type)
{
#if PY_VERSION_HEX >= 0x030B0000
    return _PyType_PreHeaderSize(type);
#else
    return PyType_IS_GC(type) ? sizeof(PyGC_Head) : 0;
#endif
}

/* A type's dict (borrowed), or NULL: static builtin types keep theirs in the
 * interpreter from 3.12. */
static inline PyObject *
lt_compat_type_dict(PyTypeObject *type)
{
#if PY_VERSION_HEX >= 0x030C0000
    return (type->tp_flags & Py_TPFLAGS_HEAPTYPE) ? type->tp_dict : NULL;
#else
    return type->tp_dict;
#endif
}

/* An instance's __dict__ if it has one already (borrowed), else NULL.
 * Never creates the dict (which the public accessors do for instances whose
 * attributes live in inline values, 3.11+). */
static inline PyObject *
lt_compat_existing_dict(PyObject *op)
{
    PyTypeObject *type = Py_TYPE(op);
#if PY_VERSION_HEX >= 0x030D0000
    if (type->tp_flags & Py_TPFLAGS_MANAGED_DICT) {
        return (PyObject *)_PyObject_GetManagedDict(op);
    }
#elif PY_VERSION_HEX >= 0x030C0000
    if (type->tp_flags & Py_TPFLAGS_MANAGED_DICT) {
        PyDictOrValues dorv = *_PyObject_DictOrValuesPointer(op);
        return _PyDictOrValues_IsValues(dorv) ? NULL : _PyDictOrValues_GetDict(dorv);
    }
#elif PY_VERSION_HEX >= 0x030B0000
    if (type->tp_flags & Py_TPFLAGS_MANAGED_DICT) {
        return *_PyObject_ManagedDictPointer(op);
    }
#endif
    if (type->tp_dictoffset == 0) {
        return NULL;
    }
    PyObject **ptr = _PyObject_GetDictPtr(op);
    return ptr ? *ptr : NULL;
}

#if PY_VERSION_HEX >= 0x030B0000
/* An instance's inline values (3.11+: attributes stored without a dict) and
 * the shared keys naming them, or NULL. */
static inline PyDictValues *
lt_compat_inline_values(PyObject *op, PyDictKeysObject **keys)
{
    PyTypeObject *type = Py_TYPE(op);
    PyDictValues *values = NULL;
    if (!(type->tp_flags & Py_TPFLAGS_HEAPTYPE)) {
        return NULL; /* only heap types have cached (shared) keys */
    }
#if PY_VERSION_HEX >= 0x030D0000
    if ((type->tp_flags & Py_TPFLAGS_INLINE_VALUES) && _PyObject_InlineValues(op)->valid) {
        values = _PyObject_InlineValues(op);
    }
#elif PY_VERSION_HEX >= 0x030C0000
    if (type->tp_flags & Py_TPFLAGS_MANAGED_DICT) {
        PyDictOrValues dorv = *_PyObject_DictOrValuesPointer(op);
        if (_PyDictOrValues_IsValues(dorv)) {
            values = _PyDictOrValues_GetValues(dorv);
        }
    }
#else
    if (type->tp_flags & Py_TPFLAGS_MANAGED_DICT) {
        values = *_PyObject_ValuesPointer(op);
    }
#endif
    *keys = ((PyHeapTypeObject *)type)->ht_cached_keys;
    if (!values || !*keys || (*keys)->dk_kind == DICT_KEYS_GENERAL) {
        return NULL;
    }
    return values;
}
#endif

/* The name (borrowed str) of the attribute under which an instance keeps
 * value in its inline values, or NULL. */
static inline PyObject *
lt_compat_inline_attr_name(PyObject *op, PyObject *value)
{
#if PY_VERSION_HEX >= 0x030B0000
    PyDictKeysObject *keys;
    PyDictValues *values = lt_compat_inline_values(op, &keys);
    if (!values) {
        return NULL;
    }
    PyDictUnicodeEntry *entries = DK_UNICODE_ENTRIES(keys);
    for (Py_ssize_t i = 0; i < keys->dk_nentries; i++) {
        if (values->values[i] == value) {
            return entries[i].me_key;
        }
    }
    return NULL;
#else
    (void)op;
    (void)value;
    return NULL;
#endif
}

/* The value (borrowed) of the attribute an instance keeps in its inline
 * values under the exact str key whose text is name (len bytes), compared
 * as text, or NULL. */
static inline PyObject *
lt_compat_inline_attr(PyObject *op, const char *name, size_t len)
{
#if PY_VERSION_HEX >= 0x030B0000
    PyDictKeysObject *keys;
    PyDictValues *values = lt_compat_inline_values(op, &keys);
    if (!values) {
        return NULL;
    }
    PyDictUnicodeEntry *entries = DK_UNICODE_ENTRIES(keys);
    for (Py_ssize_t i = 0; i < keys->dk_nentries; i++) {
        PyObject *key = entries[i].me_key;
        if (key && PyUnicode_CheckExact(key) && PyUnicode_IS_ASCII(key) &&
            (size_t)PyUnicode_GET_LENGTH(key) == len &&
            memcmp(PyUnicode_DATA(key), name, len) == 0) {
            return values->values[i];
        }
    }
    return NULL;
#else
    (void)op;
    (void)name;
    (void)len;
    return NULL;
#endif
}

/* collections.deque's maxlen (-1 when unbounded). Modules/_collectionsmodule.c
 * keeps its struct private; 3.10-3.13 begin it alike, and this mirrors that
 * beginning up to maxlen. */
typedef struct {
    PyObject_VAR_HEAD void *leftblock, *rightblock;
    Py_ssize_t leftindex, rightindex;
    size_t state;
    Py_ssize_t maxlen;
} lt_compat_deque_head;

static inline Py_ssize_t
lt_compat_deque_maxlen(PyObject *deque)
{
    return ((lt_compat_deque_head *)deque)->maxlen;
}

/* A frame's local variables, cells and free variables: the array and its
 * length, and the name of each slot (borrowed). */
static inline PyObject **
lt_compat_frame_locals(lt_pyframe *frame, PyCodeObject *code, Py_ssize_t *count)
{
#if PY_VERSION_HEX >= 0x030B0000
    *count = code->co_nlocalsplus;
    return frame->localsplus;
#else
    *count = code->co_nlocals + PyTuple_GET_SIZE(code->co_cellvars) +
             PyTuple_GET_SIZE(code->co_freevars);
    return frame->f_localsplus;
#endif
}

static inline PyObject *
lt_compat_local_name(PyCodeObject *code, Py_ssize_t i)
{
#if PY_VERSION_HEX >= 0x030B0000
    return PyTuple_GET_ITEM(code->co_localsplusnames, i);
#else
    if (i < code->co_nlocals) {
        return PyTuple_GET_ITEM(code->co_varnames, i);
    }
    i -= code->co_nlocals;
    if (i < PyTuple_GET_SIZE(code->co_cellvars)) {
        return PyTuple_GET_ITEM(code->co_cellvars, i);
    }
    return PyTuple_GET_ITEM(code->co_freevars, i - PyTuple_GET_SIZE(code->co_cellvars));
#endif
}

/* The name (borrowed) of a function's k-th free variable (the k-th cell of
 * its __closure__), or NULL when k is out of range. */
static inline PyObject *
lt_compat_freevar_name(PyCodeObject *code, Py_ssize_t k)
{
#if PY_VERSION_HEX >= 0x030B0000
    if (k < 0 || k >= code->co_nfreevars) {
        return NULL;
    }
    return PyTuple_GET_ITEM(code->co_localsplusnames,
                            code->co_nlocalsplus - code->co_nfreevars + k);
#else
    if (k < 0 || k >= PyTuple_GET_SIZE(code->co_freevars)) {
        return NULL;
    }
    return PyTuple_GET_ITEM(code->co_freevars, k);
#endif
}

/* The interpreter frame of a frame object (the object itself before 3.11),
 * or NULL when the frame has finished and kept no locals. */
static inline lt_pyframe *
lt_compat_frame_of_object(PyFrameObject *f)
{
#if PY_VERSION_HEX >= 0x030B0000
    return f->f_frame;
#else
    return f;
#endif
}

/* The exception a thread is handling now (sys.exc_info()), borrowed, or NULL. */
static inline PyObject *
lt_compat_handled_exception(PyThreadState *tstate)
{
    _PyErr_StackItem *item = tstate->exc_info;
    return item ? item->exc_value : NULL;
}

#endif /* LT_COMPAT_H */
