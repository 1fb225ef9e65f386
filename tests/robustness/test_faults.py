"""Every way a program under ``leaktrace run`` can end: the capture is closed and complete
(it ends with its END record and holds the program's memory in its final snapshot), and
the process ends as the untracked program does - same exit status or fatal signal, same
stdout and stderr, byte for byte.

SIGKILL leaves the capture readable up to its last flush. A full disk or an unwritable
output path gives one message, and the program runs to its end unaffected.
"""

from __future__ import annotations

import os
import resource
import signal
import sys
import textwrap
from pathlib import Path

import pytest
from capture_craft import REC_END, REC_SNAPSHOT, REC_SNAPSHOT_EXTRA, parse_records, read_varint
from ltx_support import at
from tracked_run import READY, assert_complete, default, ignore, leaktrace_args, run, run_pair

import leaktrace

KEPT_SIZE = 100_000

# The program every ending is appended to: it keeps one known block at a known line.
PROLOGUE = """\
import os
import signal
import sys
import threading
import time

KEPT = bytes(100_000)
print("start", flush=True)
"""
KEPT_LINE = 7

# Ending statement -> the exit status (or -signal) of the untracked program.
ENDINGS = {
    "return": ("", 0),
    "sys_exit": ("sys.exit(3)", 3),
    "sys_exit_message": ("sys.exit('fatal: config missing')", 1),
    "exception": ("raise ValueError('boom')", 1),
    "keyboard_interrupt": ("raise KeyboardInterrupt", -signal.SIGINT),
    "os_exit": ("os._exit(4)", 4),
    "os_exit_unflushed": ("print('lost', end='')\nos._exit(0)", 0),
    "os_exit_from_thread": (
        "threading.Thread(target=os._exit, args=(6,)).start()\ntime.sleep(60)",
        6,
    ),
    "sigterm_to_itself": ("os.kill(os.getpid(), signal.SIGTERM)\ntime.sleep(60)", -signal.SIGTERM),
    "exception_in_non_daemon_thread": (
        "def fail():\n    raise RuntimeError('in thread')\n"
        "t = threading.Thread(target=fail)\nt.start()\nt.join()\nsys.exit(2)",
        2,
    ),
}


def write_program(directory: Path, body: str, name: str = "prog.py") -> Path:
    script = directory / name
    script.write_text(PROLOGUE + textwrap.dedent(body) + "\n")
    return script


def assert_kept(capture: Path, script: Path, *, partial: bool = False) -> leaktrace.Capture:
    """The capture's last snapshot holds the program's kept block at its line."""
    cap = leaktrace.load(capture, allow_partial=partial)
    assert cap.complete is not partial
    if not partial:
        assert cap.final.kind == "final"
    kept = at(cap, str(script), KEPT_LINE)
    assert kept.bytes >= KEPT_SIZE and kept.count >= 1, kept
    return cap


@pytest.mark.parametrize("ending", list(ENDINGS))
def test_ending(tmp_path: Path, ending: str) -> None:
    body, expected = ENDINGS[ending]
    script = write_program(tmp_path, body)
    pair = run_pair(script, tmp_path / "c.ltc")
    assert pair.plain.returncode == expected, pair.plain.describe()
    pair.assert_same_behaviour()
    assert_complete(pair.capture)
    assert_kept(pair.capture, script)


def without_start_line(script: Path) -> Path:
    script.write_text(script.read_text().replace('print("start", flush=True)\n', ""))
    return script


@pytest.mark.parametrize("signum", [signal.SIGTERM, signal.SIGINT])
def test_signal_from_outside(tmp_path: Path, signum: int) -> None:
    script = without_start_line(
        # One line: the traceback names it wherever the signal lands.
        write_program(tmp_path, "print('ready', flush=True); time.sleep(60)")
    )
    # Where the signal lands (in print or in sleep) is a matter of timing: without
    # the column markers of 3.11+, the traceback is the same either way.
    env = {**os.environ, "PYTHONNODEBUGRANGES": "1"}
    pair = run_pair(script, tmp_path / "c.ltc", send=signum, env=env, preexec=default(signum))
    assert pair.plain.returncode == -signum, pair.plain.describe()
    pair.assert_same_behaviour()
    assert_complete(pair.capture)
    assert_kept(pair.capture, script)


def test_program_sigterm_handler_runs(tmp_path: Path) -> None:
    script = without_start_line(
        write_program(
            tmp_path,
            """
            def on_term(signum, frame):
                print("handler ran", signum, flush=True)
                sys.exit(7)

            signal.signal(signal.SIGTERM, on_term)
            print("ready", flush=True)
            time.sleep(60)
            """,
        )
    )
    pair = run_pair(script, tmp_path / "c.ltc", send=signal.SIGTERM)
    assert pair.plain.returncode == 7, pair.plain.describe()
    assert pair.plain.stdout == READY + f"handler ran {int(signal.SIGTERM)}\n".encode()
    pair.assert_same_behaviour()
    assert_complete(pair.capture)
    assert_kept(pair.capture, script)


def test_program_handler_chaining_to_the_previous_one(tmp_path: Path) -> None:
    # The usual "clean up, then die of the signal as before" handler: it restores
    # what was installed (leaktrace's handler when tracked) and sends it again.
    script = without_start_line(
        write_program(
            tmp_path,
            """
            def on_term(signum, frame):
                print("cleaning up", flush=True)
                signal.signal(signum, previous)
                os.kill(os.getpid(), signum)
                time.sleep(60)

            previous = signal.signal(signal.SIGTERM, on_term)
            print("ready", flush=True)
            time.sleep(60)
            """,
        )
    )
    pair = run_pair(script, tmp_path / "c.ltc", send=signal.SIGTERM)
    assert pair.plain.returncode == -signal.SIGTERM, pair.plain.describe()
    pair.assert_same_behaviour()
    assert_complete(pair.capture)
    assert_kept(pair.capture, script)


def test_ignored_sigterm_stays_ignored(tmp_path: Path) -> None:
    script = write_program(
        tmp_path, "os.kill(os.getpid(), signal.SIGTERM)\ntime.sleep(0.2)\nprint('still here')"
    )
    pair = run_pair(script, tmp_path / "c.ltc", preexec=ignore(signal.SIGTERM))
    assert pair.plain.returncode == 0, pair.plain.describe()
    assert pair.plain.stdout == b"start\nstill here\n"
    pair.assert_same_behaviour()
    assert_complete(pair.capture)


def test_forked_child_os_exit_leaves_the_parent_capture_alone(tmp_path: Path) -> None:
    script = write_program(
        tmp_path,
        """
        pid = os.fork()
        if pid == 0:
            CHILD = bytes(777_777)
            os._exit(3)
        _, status = os.waitpid(pid, 0)
        print("child exited", os.waitstatus_to_exitcode(status), flush=True)
        os._exit(5)
        """,
    )
    pair = run_pair(script, tmp_path / "c.ltc")
    assert pair.plain.returncode == 5, pair.plain.describe()
    assert pair.plain.stdout == b"start\nchild exited 3\n"
    pair.assert_same_behaviour()
    records = parse_records(pair.capture.read_bytes())
    assert [r.rtype for r in records].count(REC_END) == 1
    cap = assert_kept(pair.capture, script)
    # the parent's snapshots by work, and one final one: the child wrote none
    assert [s.kind for s in cap.snapshots].count("final") == 1
    assert [r.rtype for r in records].count(REC_SNAPSHOT) == len(cap.snapshots)
    assert all(site.bytes < 777_777 for site in cap.sites()), "the child's block was written"


def test_sigterm_while_the_capture_is_being_closed(tmp_path: Path) -> None:
    # A finalizer run by leaktrace's final collection sends SIGTERM: the capture is
    # closed first, then the process dies of the signal. (Untracked, the garbage is
    # never collected, so there is nothing to compare with.)
    script = write_program(
        tmp_path,
        """
        import gc

        class Terminator:
            def __del__(self):
                print("finalizer", flush=True)
                os.kill(os.getpid(), signal.SIGTERM)

        gc.disable()
        cycle = Terminator()
        cycle.self = cycle
        del cycle
        print("end of program", flush=True)
        """,
    )
    capture = tmp_path / "c.ltc"
    tracked = run(leaktrace_args("run", "-q", "-o", capture, script), tmp_path)
    assert tracked.returncode == -signal.SIGTERM, tracked.describe()
    assert tracked.stdout == b"start\nend of program\nfinalizer\n"
    assert_complete(capture)
    assert_kept(capture, script)


def test_os_exit_keeps_its_checks(tmp_path: Path) -> None:
    # A bad status raises TypeError as the builtin does, and the program goes on.
    script = write_program(
        tmp_path,
        """
        try:
            os._exit("three")
        except TypeError as e:
            print("TypeError:", e, flush=True)
        os._exit(3)
        """,
    )
    pair = run_pair(script, tmp_path / "c.ltc")
    assert pair.plain.returncode == 3, pair.plain.describe()
    pair.assert_same_behaviour()
    assert_complete(pair.capture)
    assert_kept(pair.capture, script)


# ---- SIGKILL: readable up to the last flush ----


def test_sigkill_leaves_a_readable_capture(tmp_path: Path) -> None:
    script = write_program(
        tmp_path,
        """
        import leaktrace
        leaktrace.snapshot("before the kill")
        LATER = bytes(300_000)
        os.kill(os.getpid(), signal.SIGKILL)
        """,
    )
    capture = tmp_path / "c.ltc"
    # No timer snapshots: one due to the 300 KB allocation (a work slice) could come
    # between it and the kill on a busy machine, after the labelled one.
    tracked = run(leaktrace_args("run", "-q", "--no-snapshots", "-o", capture, script), tmp_path)
    assert tracked.returncode == -signal.SIGKILL, tracked.describe()
    assert tracked.stdout == b"start\n"
    records = parse_records(capture.read_bytes())
    # The snapshot and its extra record (RSS) are flushed together when it is taken.
    snapshot, extra = records[-2:]
    assert (snapshot.rtype, extra.rtype) == (REC_SNAPSHOT, REC_SNAPSHOT_EXTRA)
    assert read_varint(extra.payload, 0)[0] == read_varint(snapshot.payload, 0)[0]

    cap = assert_kept(capture, script, partial=True)
    assert cap.final.label == "before the kill"
    assert cap.final.rss_bytes > 300_000
    later = script.read_text().splitlines().index("LATER = bytes(300_000)") + 1
    assert at(cap, str(script), later)[:2] == (0, 0), "allocated after the last flush"
    # A partial capture is read by default (and with --partial, kept for compatibility).
    for flags in ([], ["--partial"]):
        report = run(leaktrace_args("report", *flags, capture), tmp_path)
        assert report.returncode == 0, report.describe()
        assert report.stderr == b"", report.describe()
        assert report.stdout.startswith(b"leaktrace: PARTIAL capture"), report.describe()
        assert b"prog.py:7" in report.stdout, report.describe()


# ---- the disk: full, too small, or not writable ----


def limit_file_size(limit: int):
    def preexec() -> None:
        resource.setrlimit(resource.RLIMIT_FSIZE, (limit, limit))

    return preexec


PROGRAM_WITH_OUTPUT = """
for i in range(2000):
    print(f"line {i}")
sys.stderr.write("own stderr\\n")
sys.exit(9)
"""


def assert_refused_before_start(tmp_path: Path, output: str, *args: str) -> str:
    """An unwritable capture stops leaktrace run before the program starts: one line,
    exit status 2 (a run that went on untracked would pass CI silently)."""
    script = write_program(tmp_path, "open('ran', 'w').close()\n" + PROGRAM_WITH_OUTPUT)
    tracked = run(leaktrace_args("run", "-q", *args, "-o", output, script), tmp_path)
    assert tracked.returncode == 2, tracked.describe()
    assert tracked.stdout == b""
    lines = tracked.stderr.decode().splitlines()
    assert len(lines) == 1 and lines[0].startswith("leaktrace: error: "), tracked.describe()
    assert not (tmp_path / "ran").exists()
    return lines[0]


def test_full_disk_at_start(tmp_path: Path) -> None:
    """/dev/full exists: refused without -f; with it, writing the header fails."""
    line = assert_refused_before_start(tmp_path, "/dev/full")
    assert line == "leaktrace: error: capture /dev/full exists: give -f/--force to overwrite it"
    line = assert_refused_before_start(tmp_path, "/dev/full", "-f")
    assert line == "leaktrace: error: cannot write capture /dev/full: No space left on device"


def test_disk_fills_up_while_running(tmp_path: Path) -> None:
    # RLIMIT_FSIZE makes writes past 4 KiB fail (EFBIG; Python ignores SIGXFSZ) once
    # the header is written: the final snapshot does not fit.
    script = write_program(tmp_path, PROGRAM_WITH_OUTPUT)
    plain = run([sys.executable, str(script)], tmp_path)
    capture = tmp_path / "c.ltc"
    tracked = run(
        leaktrace_args("run", "-q", "-o", capture, script), tmp_path, preexec=limit_file_size(4096)
    )
    assert tracked.returncode == plain.returncode == 9, tracked.describe()
    assert tracked.stdout == plain.stdout
    extra = tracked.stderr.replace(plain.stderr, b"", 1).decode().splitlines()
    assert extra == [f"leaktrace: capture {capture} is incomplete: File too large"], extra
    assert capture.stat().st_size <= 4096


@pytest.mark.parametrize("where", ["missing_directory", "directory"])
def test_unwritable_output_path(tmp_path: Path, where: str) -> None:
    output = str(tmp_path / "no" / "such" / "dir.ltc") if where != "directory" else str(tmp_path)
    reason = "is a directory" if where == "directory" else "does not exist"
    line = assert_refused_before_start(tmp_path, output, "-f")
    assert output in line and reason in line, line
