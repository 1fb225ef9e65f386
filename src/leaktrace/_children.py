"""Following the children of a tracked process (docs/children.md).

A tracked process that follows its children exports two environment variables:
``LEAKTRACE_FOLLOW`` (the session's options as JSON, their output the root capture)
and ``LEAKTRACE_PARENT`` (``pid:own capture``). Every descendant writes its own
capture, ``<root>.<pid>.ltc``, which names its parent's capture in a link record:

* a **forked** child (``os.fork``, multiprocessing's fork and forkserver workers)
  keeps the tables it inherited, so the parent's live blocks stay live in it; an
  ``os.register_at_fork`` handler moves its session to its own capture;
* a **new interpreter** (``subprocess``, multiprocessing's spawn and forkserver
  processes) starts tracking while ``site`` processes ``leaktrace-follow.pth``,
  which does nothing unless ``LEAKTRACE_FOLLOW`` is set.

Children finish their capture at interpreter exit (``atexit``) or in ``os._exit``,
which forked children replace with a wrapper that stops tracking first (the way
multiprocessing's workers end).

This module is imported into tracked processes: it imports only what Python has
loaded at start-up.
"""

from __future__ import annotations

import atexit
import contextlib
import os
import signal
import sys

from . import _core, _exits, session

TYPE_CHECKING = False  # not typing's, which a tracked process need not import
if TYPE_CHECKING:
    from typing import NoReturn

FOLLOW_VAR = "LEAKTRACE_FOLLOW"
PARENT_VAR = "LEAKTRACE_PARENT"
# In a forked child: its own parent (pid:capture), for when it execs another Python,
# whose capture then replaces the child's and links to that parent.
FORK_PARENT_VAR = "LEAKTRACE_FORK_PARENT"


class _State:
    root = ""
    path = ""  # this process's capture, absolute
    pid = 0  # the process whose session this is


_state: _State | None = None
_real_exit = os._exit
_finishing = False  # finish() is writing the final snapshot
_deferred_signal = 0  # a SIGTERM that arrived meanwhile
_fork_handler_registered = False


def child_path(root: str, pid: int) -> str:
    """The capture of the descendant pid of the process that wrote root."""
    return f"{root}.{pid}.ltc"


def enable(options: session.Options, root: str | None = None) -> None:
    """Follow the children of this process, which now tracks as options say."""
    global _state, _fork_handler_registered
    state = _State()
    state.root = os.path.abspath(root or options.output)
    state.path = os.path.abspath(options.output)
    state.pid = os.getpid()
    _state = state
    # New interpreters record with the root's depth, sampling rate and snapshots
    # (by work) and the default native tracking, each into a capture of its own (docs/children.md).
    child = session.Options(
        output=state.root,
        depth=options.depth,
        sample_bytes=options.sample_bytes,
        snapshots=options.snapshots or bool(options.interval),
        follow_children=True,
    )
    os.environ[FOLLOW_VAR] = child.to_json()
    os.environ[PARENT_VAR] = f"{state.pid}:{state.path}"
    if not _fork_handler_registered:
        os.register_at_fork(before=_before_fork, after_in_child=_after_fork_in_child)
        _fork_handler_registered = True


def disable() -> None:
    """Stop following (the session is over): later forks and programs are not tracked."""
    global _state
    _state = None
    for name in (FOLLOW_VAR, PARENT_VAR, FORK_PARENT_VAR):
        os.environ.pop(name, None)


def _warn(message: str) -> None:
    try:
        sys.stderr.write(f"leaktrace: {message}\n")
        sys.stderr.flush()
    except (OSError, ValueError, AttributeError):
        pass


def _before_fork() -> None:
    """A child inherits the signal mask: with SIGTERM blocked from the fork until the
    child's own handler is in place, a worker terminated as it is forked still
    finishes its capture (the signal waits, pending, for that handler). The parent's
    mask is restored inside fork() itself (lt_pysignal.h)."""
    if _state is not None:
        with contextlib.suppress(OSError):
            _core.hold_sigterm_for_fork()


def _after_fork_in_child() -> None:
    try:
        _set_up_forked_child()
    finally:
        _core.release_fork_hold()


def _set_up_forked_child() -> None:
    state = _state
    if state is None or not _core.is_tracking():
        return
    pid = os.getpid()
    path = child_path(state.root, pid)
    try:
        _core.follow_fork(path, session.session_meta(f"forked child of {state.pid}"), state.path)
    except (OSError, MemoryError) as e:
        _warn(f"forked child {pid} is not tracked: cannot write {path}: {e}")
        disable()
        return
    os.environ[FORK_PARENT_VAR] = f"{state.pid}:{state.path}"
    state.pid = pid
    state.path = path
    os.environ[PARENT_VAR] = f"{pid}:{path}"
    os._exit = _exit_after_finishing
    atexit.register(finish)
    _exits.catch_sigterm(_finish_then_die)


def finish() -> None:
    """Complete this child's capture, if it still tracks (never raises)."""
    global _finishing
    state = _state
    if state is None or state.pid != os.getpid() or not _core.is_tracking():
        return
    # Flagged before the state goes: a SIGTERM handled from here on waits for this
    # capture to be complete (one handled before runs the whole finish itself).
    _finishing = True
    disable()
    try:
        import gc

        gc.collect()
        session.end()
    except (OSError, MemoryError, RuntimeError) as e:
        _warn(f"capture of process {os.getpid()} is incomplete: {e}")
    finally:
        _finishing = False
    if _deferred_signal:
        _exits.die_of(_deferred_signal)


def _finish_then_die(signum: int) -> None:
    """SIGTERM in a followed child (multiprocessing.Pool's terminate()): finish the
    capture, then die of the signal. One that arrives while the capture is being
    finished (a worker already on its way out) waits until it is complete."""
    global _deferred_signal
    if _finishing:
        _deferred_signal = signum
        return
    finish()
    _exits.die_of(signum)


def _exit_after_finishing(status: int) -> NoReturn:
    finish()
    _real_exit(status)


def start_from_env() -> None:
    """Start tracking a new interpreter started by a tracked program (from the .pth)."""
    spec = os.environ.get(FOLLOW_VAR, "")
    parent = os.environ.get(PARENT_VAR, "")
    try:
        options = session.Options.from_json(spec)
        parent_pid_text, parent_capture = parent.split(":", 1)
        parent_pid = int(parent_pid_text)
    except ValueError:  # OptionsError included
        _warn(f"ignoring malformed {FOLLOW_VAR}/{PARENT_VAR}")
        return
    if _core.is_tracking():
        return
    root = options.output
    pid = os.getpid()
    path = child_path(root, pid)
    link = _core.LINK_EXEC
    if parent_pid == pid:
        # A followed forked child that exec'd Python: this capture replaces the
        # child's, and links to the child's parent.
        link = _core.LINK_FORK
        fork_parent = os.environ.get(FORK_PARENT_VAR, "")
        pid_text, _, parent_capture = fork_parent.partition(":")
        parent_pid = int(pid_text) if pid_text.isdigit() else 0
    argv = " ".join(sys.orig_argv)
    options = options.with_output(path)
    # A SIGTERM between the capture's start and its handler (a Pool of spawned workers
    # terminated while one still starts) would leave a truncated capture: it waits,
    # blocked, until the handler that finishes the capture is in place.
    held = _hold_sigterm()
    try:
        try:
            session.begin(
                options,
                f"{argv} (started by {parent_pid})",
                parent=(link, parent_pid, parent_capture),
                follow=False,
            )
        except (OSError, RuntimeError, ValueError) as e:
            _warn(f"process {pid} is not tracked: {e}")
            return
        enable(options, root=root)
        atexit.register(finish)
        _exits.catch_sigterm(_finish_then_die)
    finally:
        if held:
            signal.pthread_sigmask(signal.SIG_UNBLOCK, {signal.SIGTERM})


def _hold_sigterm() -> bool:
    """Blocks SIGTERM in this (main) thread, unless it was blocked already."""
    try:
        before = signal.pthread_sigmask(signal.SIG_BLOCK, {signal.SIGTERM})
    except (AttributeError, OSError, ValueError):  # no pthread_sigmask here
        return False
    return signal.SIGTERM not in before
