/* test_schedule.c - when the timer thread snapshots (lt_schedule.h). */
#include "check.h"
#include "record/lt_schedule.h"

#define MS 1000000ull

/* A fixed period keeps its cadence and ignores the work. */
static void
test_fixed_period(void)
{
    lt_schedule_config c = lt_schedule_fixed(100 * MS);
    lt_schedule s;
    lt_schedule_init(&s, &c, 1000 * MS, 0);
    CHECK(!lt_schedule_due(&s, 1050 * MS, UINT64_MAX));
    CHECK_U64(lt_schedule_wait_ns(&s, 1050 * MS), ==, 50 * MS);
    CHECK(lt_schedule_due(&s, 1100 * MS, 0));
    lt_schedule_taken(&s, 1103 * MS, 0, 0);
    CHECK_U64(s.deadline_ns, ==, 1200 * MS); /* the cadence, not now + period */
    lt_schedule_taken(&s, 1550 * MS, 0, 0);  /* late: missed ticks are skipped */
    CHECK_U64(s.deadline_ns, ==, 1650 * MS);
    for (int i = 0; i < 1000; i++) {
        lt_schedule_taken(&s, s.deadline_ns, 0, 0);
    }
    CHECK_U64(s.period_ns, ==, 100 * MS);
}

/* The default one snapshots on a slice of work before the time floor. */
static void
test_work_slice(void)
{
    lt_schedule_config c = lt_schedule_default();
    lt_schedule s;
    lt_schedule_init(&s, &c, 0, 5000);
    CHECK(!lt_schedule_due(&s, 1, 5000 + LT_SCHEDULE_SLICE_BYTES - 1));
    CHECK(lt_schedule_due(&s, 1, 5000 + LT_SCHEDULE_SLICE_BYTES));
    CHECK(lt_schedule_due(&s, LT_SCHEDULE_PERIOD_NS, 5000)); /* the time floor */
    /* polls fast for the first snapshots, then every quarter period while
     * waiting for work, up to the deadline */
    CHECK_U64(lt_schedule_wait_ns(&s, 0), ==, LT_SCHEDULE_FAST_POLL_NS);
    CHECK_U64(lt_schedule_wait_ns(&s, LT_SCHEDULE_PERIOD_NS - 10), ==, 10);
    lt_schedule_taken(&s, 2 * MS, 0, 6000000);
    CHECK_U64(s.next_bytes, ==, 6000000 + LT_SCHEDULE_SLICE_BYTES);
    CHECK_U64(s.deadline_ns, ==, 2 * MS + LT_SCHEDULE_PERIOD_NS);
    s.taken = LT_SCHEDULE_FAST_POLLS;
    CHECK_U64(lt_schedule_wait_ns(&s, 2 * MS), ==, LT_SCHEDULE_PERIOD_NS / 4);
}

/* Slice and period double every DOUBLE_EVERY snapshots after 2 x that many,
 * so a run of W bytes takes about DOUBLE_EVERY * log2(W / slice) of them. */
static void
test_points_stay_bounded(void)
{
    lt_schedule_config c = lt_schedule_default();
    lt_schedule s;
    lt_schedule_init(&s, &c, 0, 0);
    uint64_t allocated = 0, now = 0;
    /* 2 hours allocating 100 MB/s, polled every millisecond */
    while (now < 7200000 * MS) {
        now += MS;
        allocated += 100000;
        if (lt_schedule_due(&s, now, allocated)) {
            lt_schedule_taken(&s, now, 0, allocated);
        }
    }
    CHECK_U64(s.taken, >=, 2 * LT_SCHEDULE_DOUBLE_EVERY);
    CHECK_U64(s.taken, <=, 800);
    /* and 0.2 s of the same: at least 16 points */
    lt_schedule_init(&s, &c, 0, 0);
    for (now = 0, allocated = 0; now < 200 * MS; now += MS, allocated += 100000) {
        if (lt_schedule_due(&s, now, allocated)) {
            lt_schedule_taken(&s, now, 0, allocated);
        }
    }
    CHECK_U64(s.taken, >=, 16);
    /* 0.2 s of a program that hardly allocates: the time floor */
    lt_schedule_init(&s, &c, 0, 0);
    for (now = 0; now < 200 * MS; now += MS) {
        if (lt_schedule_due(&s, now, 0)) {
            lt_schedule_taken(&s, now, 0, 0);
        }
    }
    CHECK_U64(s.taken, >=, 16);
}

/* A snapshot that took c waits 19 c before the next, whatever the work. */
static void
test_cost_spaces_snapshots(void)
{
    lt_schedule_config c = lt_schedule_default();
    lt_schedule s;
    lt_schedule_init(&s, &c, 0, 0);
    lt_schedule_taken(&s, 10 * MS, 1 * MS, 0);
    CHECK_U64(s.earliest_ns, ==, 10 * MS + LT_SCHEDULE_COST_FACTOR * MS);
    CHECK(!lt_schedule_due(&s, 20 * MS, UINT64_MAX));
    CHECK_U64(lt_schedule_wait_ns(&s, 20 * MS), ==, 9 * MS);
    CHECK(lt_schedule_due(&s, 29 * MS, UINT64_MAX));
}

const test_case schedule_tests[] = {
    {"schedule: a costly snapshot spaces the next", test_cost_spaces_snapshots},
    {"schedule: fixed period", test_fixed_period},
    {"schedule: work slice and time floor", test_work_slice},
    {"schedule: points stay bounded", test_points_stay_bounded},
    {NULL, NULL},
};
