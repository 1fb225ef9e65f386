/* lt_pysignal.c - see lt_pysignal.h. */
#include "module/lt_pysignal.h" /* first: Python.h defines _GNU_SOURCE (gettid, SIGEV_THREAD_ID) */

#include <errno.h>
#include <signal.h>
#include <string.h>
#include <time.h>
#include <unistd.h>

#if defined(__linux__) && defined(SIGEV_THREAD_ID)
#define LT_SIGTERM_GUARD 1
#endif

#ifdef LT_SIGTERM_GUARD

#define LT_REPEAT_NS (50L * 1000 * 1000)

static struct sigaction python_action; /* the handler guard_sigterm put us in front of */
static timer_t repeat_timer;
static pid_t guarded_pid; /* timers are not inherited by fork() */
static volatile sig_atomic_t handled;

static void
on_sigterm(int signum, siginfo_t *info, void *context)
{
    int saved_errno = errno;
    if (!handled) {
        struct itimerspec shot;
        memset(&shot, 0, sizeof(shot));
        shot.it_value.tv_nsec = LT_REPEAT_NS;
        (void)timer_settime(repeat_timer, 0, &shot, NULL);
    }
    if (python_action.sa_flags & SA_SIGINFO) {
        python_action.sa_sigaction(signum, info, context);
    }
    else if (python_action.sa_handler != SIG_DFL && python_action.sa_handler != SIG_IGN) {
        python_action.sa_handler(signum);
    }
    errno = saved_errno;
}

PyObject *
lt_py_guard_sigterm(PyObject *module, PyObject *unused)
{
    (void)module;
    (void)unused;
    struct sigaction current;
    if (sigaction(SIGTERM, NULL, &current) != 0) {
        return PyErr_SetFromErrno(PyExc_OSError);
    }
    int ours = (current.sa_flags & SA_SIGINFO) && current.sa_sigaction == on_sigterm;
    if (ours && guarded_pid == getpid()) {
        handled = 0;
        Py_RETURN_TRUE;
    }
    if (current.sa_handler == SIG_DFL || current.sa_handler == SIG_IGN) {
        Py_RETURN_FALSE; /* nothing of Python's to put the guard in front of */
    }
    if (guarded_pid != getpid()) {
        struct sigevent event;
        memset(&event, 0, sizeof(event));
        event.sigev_notify = SIGEV_THREAD_ID;
        event.sigev_signo = SIGTERM;
        event._sigev_un._tid = gettid(); /* the main thread: the caller */
        if (timer_create(CLOCK_MONOTONIC, &event, &repeat_timer) != 0) {
            return PyErr_SetFromErrno(PyExc_OSError);
        }
        guarded_pid = getpid();
    }
    if (!ours) {
        python_action = current;
    }
    struct sigaction guard = current;
    guard.sa_flags = (current.sa_flags & ~SA_RESETHAND) | SA_SIGINFO;
    guard.sa_sigaction = on_sigterm;
    handled = 0;
    if (sigaction(SIGTERM, &guard, NULL) != 0) {
        return PyErr_SetFromErrno(PyExc_OSError);
    }
    Py_RETURN_TRUE;
}

PyObject *
lt_py_sigterm_handled(PyObject *module, PyObject *unused)
{
    (void)module;
    (void)unused;
    handled = 1;
    Py_RETURN_NONE;
}

#else /* !LT_SIGTERM_GUARD */

PyObject *
lt_py_guard_sigterm(PyObject *module, PyObject *unused)
{
    (void)module;
    (void)unused;
    Py_RETURN_FALSE;
}

PyObject *
lt_py_sigterm_handled(PyObject *module, PyObject *unused)
{
    (void)module;
    (void)unused;
    Py_RETURN_NONE;
}

#endif

/* The fork hold: portable POSIX, not tied to the guard's Linux timer. */

#include <pthread.h>

static int fork_hold; /* SIGTERM blocked by hold_sigterm_for_fork, not yet unblocked */
static pthread_t fork_hold_thread; /* the thread it is blocked in */
static int atfork_registered;

static void
unblock_sigterm(void)
{
    sigset_t set;
    sigemptyset(&set);
    sigaddset(&set, SIGTERM);
    (void)pthread_sigmask(SIG_UNBLOCK, &set, NULL);
}

/* Also the atfork parent handler: a fork by another thread (C code without
 * the GIL) leaves the hold alone. */
static void
release_in_parent(void)
{
    if (fork_hold && pthread_equal(fork_hold_thread, pthread_self())) {
        fork_hold = 0;
        unblock_sigterm();
    }
}

PyObject *
lt_py_hold_sigterm_for_fork(PyObject *module, PyObject *unused)
{
    (void)module;
    (void)unused;
    if (!atfork_registered) {
        int err = pthread_atfork(NULL, release_in_parent, NULL);
        if (err != 0) {
            errno = err;
            return PyErr_SetFromErrno(PyExc_OSError);
        }
        atfork_registered = 1;
    }
    if (fork_hold) {
        Py_RETURN_NONE; /* a fork that never happened (os.fork raised before it) */
    }
    sigset_t set, before;
    sigemptyset(&set);
    sigaddset(&set, SIGTERM);
    int err = pthread_sigmask(SIG_BLOCK, &set, &before);
    if (err != 0) {
        errno = err;
        return PyErr_SetFromErrno(PyExc_OSError);
    }
    /* Already blocked by the program: leave it so, on both sides of the fork. */
    fork_hold = !sigismember(&before, SIGTERM);
    fork_hold_thread = pthread_self();
    Py_RETURN_NONE;
}

PyObject *
lt_py_release_fork_hold(PyObject *module, PyObject *unused)
{
    (void)module;
    (void)unused;
    release_in_parent();
    Py_RETURN_NONE;
}
