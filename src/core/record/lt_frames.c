/* lt_frames.c - see lt_frames.h. */
#include "compat/lt_compat.h" /* first: it defines Py_BUILD_CORE */

#include "record/lt_frames.h"

#include <string.h>

PyThreadState *
lt_frames_attached_tstate(void)
{
    return lt_compat_attached_tstate();
}

PyThreadState *
lt_frames_gil_tstate(void)
{
    return lt_compat_gil_tstate();
}

PyThreadState *
lt_frames_thread_tstate(void)
{
    return lt_compat_thread_tstate();
}

int
lt_frames_walk(PyThreadState *tstate, lt_rawframe *out, int max, int *truncated)
{
    *truncated = 0;
    lt_rawframe *slot = out + max;
    lt_pyframe *frame = lt_compat_top_frame(tstate);
    /* Skip what is not (yet) part of the stack at the top. */
    for (; frame; frame = lt_compat_previous_frame(frame)) {
        if (lt_compat_frame_has_code(frame) && !lt_compat_frame_incomplete(frame)) {
            break;
        }
    }
    for (; frame; frame = lt_compat_previous_frame(frame)) {
        if (!lt_compat_frame_has_code(frame) ||
            (LT_COMPAT_CHECK_EVERY_FRAME_COMPLETE && lt_compat_frame_incomplete(frame))) {
            continue;
        }
        if (slot == out) {
            *truncated = 1;
            break;
        }
        slot--;
        slot->code = (uintptr_t)lt_compat_frame_code_of(frame);
        slot->position = lt_compat_frame_position(frame);
    }
    return (int)(out + max - slot);
}

uint64_t
lt_frames_fingerprint(const lt_rawframe *frame)
{
    const PyCodeObject *code = (const PyCodeObject *)frame->code;
    uint64_t h = (uint64_t)(uintptr_t)code->co_filename * 0x9E3779B97F4A7C15ull;
    h ^= (uint64_t)(uintptr_t)lt_compat_code_name((PyCodeObject *)code);
    return h ^ ((uint64_t)(uint32_t)code->co_firstlineno << 40);
}

/* Writes str as UTF-8 into buf without asking Python for memory (the UTF-8
 * cache of a str is allocated on demand). Lone surrogates become U+FFFD. */
static size_t
copy_utf8(PyObject *str, char *buf, size_t cap)
{
    if (!str || !PyUnicode_Check(str)) {
        return 0;
    }
    if (PyUnicode_IS_ASCII(str)) {
        size_t len = (size_t)PyUnicode_GET_LENGTH(str);
        if (len > cap) {
            len = cap;
        }
        memcpy(buf, PyUnicode_DATA(str), len);
        return len;
    }
    int kind = PyUnicode_KIND(str);
    const void *data = PyUnicode_DATA(str);
    Py_ssize_t length = PyUnicode_GET_LENGTH(str);
    size_t n = 0;
    for (Py_ssize_t i = 0; i < length; i++) {
        Py_UCS4 ch = PyUnicode_READ(kind, data, i);
        char enc[4];
        size_t len;
        if (ch >= 0xD800 && ch <= 0xDFFF) {
            ch = 0xFFFD;
        }
        if (ch < 0x80) {
            enc[0] = (char)ch;
            len = 1;
        }
        else if (ch < 0x800) {
            enc[0] = (char)(0xC0 | (ch >> 6));
            enc[1] = (char)(0x80 | (ch & 0x3F));
            len = 2;
        }
        else if (ch < 0x10000) {
            enc[0] = (char)(0xE0 | (ch >> 12));
            enc[1] = (char)(0x80 | ((ch >> 6) & 0x3F));
            enc[2] = (char)(0x80 | (ch & 0x3F));
            len = 3;
        }
        else {
            enc[0] = (char)(0xF0 | (ch >> 18));
            enc[1] = (char)(0x80 | ((ch >> 12) & 0x3F));
            enc[2] = (char)(0x80 | ((ch >> 6) & 0x3F));
            enc[3] = (char)(0x80 | (ch & 0x3F));
            len = 4;
        }
        if (n + len > cap) {
            break;
        }
        memcpy(buf + n, enc, len);
        n += len;
    }
    return n;
}

void
lt_frames_describe(const lt_rawframe *frame, lt_frame_description *out)
{
    PyCodeObject *code = (PyCodeObject *)frame->code;
    out->function_len = copy_utf8(lt_compat_code_name(code), out->function, LT_FRAMES_NAME_MAX);
    out->file_len = copy_utf8(code->co_filename, out->file, LT_FRAMES_NAME_MAX);
    int offset = lt_compat_byte_offset(code, frame->position);
    out->line = offset < 0 ? code->co_firstlineno : PyCode_Addr2Line(code, offset);
}
