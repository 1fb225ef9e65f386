/* lt_error.h - one-line error messages in a fixed buffer.
 *
 * The units that read captures (lt_decode, lt_reader, lt_stream,
 * lt_analysis) report why they failed in a char array of their state,
 * which the module turns into CaptureError. Nothing is allocated; a long
 * message is cut to the buffer.
 */
#ifndef LT_ERROR_H
#define LT_ERROR_H

#include <stdarg.h>
#include <stddef.h>
#include <stdio.h>

/* Formats the message into buf (size bytes) and returns -1, so that a
 * failing function can `return lt_error_set(...)`. */
static inline int __attribute__((format(printf, 3, 4)))
lt_error_set(char *buf, size_t size, const char *fmt, ...)
{
    va_list args;
    va_start(args, fmt);
    vsnprintf(buf, size, fmt, args);
    va_end(args);
    return -1;
}

#endif /* LT_ERROR_H */
