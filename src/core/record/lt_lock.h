/* lt_lock.h - the tracker's spin lock.
 *
 * The lock is almost always taken without contention (MEM and OBJ
 * allocations happen under the GIL; only RAW allocations from threads
 * without the GIL compete). A pthread mutex costs two atomic
 * read-modify-writes plus a call; this lock costs one exchange and one
 * release store. Waiters spin briefly, then yield the CPU so that a
 * preempted holder can run.
 *
 * Rules: never call into Python, a hooked allocator domain or a blocking
 * system call while holding the lock, and never take it twice (it is not
 * recursive). The common hold, a live-table insert or remove, lasts a few
 * dozen nanoseconds, resizes included (the live table moves its entries a
 * few per call, lt_livetable.h). Longer holds are the tracker's
 * (lt_tracker.c), as of now: growing the intern tables when a new frame,
 * string or node is added (amortized O(1), a copy proportional to the
 * session's distinct stacks, never to the heap; with lt_rawalloc, which calls
 * libc and never re-enters the hooks) and encoding a snapshot of every site
 * into the writer's buffer. Frames seen for the first time are described
 * (PyCode_Addr2Line) outside the lock (lt_stack.h).
 */
#ifndef LT_LOCK_H
#define LT_LOCK_H

#include <sched.h>

#if defined(__x86_64__) || defined(__i386__)
#define LT_CPU_RELAX() __builtin_ia32_pause()
#elif defined(__aarch64__)
#define LT_CPU_RELAX() __asm__ __volatile__("yield")
#else
#define LT_CPU_RELAX() ((void)0)
#endif

typedef struct {
    int held;
} lt_lock;

#define LT_LOCK_INIT                                                                              \
    {                                                                                             \
        0                                                                                         \
    }

static inline void
lt_lock_acquire(lt_lock *lock)
{
    for (;;) {
        if (!__atomic_exchange_n(&lock->held, 1, __ATOMIC_ACQUIRE)) {
            return;
        }
        for (int spins = 0; __atomic_load_n(&lock->held, __ATOMIC_RELAXED); spins++) {
            if (spins < 128) {
                LT_CPU_RELAX();
            }
            else {
                sched_yield();
            }
        }
    }
}

static inline void
lt_lock_release(lt_lock *lock)
{
    __atomic_store_n(&lock->held, 0, __ATOMIC_RELEASE);
}

#endif /* LT_LOCK_H */
