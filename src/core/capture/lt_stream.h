/* lt_stream.h - reads the records of a capture (lt_format.h) one at a time
 * from a file, through a bounded buffer.
 *
 * Where lt_reader reads a whole file into memory, a stream holds one chunk of
 * it (LT_STREAM_CHUNK bytes) and grows only to hold the largest single record,
 * so reading a capture costs memory in proportion to its biggest snapshot, not
 * to its size. The stream checks framing only (the header, each record's
 * length against the file); the consumer (lt_analysis) validates payloads.
 *
 * The file is read up to the size it had when it was opened: a capture still
 * being written, or cut by a dying process, reads as a partial capture that
 * ends at its last whole record. Not thread-safe; one file per lt_stream.
 */
#ifndef LT_STREAM_H
#define LT_STREAM_H

#include <stddef.h>
#include <stdint.h>

#include "capture/lt_format.h"

#define LT_STREAM_CHUNK (1u << 20)
#define LT_STREAM_ERROR_MAX 256

typedef struct {
    unsigned type;
    const uint8_t *payload; /* valid until the next lt_stream_next() */
    size_t len;
    uint64_t offset; /* of the record's type byte in the file */
} lt_srecord;

typedef struct {
    int fd;
    uint8_t *buf;
    size_t cap;
    size_t start, end;   /* unconsumed bytes are buf[start, end) */
    uint64_t buf_offset; /* file offset of buf[0] */
    uint64_t file_size;  /* at open; nothing past it is read */
    uint64_t read_size;  /* bytes read from the file so far */
    unsigned major, minor;
    char error[LT_STREAM_ERROR_MAX];
} lt_stream;

/* Opens a regular file and checks its header. Returns 0, or -1 with
 * s->error set (the stream needs no close then). */
int lt_stream_open(lt_stream *s, const char *path);

/* Reads no further than `size` bytes of the file (a second pass over a file
 * still being written reads what the first one read). */
void lt_stream_limit(lt_stream *s, uint64_t size);

/* Reads the next record. Returns 1 with *rec filled, 0 when the file ends
 * (at a record boundary, or inside a cut record: rec->offset then tells where
 * the valid part ends), or -1 with s->error set (an I/O error, memory, or a
 * record length that cannot be a cut). */
int lt_stream_next(lt_stream *s, lt_srecord *rec);

/* The file offset just past the last record returned. */
uint64_t lt_stream_position(const lt_stream *s);

void lt_stream_close(lt_stream *s);

#endif /* LT_STREAM_H */
