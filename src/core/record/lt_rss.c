/* lt_rss.c - see lt_rss.h. */
#include "record/lt_rss.h"

#include <errno.h>
#include <fcntl.h>
#include <unistd.h>

/* statm holds seven decimal page counts: size resident shared text lib data dt. */
int
lt_rss_bytes(uint64_t *out)
{
    char buf[256];
    int fd;
    do {
        fd = open("/proc/self/statm", O_RDONLY | O_CLOEXEC);
    } while (fd < 0 && errno == EINTR);
    if (fd < 0) {
        return -1;
    }
    ssize_t n;
    do {
        n = read(fd, buf, sizeof(buf) - 1);
    } while (n < 0 && errno == EINTR);
    close(fd);
    if (n <= 0) {
        return -1;
    }
    buf[n] = '\0';
    const char *p = buf;
    while (*p >= '0' && *p <= '9') { /* skip the total size */
        p++;
    }
    if (*p++ != ' ' || *p < '0' || *p > '9') {
        return -1;
    }
    uint64_t pages = 0;
    for (; *p >= '0' && *p <= '9'; p++) {
        pages = pages * 10 + (uint64_t)(*p - '0');
    }
    long page_size = sysconf(_SC_PAGESIZE);
    if (page_size <= 0) {
        return -1;
    }
    *out = pages * (uint64_t)page_size;
    return 0;
}
