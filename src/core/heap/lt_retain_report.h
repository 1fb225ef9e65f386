/* lt_retain_report.h - the retention records of a run (lt_format.h, 0x40):
 * paths for the sites holding the most bytes, the leak suspects, the cycles
 * (lt_retain_cycles.h) and a summary. Same rules as lt_retain.h.
 */
#ifndef LT_RETAIN_REPORT_H
#define LT_RETAIN_REPORT_H

#include <stddef.h>
#include <stdint.h>

#include "heap/lt_retain.h"

/* Computes dominators and emits the payloads of retention records (lt_format.h,
 * 0x40): paths for up to per_site surviving objects of each of the max_sites
 * tracker sites holding the most bytes (sites in files starting with
 * skip_prefix left out), the leak suspects, the largest cycles and a summary.
 * emit returns 0 or -1. Needs tracker data (lt_graph.sites). Returns 0 or -1. */
int lt_retain_report(lt_retain *r, int max_sites, int per_site, const char *skip_prefix,
                     int (*emit)(void *ctx, const uint8_t *payload, size_t len), void *ctx);

#endif /* LT_RETAIN_REPORT_H */
