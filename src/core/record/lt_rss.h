/* lt_rss.h - the resident set size of this process, from /proc/self/statm.
 *
 * Reads with open/read into a stack buffer: no allocation, safe to call from
 * any thread, with or without the GIL, and while the tracker's lock is held.
 */
#ifndef LT_RSS_H
#define LT_RSS_H

#include <stdint.h>

/* Stores the resident bytes in *out and returns 0, or returns -1 when
 * /proc/self/statm cannot be read or parsed. */
int lt_rss_bytes(uint64_t *out);

#endif /* LT_RSS_H */
