/* lt_timer.h - a native thread that calls back into the tracker on a schedule.
 *
 * Snapshots during a run (by default, or every `--interval`) are taken from
 * this thread rather than from a Python thread, so the tracked program's
 * heap, thread list and threading module see nothing of it. The thread
 * follows an lt_schedule (record/lt_schedule.h): it sleeps on a condition
 * variable (CLOCK_MONOTONIC) between polls, reads the work done so far with
 * the work callback (without the GIL or TIMER_LOCK), and when a snapshot is
 * due it asks the main thread for it with a pending call (Py_AddPendingCall:
 * run at the next bytecode boundary, where a busy main thread would only hand
 * the GIL over after its switch interval), or, when that has not run within
 * 10 ms (the main thread waits in C), takes the GIL itself with a thread
 * state created by lt_timer_start() in the caller's thread, so the timer
 * thread itself never allocates from a Python domain, and calls the tick.
 * The thread deletes that thread state itself as it ends (the deletion
 * unbinds it from the PyGILState slot of the thread that deletes it).
 * (PyGILState_Ensure would create and free a thread state, from the tracked
 * RAW domain, at every tick.)
 *
 * There is one timer per process. Locking:
 *   - TIMER_LOCK (a pthread mutex) protects the stop request, the wake-up,
 *     the schedule and the numbered snapshot requests (one is served once,
 *     by whichever of the pending call and the thread claims it first);
 *     the timer thread never holds it while it waits for the GIL, and a GIL
 *     holder only holds it to signal, or to claim a request and note its
 *     cost (never across the tick), so the two cannot deadlock.
 *   - start, stop and is_running require the GIL; the tick is called with
 *     the GIL held and must not release it.
 *   - lt_timer_stop() releases the GIL while it joins the thread, which may
 *     be waiting for the GIL to finish its current tick.
 * Fork: os.fork() warns (3.12+) when the process has other threads, so the
 * module (module/lt_pytimer.c) pauses the timer from an os.register_at_fork
 * "before" callback (joining the thread, keeping its schedule) and resumes
 * it, with a new thread state, from a pending call, in the main thread, that
 * "after_in_parent" schedules (3.13 counts threads after the callbacks). The
 * child has no timer thread; the pthread_atfork handler forgets it
 * (CPython's own after-fork code deletes the thread state of a timer forked
 * while running). A C-level fork
 * that runs no Python callbacks (e.g. subprocess's vfork) leaves the timer
 * running; CPython does not warn there.
 * Shutdown: the thread is not a Python thread, so nothing at exit waits for
 * it; the module registers an atexit callback that stops it before the
 * interpreter is finalized.
 */
#ifndef LT_TIMER_H
#define LT_TIMER_H

#include <stdint.h>

#include "record/lt_schedule.h"

/* Called with the GIL held; returns 0, or -1 (the timer keeps running). */
typedef int (*lt_timer_tick)(void *arg);

/* The bytes the program has allocated so far. Called on the timer thread
 * without the GIL; it must not call into Python nor allocate from a Python
 * domain. */
typedef uint64_t (*lt_timer_work)(void);

/* Starts the thread on the schedule config (work may be NULL for one by
 * time only). Returns 0, or -1 with errno set (EBUSY when a timer already
 * runs, ENOMEM, or what pthread_create gave). Requires the GIL. */
int lt_timer_start(const lt_schedule_config *config, lt_timer_work work, lt_timer_tick tick,
                   void *arg);

/* Stops and joins the thread (no tick runs after it returns) and deletes its
 * thread state, also of a paused timer. Does nothing when no timer runs.
 * Requires the GIL, which it releases while joining. */
void lt_timer_stop(void);

/* Requires the GIL. */
int lt_timer_is_running(void);

/* Joins the running thread, keeping what a restart needs; does nothing when
 * no timer runs. Requires the GIL, which it releases while joining. */
void lt_timer_pause_for_fork(void);

/* Restarts a paused timer, its schedule where it was. Returns 0 (also
 * when nothing was paused), or -1 with errno set: the timer is then stopped.
 * Requires the GIL. */
int lt_timer_resume_after_fork(void);

/* Ticks run so far by the current (or last) timer. Requires the GIL. */
uint64_t lt_timer_ticks(void);

#endif /* LT_TIMER_H */
