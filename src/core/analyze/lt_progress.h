/* lt_progress.h - a progress bar on a terminal, for long reads.
 *
 * lt_progress_update() matches lt_progress_fn. Nothing is drawn unless the fd
 * is a terminal and the work has already taken `delay_ns`, so short work and
 * output redirected to a file stay silent; after that the bar is redrawn at
 * most ten times a second. It writes with write(2) only and needs no Python,
 * so it may run with the GIL released. One bar per lt_progress, one thread.
 */
#ifndef LT_PROGRESS_H
#define LT_PROGRESS_H

#include <stdint.h>

typedef struct {
    int fd;
    int enabled; /* the fd is a terminal */
    int drawn;   /* something is on the line, to be cleared */
    uint64_t start_ns, delay_ns, last_draw_ns;
    const char *label;
} lt_progress;

void lt_progress_init(lt_progress *p, int fd, const char *label, uint64_t delay_ns);

/* ctx is an lt_progress. */
void lt_progress_update(void *ctx, uint64_t done, uint64_t total);

/* Clears the bar if one was drawn. */
void lt_progress_finish(lt_progress *p);

#endif /* LT_PROGRESS_H */
