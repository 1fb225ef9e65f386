"""Running one program untracked and under ``leaktrace run -q``, to compare the two.

Both runs get the same interpreter, working directory, environment, stdin and (for
signal tests) the same signal sent once the program has printed ``ready``. A hang
fails the test with what the program had written so far.
"""

from __future__ import annotations

import os
import re
import signal
import subprocess
import sys
from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path

import pytest
from capture_craft import REC_END, parse_records

TIMEOUT = 120
READY = b"ready\n"


@dataclass
class Result:
    returncode: int
    stdout: bytes
    stderr: bytes
    args: list[str]

    def describe(self) -> str:
        return (
            f"command: {self.args}\nstatus: {self.returncode}\n"
            f"stdout: {self.stdout[-3000:]!r}\nstderr: {self.stderr[-3000:]!r}"
        )


_ADDRESS = re.compile(rb" at 0x[0-9a-f]+>")
_SANITIZER_PID = re.compile(rb"^==\d+==", re.MULTILINE)  # ASan's lines, in the sanitizer run


def _no_addresses(output: bytes) -> bytes:
    return _SANITIZER_PID.sub(b"==pid==", _ADDRESS.sub(b" at 0x?>", output))


@dataclass
class Pair:
    plain: Result
    tracked: Result
    capture: Path

    def assert_same_behaviour(self) -> None:
        """Exit status (or fatal signal), stdout and stderr, byte for byte, except for
        object addresses (``at 0x7f...`` in a repr) and the process id that starts the
        sanitizer's warnings, which differ from run to run."""
        context = f"untracked:\n{self.plain.describe()}\ntracked:\n{self.tracked.describe()}"
        assert self.tracked.returncode == self.plain.returncode, context
        assert _no_addresses(self.tracked.stdout) == _no_addresses(self.plain.stdout), context
        assert _no_addresses(self.tracked.stderr) == _no_addresses(self.plain.stderr), context


def run(
    args: list[str],
    cwd: Path,
    *,
    send: int | None = None,
    preexec: Callable[[], None] | None = None,
    stdin: bytes = b"",
    timeout: float = TIMEOUT,
    env: dict[str, str] | None = None,
) -> Result:
    """Runs a command; with `send`, sends that signal once it printed `ready`."""
    proc = subprocess.Popen(
        args,
        cwd=cwd,
        env=env,
        stdin=subprocess.PIPE,
        stdout=subprocess.PIPE,
        stderr=subprocess.PIPE,
        preexec_fn=preexec,
    )
    head = b""
    try:
        if send is not None:
            assert proc.stdout is not None
            head = proc.stdout.readline()
            if head == READY:
                proc.send_signal(send)
        out, err = proc.communicate(stdin if send is None else None, timeout=timeout)
    except subprocess.TimeoutExpired:
        proc.kill()
        out, err = proc.communicate()
        pytest.fail(f"{args} hung (killed after {timeout} s)\nstdout: {out!r}\nstderr: {err!r}")
    if send is not None:
        assert head == READY, f"{args} did not print 'ready' first: {head + out!r} {err!r}"
    return Result(proc.returncode, head + out, err, list(map(str, args)))


def leaktrace_args(*args: str | os.PathLike[str]) -> list[str]:
    return [sys.executable, "-m", "leaktrace", *map(str, args)]


def run_pair(
    script: Path,
    capture: Path,
    *,
    args: tuple[str, ...] = (),
    send: int | None = None,
    preexec: Callable[[], None] | None = None,
    stdin: bytes = b"",
    env: dict[str, str] | None = None,
    run_options: tuple[str, ...] = (),
) -> Pair:
    cwd = script.parent
    options = {"send": send, "preexec": preexec, "stdin": stdin, "env": env}
    plain = run([sys.executable, str(script), *args], cwd, **options)
    tracked = run(
        leaktrace_args("run", "-q", *run_options, "-o", capture, script, *args), cwd, **options
    )
    return Pair(plain, tracked, capture)


def assert_complete(capture: Path) -> None:
    """The capture ends with its END record, and has only that one."""
    data = capture.read_bytes()
    records = parse_records(data)
    ends = [r for r in records if r.rtype == REC_END]
    assert len(ends) == 1 and records[-1].rtype == REC_END, f"{capture}: no single END at the end"


def ignore(signum: int) -> Callable[[], None]:
    """A preexec_fn starting the child with signum ignored."""

    def preexec() -> None:
        signal.signal(signum, signal.SIG_IGN)

    return preexec


def default(signum: int) -> Callable[[], None]:
    """A preexec_fn starting the child with signum at its default disposition: a shell
    starts background jobs with SIGINT ignored, and children inherit that."""

    def preexec() -> None:
        signal.signal(signum, signal.SIG_DFL)

    return preexec
