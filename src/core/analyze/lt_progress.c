/* lt_progress.c - see lt_progress.h. */
#include "analyze/lt_progress.h"

#include <errno.h>
#include <stdio.h>
#include <time.h>
#include <unistd.h>

#define BAR_WIDTH 30
#define REDRAW_NS 100000000ull

static uint64_t
now_ns(void)
{
    struct timespec ts;
    clock_gettime(CLOCK_MONOTONIC, &ts);
    return (uint64_t)ts.tv_sec * 1000000000ull + (uint64_t)ts.tv_nsec;
}

static void
write_all(int fd, const char *text, size_t len)
{
    while (len) {
        ssize_t n = write(fd, text, len);
        if (n < 0 && errno == EINTR) {
            continue;
        }
        if (n <= 0) {
            return; /* a progress bar is not worth an error */
        }
        text += n;
        len -= (size_t)n;
    }
}

void
lt_progress_init(lt_progress *p, int fd, const char *label, uint64_t delay_ns)
{
    p->fd = fd;
    p->enabled = isatty(fd);
    p->drawn = 0;
    p->start_ns = now_ns();
    p->delay_ns = delay_ns;
    p->last_draw_ns = 0;
    p->label = label;
}

void
lt_progress_update(void *ctx, uint64_t done, uint64_t total)
{
    lt_progress *p = ctx;
    if (!p->enabled || total == 0) {
        return;
    }
    uint64_t now = now_ns();
    if (now - p->start_ns < p->delay_ns ||
        (p->drawn && now - p->last_draw_ns < REDRAW_NS && done < total)) {
        return;
    }
    if (done > total) {
        done = total;
    }
    unsigned filled = (unsigned)(done * BAR_WIDTH / total);
    char bar[BAR_WIDTH + 1];
    for (unsigned i = 0; i < BAR_WIDTH; i++) {
        bar[i] = i < filled ? '#' : '.';
    }
    bar[BAR_WIDTH] = '\0';
    double seconds = (double)(now - p->start_ns) / 1e9;
    double mib = (double)done / (1024.0 * 1024.0);
    char line[160];
    int n = snprintf(line, sizeof(line), "\r%s [%s] %3u%%  %.0f MiB in %.1f s", p->label, bar,
                     (unsigned)(done * 100 / total), mib, seconds);
    if (n > 0) {
        write_all(p->fd, line, (size_t)n < sizeof(line) ? (size_t)n : sizeof(line) - 1);
        p->drawn = 1;
        p->last_draw_ns = now;
    }
}

void
lt_progress_finish(lt_progress *p)
{
    if (p->drawn) {
        write_all(p->fd, "\r\033[K", 4);
        p->drawn = 0;
    }
}
