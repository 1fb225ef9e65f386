/* lt_schedule.h - when the timer thread takes the next snapshot.
 *
 * Two kinds of schedule share one rule. A fixed one (`--interval`) snapshots
 * every period. The default one snapshots every further slice of allocated
 * bytes (the program's work, read from the tracker's counters) or after a
 * period of time without one (the time floor), whichever comes first. A run
 * of 0.2 s and one of two hours both get enough points: after the first
 * 2 * LT_SCHEDULE_DOUBLE_EVERY snapshots, the slice and the period double
 * every LT_SCHEDULE_DOUBLE_EVERY snapshots, so a run of W bytes and T
 * seconds takes about DOUBLE_EVERY * log2(min(W / slice, T / period))
 * snapshots, evenly spaced in work within each doubling.
 *
 * The timer thread polls: it sleeps lt_schedule_wait_ns(), reads the
 * allocation counter and asks lt_schedule_due(). Nothing here runs on the
 * allocation hooks. Pure C, no allocation; one schedule per timer, owned by
 * the timer thread while it runs (not thread-safe).
 */
#ifndef LT_SCHEDULE_H
#define LT_SCHEDULE_H

#include <stdint.h>

/* The default schedule (docs/growth.md, "Snapshots by default"). */
#define LT_SCHEDULE_PERIOD_NS 2000000ull     /* time floor at the start: 2 ms */
#define LT_SCHEDULE_SLICE_BYTES (256u << 10) /* work slice at the start: 256 KiB */
#define LT_SCHEDULE_DOUBLE_EVERY 32
/* How often the default schedule reads the counters: a quarter of the
 * period, and not more often than every half millisecond; for its first
 * LT_SCHEDULE_FAST_POLLS snapshots every LT_SCHEDULE_FAST_POLL_NS, so that a
 * program whose work lasts a few milliseconds still gets several points (at
 * most some 30 ms of fast polling: the time floor takes them by then). */
#define LT_SCHEDULE_MIN_POLL_NS 500000ull
#define LT_SCHEDULE_FAST_POLLS 16
#define LT_SCHEDULE_FAST_POLL_NS 100000ull
/* After a snapshot that took c ns, the next waits at least this many times c
 * (either schedule): snapshots cost at most about 1/(1 + factor) of the run. */
#define LT_SCHEDULE_COST_FACTOR 19

typedef struct {
    uint64_t period_ns;    /* a snapshot at least this often (> 0) */
    uint64_t slice_bytes;  /* and one every slice of allocated bytes; 0: time only */
    uint32_t double_every; /* 0: fixed; else the growth rule above */
} lt_schedule_config;

typedef struct {
    lt_schedule_config config;
    uint64_t period_ns, slice_bytes; /* in force now */
    uint64_t deadline_ns;            /* the time floor's next snapshot */
    uint64_t earliest_ns;            /* no snapshot before (the cost rule) */
    uint64_t next_bytes;             /* the work slice's next snapshot */
    uint64_t taken;                  /* snapshots taken so far */
} lt_schedule;

/* The default schedule's configuration. */
lt_schedule_config lt_schedule_default(void);

/* A fixed period. */
lt_schedule_config lt_schedule_fixed(uint64_t period_ns);

/* Starts at now_ns with allocated bytes so far. */
void lt_schedule_init(lt_schedule *s, const lt_schedule_config *config, uint64_t now_ns,
                      uint64_t allocated);

/* Nanoseconds the poller may sleep before it asks again. */
uint64_t lt_schedule_wait_ns(const lt_schedule *s, uint64_t now_ns);

/* Whether a snapshot is due at now_ns with allocated bytes so far. */
int lt_schedule_due(const lt_schedule *s, uint64_t now_ns, uint64_t allocated);

/* Records a snapshot that ended at now_ns, took cost_ns, with allocated bytes
 * so far, and plans the next (missed periods are skipped, not bunched up). */
void lt_schedule_taken(lt_schedule *s, uint64_t now_ns, uint64_t cost_ns, uint64_t allocated);

#endif /* LT_SCHEDULE_H */
