/* lt_rss.h - the resident set size of this process, from /proc/self/statm.
 *
 * Reads with open/read into a stack buffer: no allocation, safe to call from
 * any thread, with or without the GIL. It makes three system calls, so it
 * is not called with TRACKER_LOCK held (lt_lock.h): the session reads it
 * after the tracker has encoded its snapshot.
 */
#ifndef LT_RSS_H
#define LT_RSS_H

#include <stdint.h>

/* Stores the resident bytes in *out and returns 0, or returns -1 when
 * /proc/self/statm cannot be read or parsed. */
int lt_rss_bytes(uint64_t *out);

#endif /* LT_RSS_H */
