/* lt_hooks.h - the PEP 445 hooks on CPython's three allocator domains.
 *
 * lt_hooks_install() wraps RAW, MEM and OBJ with hooks that call the
 * allocator they wrap and report to the tracker (lt_tracker.h, "for the
 * hooks"). Two sets of hook functions exist, chosen once per session so that
 * no hook tests the mode on every call:
 *
 * - LT_HOOKS_FULL reports every allocation and every free;
 * - LT_HOOKS_SAMPLED reports an allocation only when the sampler takes it
 *   (an unsampled one costs the countdown of lt_sampler.h and a return), and
 *   a free only when the address filter (lt_addrfilter.h) says the block may
 *   have been recorded: a free of a block never sampled takes no lock and
 *   looks into no table.
 *
 * The re-entry guard: a hook sets it while the real allocator runs, and its
 * nested calls into other domains (pymalloc hands large blocks to RAW), into
 * the malloc family (lt_native.h) or into a signal handler's allocations are
 * then passed through instead of being recorded twice. It is per thread and
 * initial-exec: one instruction to read.
 *
 * Threads: install and uninstall run with the GIL. The hooks run on any
 * thread; RAW ones possibly without the GIL.
 */
#ifndef LT_HOOKS_H
#define LT_HOOKS_H

typedef enum {
    LT_HOOKS_FULL,
    LT_HOOKS_SAMPLED,
} lt_hook_set;

extern __thread int lt_hooks_reentrant __attribute__((tls_model("initial-exec")));

/* Whether the hooks of an earlier session are still installed beneath
 * another tracer's (which started after them and has not stopped). */
int lt_hooks_buried(void);

/* Puts the given hook set on top of every domain. Domains whose hooks are
 * still installed and on top (a forked child's) keep what they wrap. */
void lt_hooks_install(lt_hook_set set);

/* Restores the wrapped allocators where our hooks are on top. Elsewhere they
 * stay in the chain and forward (the tracker records nothing once stopped). */
void lt_hooks_uninstall(void);

#endif /* LT_HOOKS_H */
