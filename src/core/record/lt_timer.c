/* lt_timer.c - see lt_timer.h. */
#define PY_SSIZE_T_CLEAN
#include "compat/lt_compat.h"

#include "record/lt_timer.h"

#include <errno.h>
#include <pthread.h>
#include <stdint.h>
#include <time.h>

/* How long the timer waits for the main thread to run its pending call
 * before it takes the GIL itself (the main thread may be waiting in C). */
#define LT_TIMER_PENDING_WAIT_NS 10000000ull

static pthread_mutex_t TIMER_LOCK = PTHREAD_MUTEX_INITIALIZER;

/* Protected by TIMER_LOCK while the thread runs; start_thread() sets them
 * before it creates the thread, and the schedule stays as the thread left
 * it for a restart after fork. The thread also reads stop_requested
 * atomically while it holds the GIL instead, to skip a tick a stop is
 * waiting on. */
static pthread_cond_t wakeup;
static int stop_requested;
static lt_schedule schedule;
/* Snapshot requests, numbered; `served` is the last one taken, by the main
 * thread's pending call or by the timer thread, whichever got there first.
 * Never reset, so a pending call left from an earlier timer is stale. */
static uint64_t requested, served;
static uint64_t tick_cost; /* of the last tick, ns */

/* Written with the GIL held while no timer thread runs; read by the thread. */
static lt_timer_work work_fn;
static lt_timer_tick tick_fn;
static void *tick_arg;
/* Created with the GIL before the thread starts; the thread clears it, with
 * the GIL, as it ends. */
static PyThreadState *timer_tstate;

/* Protected by the GIL. `joining` is set while a stop waits for the thread
 * with the GIL released: other stops return at once, starts fail. */
static int running;
static int joining;
static int paused; /* stopped by lt_timer_pause_for_fork(), to resume in the parent */
static pthread_t thread;
static uint64_t ticks; /* written by the thread with the GIL held */

static uint64_t
monotonic_ns(void)
{
    struct timespec ts;
    clock_gettime(CLOCK_MONOTONIC, &ts);
    return (uint64_t)ts.tv_sec * 1000000000ull + (uint64_t)ts.tv_nsec;
}

static struct timespec
to_timespec(uint64_t ns)
{
    struct timespec ts = {(time_t)(ns / 1000000000ull), (long)(ns % 1000000000ull)};
    return ts;
}

/* The work so far, read without TIMER_LOCK (work_fn may take a lock of its
 * own); 0 for a schedule by time only. */
static uint64_t
read_work(void)
{
    if (!schedule.slice_bytes || !work_fn) {
        return 0;
    }
    pthread_mutex_unlock(&TIMER_LOCK);
    uint64_t allocated = work_fn();
    pthread_mutex_lock(&TIMER_LOCK);
    return allocated;
}

/* Runs the tick for request seq unless it was served or the timer stops;
 * the GIL held, TIMER_LOCK held on entry and exit (released meanwhile). */
static void
serve_locked(uint64_t seq)
{
    if (served >= seq || seq != requested || stop_requested || !running) {
        return;
    }
    served = seq;
    pthread_mutex_unlock(&TIMER_LOCK);
    uint64_t start = monotonic_ns();
    tick_fn(tick_arg);
    uint64_t cost = monotonic_ns() - start;
    pthread_mutex_lock(&TIMER_LOCK);
    ticks++;
    tick_cost = cost;
    pthread_cond_signal(&wakeup);
}

/* A pending call: the main thread runs it at its next bytecode boundary, far
 * sooner than a busy main thread hands the GIL over (its switch interval). */
static int
pending_tick(void *arg)
{
    pthread_mutex_lock(&TIMER_LOCK);
    serve_locked((uint64_t)(uintptr_t)arg);
    pthread_mutex_unlock(&TIMER_LOCK);
    return 0;
}

/* Takes snapshot request seq: through a pending call when the main thread
 * runs Python code, else (it waits in C, or the call queue is full) with the
 * GIL on this thread. TIMER_LOCK held on entry and exit. */
static void
take_snapshot_locked(void)
{
    uint64_t seq = ++requested;
    pthread_mutex_unlock(&TIMER_LOCK);
    int queued = Py_AddPendingCall(pending_tick, (void *)(uintptr_t)seq) == 0;
    if (queued) {
        lt_compat_signal_pending_call(timer_tstate->interp);
    }
    pthread_mutex_lock(&TIMER_LOCK);
    if (queued) {
        struct timespec until = to_timespec(monotonic_ns() + LT_TIMER_PENDING_WAIT_NS);
        while (served < seq && !stop_requested) {
            if (pthread_cond_timedwait(&wakeup, &TIMER_LOCK, &until) == ETIMEDOUT) {
                break;
            }
        }
    }
    if (served >= seq || stop_requested) {
        return;
    }
    pthread_mutex_unlock(&TIMER_LOCK);
    PyEval_RestoreThread(timer_tstate);
    pthread_mutex_lock(&TIMER_LOCK);
    /* A stop may have been requested while we waited for the GIL; its
     * caller is now joining us with the GIL released. */
    serve_locked(seq);
    pthread_mutex_unlock(&TIMER_LOCK);
    PyEval_SaveThread();
    pthread_mutex_lock(&TIMER_LOCK);
}

static void *
timer_main(void *unused)
{
    (void)unused;
    pthread_mutex_lock(&TIMER_LOCK);
    while (!stop_requested) {
        uint64_t allocated = read_work();
        uint64_t now = monotonic_ns();
        if (stop_requested) {
            break;
        }
        if (!lt_schedule_due(&schedule, now, allocated)) {
            struct timespec until = to_timespec(now + lt_schedule_wait_ns(&schedule, now));
            pthread_cond_timedwait(&wakeup, &TIMER_LOCK, &until);
            continue; /* a stop, a poll, or a spurious wake-up: look again */
        }
        tick_cost = 0;
        take_snapshot_locked();
        allocated = read_work();
        lt_schedule_taken(&schedule, monotonic_ns(), tick_cost, allocated);
    }
    pthread_mutex_unlock(&TIMER_LOCK);
    /* The thread state is deleted here, by the thread it is bound to (3.12+
     * binds it to this thread's PyGILState slot once it takes the GIL): a
     * deletion by the joining thread would clear that thread's own slot, and
     * its C code without the GIL (a ctypes call) would lose its stack. The
     * joining thread waits with the GIL released. */
    PyEval_RestoreThread(timer_tstate);
    PyThreadState *mine = timer_tstate;
    timer_tstate = NULL;
    PyThreadState_Clear(mine);
    PyThreadState_DeleteCurrent();
    return NULL;
}

static void
before_fork(void)
{
    pthread_mutex_lock(&TIMER_LOCK);
}

static void
after_fork_parent(void)
{
    pthread_mutex_unlock(&TIMER_LOCK);
}

static void
after_fork_child(void)
{
    /* The thread does not exist here, and PyOS_AfterFork_Child deletes the
     * thread state of every thread but the forking one. */
    running = 0;
    joining = 0;
    paused = 0;
    timer_tstate = NULL;
    pthread_mutex_unlock(&TIMER_LOCK);
}

static int
init_once(void)
{
    static int initialized;
    if (initialized) {
        return 0;
    }
    pthread_condattr_t attr;
    int err = pthread_condattr_init(&attr);
    if (!err) {
        err = pthread_condattr_setclock(&attr, CLOCK_MONOTONIC);
        if (!err) {
            err = pthread_cond_init(&wakeup, &attr);
        }
        pthread_condattr_destroy(&attr);
    }
    if (!err) {
        err = pthread_atfork(before_fork, after_fork_parent, after_fork_child);
    }
    if (err) {
        errno = err;
        return -1;
    }
    initialized = 1;
    return 0;
}

/* Starts the thread with the settings and schedule in place, and a new
 * thread state for it, which the thread deletes when it ends. Returns 0, or
 * -1 with errno set. */
static int
start_thread(void)
{
    timer_tstate = PyThreadState_New(PyInterpreterState_Get());
    if (!timer_tstate) {
        errno = ENOMEM;
        return -1;
    }
    stop_requested = 0;
    int err = pthread_create(&thread, NULL, timer_main, NULL);
    if (err) {
        /* Never used by another thread: deleted here. */
        PyThreadState_Clear(timer_tstate);
        PyThreadState_Delete(timer_tstate);
        timer_tstate = NULL;
        errno = err;
        return -1;
    }
    running = 1;
    return 0;
}

int
lt_timer_start(const lt_schedule_config *config, lt_timer_work work, lt_timer_tick tick, void *arg)
{
    if (running || joining) {
        errno = EBUSY;
        return -1;
    }
    if (init_once() < 0) {
        return -1;
    }
    paused = 0; /* a timer paused for a fork and never resumed is replaced */
    work_fn = work;
    tick_fn = tick;
    tick_arg = arg;
    ticks = 0;
    served = requested; /* a pending call left by an earlier timer is stale */
    lt_schedule_init(&schedule, config, monotonic_ns(), work ? work() : 0);
    return start_thread();
}

/* Joins the thread, which deletes its thread state as it ends; the caller
 * holds the GIL and has checked that it runs. */
static void
join_thread(void)
{
    joining = 1;
    pthread_mutex_lock(&TIMER_LOCK);
    __atomic_store_n(&stop_requested, 1, __ATOMIC_RELAXED);
    pthread_cond_signal(&wakeup);
    pthread_mutex_unlock(&TIMER_LOCK);
    Py_BEGIN_ALLOW_THREADS pthread_join(thread, NULL);
    Py_END_ALLOW_THREADS running = 0;
    joining = 0;
}

void
lt_timer_stop(void)
{
    if (paused) {
        paused = 0;
        return;
    }
    if (!running || joining) {
        return;
    }
    join_thread();
}

void
lt_timer_pause_for_fork(void)
{
    if (!running || joining) {
        return;
    }
    join_thread();
    paused = 1;
}

int
lt_timer_resume_after_fork(void)
{
    if (!paused || running || joining) {
        return 0;
    }
    paused = 0;
    return start_thread();
}

int
lt_timer_is_running(void)
{
    return running;
}

uint64_t
lt_timer_ticks(void)
{
    return ticks;
}
