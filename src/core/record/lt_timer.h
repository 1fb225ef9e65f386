/* lt_timer.h - a native thread that calls back into the tracker periodically.
 *
 * `leaktrace run --interval` takes snapshots from this thread rather than
 * from a Python thread, so the tracked program's heap, thread list and
 * threading module see nothing of it. The thread sleeps on a condition
 * variable (CLOCK_MONOTONIC); at each deadline it takes the GIL with a thread
 * state created by lt_timer_start() in the caller's thread, so the timer
 * thread itself never allocates from a Python domain, and calls the tick.
 * (PyGILState_Ensure would create and free a thread state, from the tracked
 * RAW domain, at every tick.)
 *
 * There is one timer per process. Locking:
 *   - TIMER_LOCK (a pthread mutex) protects the stop request and the wake-up;
 *     the timer thread never holds it while it waits for the GIL, and the
 *     GIL holder only holds it for a signal, so the two cannot deadlock.
 *   - start, stop and is_running require the GIL; the tick is called with
 *     the GIL held and must not release it.
 *   - lt_timer_stop() releases the GIL while it joins the thread, which may
 *     be waiting for the GIL to finish its current tick.
 * Fork: os.fork() warns (3.12+) when the process has other threads, so the
 * module (module/lt_pytimer.c) pauses the timer from an os.register_at_fork
 * "before" callback (joining the thread, keeping its thread state and next
 * deadline) and resumes it from a pending call, in the main thread, that
 * "after_in_parent" schedules (3.13 counts threads after the callbacks). The
 * child has no timer thread; the pthread_atfork handler forgets it
 * (CPython's own after-fork code deletes its thread state). A C-level fork
 * that runs no Python callbacks (e.g. subprocess's vfork) leaves the timer
 * running; CPython does not warn there.
 * Shutdown: the thread is not a Python thread, so nothing at exit waits for
 * it; the module registers an atexit callback that stops it before the
 * interpreter is finalized.
 */
#ifndef LT_TIMER_H
#define LT_TIMER_H

#include <stdint.h>

/* Called with the GIL held; returns 0, or -1 (the timer keeps running). */
typedef int (*lt_timer_tick)(void *arg);

/* Starts the thread; the first tick is interval_ns from now. Returns 0, or
 * -1 with errno set (EBUSY when a timer already runs, ENOMEM, or what
 * pthread_create gave). Requires the GIL. */
int lt_timer_start(uint64_t interval_ns, lt_timer_tick tick, void *arg);

/* Stops and joins the thread (no tick runs after it returns) and deletes its
 * thread state, also of a paused timer. Does nothing when no timer runs.
 * Requires the GIL, which it releases while joining. */
void lt_timer_stop(void);

/* Requires the GIL. */
int lt_timer_is_running(void);

/* Joins the running thread, keeping what a restart needs; does nothing when
 * no timer runs. Requires the GIL, which it releases while joining. */
void lt_timer_pause_for_fork(void);

/* Restarts a paused timer, its next tick when it was due. Returns 0 (also
 * when nothing was paused), or -1 with errno set: the timer is then stopped.
 * Requires the GIL. */
int lt_timer_resume_after_fork(void);

/* Ticks run so far by the current (or last) timer. Requires the GIL. */
uint64_t lt_timer_ticks(void);

#endif /* LT_TIMER_H */
