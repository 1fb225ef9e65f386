"""leaktrace run is invisible to the program: what it sees of its stack, its warnings,
its faulthandler dumps, its command line and its own tracemalloc are those of
``python script.py``, byte for byte (docs/robustness.md)."""

from __future__ import annotations

import ast
import re
import subprocess
import sys
import textwrap
from collections import Counter
from pathlib import Path

import leaktrace_cli
import pytest

PROBES = """
import faulthandler
import inspect
import sys
import traceback
import warnings

print("f_back", sys._getframe().f_back)
print("stack", [(f.filename, f.lineno, f.function) for f in inspect.stack()])
traceback.print_stack(file=sys.stdout)
try:
    sys._getframe(1)
except ValueError as e:
    print("getframe(1)", e)


def warn_caller():
    warnings.warn("at the caller", stacklevel=2)


def warn_beyond():
    warnings.warn("beyond the stack", stacklevel=3)


def nested():
    return [(f.filename, f.function) for f in inspect.stack()]


warn_caller()
warn_beyond()
print("nested", nested())
sys.stdout.flush()
faulthandler.dump_traceback(sys.stdout, all_threads=False)
print("orig_argv", sys.orig_argv[1:])
print("argv", sys.argv)
print("main", __name__, __file__, __spec__, sys.path[0])
raise SystemExit(f"done {__name__}")
"""

MODULE_PROBES = """
import inspect
import sys
import traceback

print("stack", [(f.filename, f.function) for f in inspect.stack()])
traceback.print_stack(file=sys.stdout)
print("argv", sys.argv)
"""


def _plain(
    tmp_path: Path, *target: str, flags: tuple[str, ...] = ()
) -> subprocess.CompletedProcess[str]:
    return subprocess.run(
        [sys.executable, *flags, *target],
        capture_output=True,
        text=True,
        cwd=tmp_path,
        timeout=60,
    )


def _traced(
    tmp_path: Path, *target: str, flags: tuple[str, ...] = ()
) -> subprocess.CompletedProcess[str]:
    return subprocess.run(
        [
            sys.executable,
            *flags,
            *leaktrace_cli.command("run", "-q", "-o", "probe.ltc")[1:],
            *target,
        ],
        capture_output=True,
        text=True,
        cwd=tmp_path,
        timeout=60,
    )


def _same_thread_ids(text: str) -> str:
    """faulthandler names the thread by its (random) address."""
    return re.sub(r"0x[0-9a-f]+", "0x?", text)


def test_script_sees_no_leaktrace_frame(tmp_path: Path) -> None:
    (tmp_path / "probes.py").write_text(textwrap.dedent(PROBES))
    plain = _plain(tmp_path, "probes.py", "arg")
    traced = _traced(tmp_path, "probes.py", "arg")
    assert plain.returncode == 1 and "f_back None" in plain.stdout  # the probes ran
    # Past the stack, warnings names no frame: sys:1 (<sys>:0 on 3.13).
    assert re.search(r"^(sys:1|<sys>:0): UserWarning: beyond the stack$", plain.stderr, re.M)
    assert traced.returncode == plain.returncode
    assert _same_thread_ids(traced.stdout) == _same_thread_ids(plain.stdout)
    assert traced.stderr == plain.stderr
    import leaktrace

    package = str(Path(leaktrace.__file__).resolve().parent)
    assert package not in traced.stdout + traced.stderr
    assert "<string>" not in traced.stdout + traced.stderr


def test_module_sees_the_stack_of_python_dash_m(tmp_path: Path) -> None:
    (tmp_path / "probemod.py").write_text(textwrap.dedent(MODULE_PROBES))
    plain = _plain(tmp_path, "-m", "probemod", "x")
    traced = _traced(tmp_path, "-m", "probemod", "x")
    assert plain.returncode == 0 and "runpy" in plain.stdout  # python -m shows runpy
    assert traced.returncode == 0, traced.stderr
    assert traced.stdout == plain.stdout
    assert traced.stderr == plain.stderr == ""


def test_uncaught_exception_traceback_is_identical(tmp_path: Path) -> None:
    (tmp_path / "fails.py").write_text(
        "def inner():\n    raise KeyError('k')\n\ndef outer():\n    inner()\n\nouter()\n"
    )
    plain = _plain(tmp_path, "fails.py")
    traced = _traced(tmp_path, "fails.py")
    assert plain.returncode == traced.returncode == 1
    assert traced.stderr == plain.stderr
    assert plain.stderr.count("File ") == 3


TRACEMALLOC_PROBE = """
import os
import sys
import tracemalloc

print("tracing", tracemalloc.is_tracing(), tracemalloc.get_traceback_limit())
print("xoptions", sys._xoptions, os.environ.get("PYTHONTRACEMALLOC"))
snapshot = tracemalloc.take_snapshot()
package = {package!r}
own = [
    (frame.filename, frame.lineno, trace.size)
    for trace in snapshot.traces
    for frame in trace.traceback
    if frame.filename.startswith(package) or frame.filename == "<string>" and frame.lineno == 1
]
print("own", sorted(own))
kept = [bytearray(10_000) for _ in range(10)]
mine = snapshot.filter_traces([tracemalloc.Filter(True, __file__)])
after = tracemalloc.take_snapshot().filter_traces([tracemalloc.Filter(True, __file__)])
grown = sum(s.size_diff for s in after.compare_to(mine, "lineno"))
print("mine grew", grown >= 100_000)
"""


@pytest.mark.parametrize(
    "flags, env",
    [(("-X", "tracemalloc"), {}), (("-X", "tracemalloc=7"), {}), ((), {"PYTHONTRACEMALLOC": "3"})],
    ids=["-X tracemalloc", "-X tracemalloc=7", "PYTHONTRACEMALLOC"],
)
def test_programs_tracemalloc_does_not_see_leaktrace(
    tmp_path: Path, flags: tuple[str, ...], env: dict[str, str], monkeypatch: pytest.MonkeyPatch
) -> None:
    import leaktrace

    for key, value in env.items():
        monkeypatch.setenv(key, value)
    package = str(Path(leaktrace.__file__).resolve().parent)
    (tmp_path / "tm.py").write_text(textwrap.dedent(TRACEMALLOC_PROBE.format(package=package)))
    plain = _plain(tmp_path, "tm.py", flags=flags)
    traced = _traced(tmp_path, "tm.py", flags=flags)
    assert plain.returncode == 0, plain.stderr
    assert traced.returncode == 0, traced.stderr
    lines = dict(line.split(" ", 1) for line in traced.stdout.splitlines())
    expected = dict(line.split(" ", 1) for line in plain.stdout.splitlines())
    assert lines["tracing"] == expected["tracing"]
    assert lines["xoptions"] == expected["xoptions"]
    # The program's own allocations can match "<string>":1 too (a namedtuple's methods
    # are compiled from "<string>", by the tokenize module tracemalloc imports): the
    # traced program must see nothing that it does not see untracked.
    own = Counter(ast.literal_eval(lines["own"]))
    assert not own - Counter(ast.literal_eval(expected["own"])), own
    assert lines["mine"] == expected["mine"] == "grew True"


def test_leaktrace_imports_nothing_while_it_tracks(tmp_path: Path) -> None:
    """What leaktrace imports to run the program is imported before tracking starts:
    otherwise its modules' memory lands in the capture (as import-time allocations),
    as importlib.machinery's did once dataclasses no longer imported it first (57 KiB
    for an empty script). (With -m, runpy's compiling the module is the program's own
    import, as under python -m.)"""
    import json

    (tmp_path / "empty.py").write_text("")
    run = subprocess.run(
        [*leaktrace_cli.command("run", "-q", "-o", "e.ltc", "--json-output", "e.json"), "empty.py"],
        capture_output=True,
        text=True,
        cwd=tmp_path,
        timeout=60,
    )
    assert run.returncode == 0, run.stderr
    imports = json.loads((tmp_path / "e.json").read_text())["excluded"]["imports"]
    assert imports["bytes"] < 16 * 1024, imports
