"""``leaktrace run`` must run a program exactly like ``python script.py`` / ``python -m mod``.

Each test writes a small probe program into a temporary directory, runs it
both untracked and under ``python -m leaktrace run`` and compares what the
program observed (argv, ``__main__``, ``sys.path[0]``, stdin, stdout, exit
status, tracebacks).
"""

from __future__ import annotations

import importlib.util
import json
import os
import re
import subprocess
import sys
import textwrap
import time
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import leaktrace_cli
import pytest
from report_support import with_stacks

TIMEOUT = 300
FRAME_LINE = re.compile(r'^\s+File "(?P<file>[^"]*)", line (?P<line>\d+), in (?P<func>.*)$')

Proc = subprocess.CompletedProcess[bytes]

PROBE = """\
import json
import pickle
import sys


class Point:
    def __init__(self, x, y):
        self.x, self.y = x, y


def observe():
    main = sys.modules["__main__"]
    roundtrip = pickle.loads(pickle.dumps(Point(3, 4)))
    return {
        "argv": sys.argv,
        "name": __name__,
        "file": __file__,
        "path0": sys.path[0],
        "spec": None if __spec__ is None else __spec__.name,
        "package": __package__,
        "main_is_this_module": main.__dict__ is globals(),
        "pickled_point": [roundtrip.x, roundtrip.y],
    }


if __name__ == "__main__":
    print(json.dumps(observe()))
"""

MODULE_PROBE = """\
import json
import sys

observed = {
    "argv": sys.argv,
    "name": __name__,
    "file": __file__,
    "path0": sys.path[0],
    "spec": None if __spec__ is None else __spec__.name,
    "package": __package__,
    "main_is_this_module": sys.modules["__main__"].__dict__ is globals(),
}
print(json.dumps(observed))
if "--exit" in sys.argv:
    sys.exit(int(sys.argv[sys.argv.index("--exit") + 1]))
"""


@dataclass
class Pair:
    plain: Proc
    tracked: Proc
    capture: Path


def describe(proc: Proc) -> str:
    return (
        f"command: {proc.args}\nexit code: {proc.returncode}\n"
        f"stdout:\n{proc.stdout.decode(errors='replace')[-3000:]}\n"
        f"stderr:\n{proc.stderr.decode(errors='replace')[-3000:]}"
    )


def run(
    cmd: list[str], cwd: Path, stdin: bytes | None = None, env: dict[str, str] | None = None
) -> Proc:
    return subprocess.run(
        cmd,
        cwd=cwd,
        input=stdin if stdin is not None else b"",
        capture_output=True,
        env=env,
        timeout=TIMEOUT,
        check=False,
    )


def leaktrace(
    *args: str, cwd: Path, stdin: bytes | None = None, env: dict[str, str] | None = None
) -> Proc:
    return run([*leaktrace_cli.command(), *args], cwd, stdin, env)


def run_both(
    target: list[str],
    cwd: Path,
    capture: Path,
    stdin: bytes | None = None,
    env: dict[str, str] | None = None,
) -> Pair:
    """Run ``python TARGET`` and ``python -m leaktrace run -o CAPTURE TARGET``."""
    plain = run([sys.executable, *target], cwd, stdin, env)
    tracked = leaktrace("run", "-o", str(capture), *target, cwd=cwd, stdin=stdin, env=env)
    return Pair(plain, tracked, capture)


def write(path: Path, source: str) -> Path:
    path.parent.mkdir(parents=True, exist_ok=True)
    path.write_text(textwrap.dedent(source), encoding="utf-8")
    return path


def marked_line(path: Path, marker: str) -> int:
    for number, text in enumerate(path.read_text(encoding="utf-8").splitlines(), start=1):
        if text.rstrip().endswith(f"# {marker}"):
            return number
    raise AssertionError(f"no {marker} marker in {path}")


def traceback_block(stderr: bytes) -> list[str]:
    """The lines of the (last) Python traceback in STDERR, up to the exception line."""
    lines = stderr.decode(errors="replace").splitlines()
    starts = [i for i, text in enumerate(lines) if text == "Traceback (most recent call last):"]
    assert starts, f"no traceback in stderr:\n{stderr.decode(errors='replace')}"
    block = []
    for text in lines[starts[-1] :]:
        block.append(text)
        if block[1:] and text and not text[0].isspace():
            break
    return block


def traceback_frames(block: list[str]) -> list[tuple[str, int, str]]:
    frames = []
    for text in block:
        match = FRAME_LINE.match(text)
        if match:
            frames.append((match["file"], int(match["line"]), match["func"]))
    return frames


def leaktrace_package_dir() -> Path:
    spec = importlib.util.find_spec("leaktrace")
    assert spec is not None and spec.submodule_search_locations, "leaktrace is not installed"
    return Path(next(iter(spec.submodule_search_locations))).resolve()


def env_with_pythonpath(extra: Path) -> dict[str, str]:
    env = dict(os.environ)
    parts = [str(extra)]
    if env.get("PYTHONPATH"):
        parts.append(env["PYTHONPATH"])
    env["PYTHONPATH"] = os.pathsep.join(parts)
    return env


def json_report(capture: Path, cwd: Path) -> dict[str, Any]:
    proc = leaktrace("report", str(capture), "--format", "json", cwd=cwd)
    assert proc.returncode == 0, describe(proc)
    return with_stacks(json.loads(proc.stdout))


def top_site_has_frame(report: dict[str, Any], path: Path, line: int, cwd: Path) -> bool:
    site = report["leaks"][0] if report["leaks"] else {"stack": []}
    for frame in site["stack"]:
        recorded = Path(frame["file"])
        if not recorded.is_absolute():
            recorded = cwd / recorded
        if frame["line"] == line and recorded.resolve() == path.resolve():
            return True
    return False


# --- script mode: argv, __main__, sys.path[0] ---------------------------------------------

SCRIPT_ARGS = [
    "alpha",
    "--depth",
    "7",
    "-o",
    "not-the-capture.bin",
    "-m",
    "json",
    "--",
    "two words",
]


@pytest.fixture(scope="module")
def probe_runs(tmp_path_factory: pytest.TempPathFactory) -> tuple[Pair, Path, Path]:
    root = tmp_path_factory.mktemp("probe")
    script = write(root / "app" / "probe.py", PROBE)
    pair = run_both(["app/probe.py", *SCRIPT_ARGS], cwd=root, capture=root / "probe.capture")
    assert pair.plain.returncode == 0, describe(pair.plain)
    assert pair.tracked.returncode == 0, describe(pair.tracked)
    return pair, script, root


def observed(proc: Proc) -> dict[str, Any]:
    return json.loads(proc.stdout.decode().strip().splitlines()[-1])


def test_argv_is_script_path_and_args(probe_runs: tuple[Pair, Path, Path]) -> None:
    pair, _script, root = probe_runs
    seen = observed(pair.tracked)
    assert seen["argv"] == ["app/probe.py", *SCRIPT_ARGS]
    assert seen["argv"] == observed(pair.plain)["argv"]
    # Options after the script belong to the script, not to leaktrace.
    assert pair.capture.is_file(), describe(pair.tracked)
    assert not (root / "not-the-capture.bin").exists()


def test_script_runs_as_main_module(probe_runs: tuple[Pair, Path, Path]) -> None:
    pair, script, root = probe_runs
    seen = observed(pair.tracked)
    assert seen["name"] == "__main__"
    assert seen["main_is_this_module"] is True
    assert seen["pickled_point"] == [3, 4]
    assert seen["spec"] is None
    assert Path(root, seen["file"]).resolve() == script.resolve()
    plain = observed(pair.plain)
    for key in ("name", "file", "spec", "package", "main_is_this_module"):
        assert seen[key] == plain[key], f"{key}: tracked {seen[key]!r}, plain {plain[key]!r}"


def test_sys_path0_is_script_directory(probe_runs: tuple[Pair, Path, Path]) -> None:
    pair, script, _root = probe_runs
    seen = observed(pair.tracked)
    assert Path(seen["path0"]).resolve() == script.parent.resolve()
    assert seen["path0"] == observed(pair.plain)["path0"]


# --- stdin / stdout ----------------------------------------------------------------------


def test_stdin_is_passed_through(tmp_path: Path) -> None:
    write(
        tmp_path / "echo.py",
        """\
        import sys

        name = input("name? ")
        rest = sys.stdin.read().splitlines()
        print(f"hello {name}")
        for number, line in enumerate(rest, start=1):
            print(f"{number}: {line.upper()}")
        """,
    )
    feed = "Ada\nfirst line\nsecond line\nthird ✓\n".encode()
    pair = run_both(["echo.py"], cwd=tmp_path, capture=tmp_path / "c", stdin=feed)
    assert pair.tracked.returncode == 0, describe(pair.tracked)
    lines = pair.tracked.stdout.decode().splitlines()
    assert lines[0] == "name? hello Ada"
    assert lines[1:] == ["1: FIRST LINE", "2: SECOND LINE", "3: THIRD ✓"]
    assert pair.tracked.stdout == pair.plain.stdout


def test_stdout_is_byte_identical(tmp_path: Path) -> None:
    write(
        tmp_path / "writer.py",
        """\
        import sys

        print("plain ascii")
        print("unicode: h\\u00e9llo w\\u00f6rld \\u2713", "sep", sep="|", end="!\\n")
        for i in range(3000):
            print(f"line {i:05d} " + "x" * (i % 50))
        sys.stdout.flush()
        sys.stdout.buffer.write(bytes(range(256)))
        sys.stdout.buffer.flush()
        sys.stderr.write("to stderr\\n")
        print("tail without newline", end="")
        """,
    )
    pair = run_both(["writer.py"], cwd=tmp_path, capture=tmp_path / "c")
    assert pair.plain.returncode == 0, describe(pair.plain)
    assert pair.tracked.returncode == 0, describe(pair.tracked)
    assert len(pair.plain.stdout) > 100_000
    assert pair.tracked.stdout == pair.plain.stdout
    assert b"to stderr\n" in pair.tracked.stderr


# --- exit status -------------------------------------------------------------------------


@pytest.mark.parametrize(
    ("statement", "expected"),
    [
        ("sys.exit(3)", 3),
        ("sys.exit(0)", 0),
        ("sys.exit()", 0),
        ("raise SystemExit(42)", 42),
        ("sys.exit('fatal: config missing')", 1),
    ],
)
def test_exit_code_is_preserved(tmp_path: Path, statement: str, expected: int) -> None:
    write(
        tmp_path / "exits.py",
        f"""\
        import sys

        data = [bytes(1000) for _ in range(100)]


        def finish():
            print("finishing", flush=True)
            {statement}


        finish()
        print("not reached")
        """,
    )
    pair = run_both(["exits.py"], cwd=tmp_path, capture=tmp_path / "c")
    assert pair.plain.returncode == expected, describe(pair.plain)
    assert pair.tracked.returncode == expected, describe(pair.tracked)
    assert pair.tracked.stdout == b"finishing\n"
    if "fatal" in statement:
        assert b"fatal: config missing" in pair.tracked.stderr
        assert b"Traceback" not in pair.tracked.stderr
    assert pair.capture.is_file(), "the capture is written when the script calls sys.exit"


def write_crasher(directory: Path) -> Path:
    return write(
        directory / "crash.py",
        """\
        def parse(value):
            return int(value)  # RAISE-HERE


        def main():
            print("before the crash", flush=True)
            parse("not a number")


        main()
        """,
    )


def test_unhandled_exception_prints_usual_traceback(tmp_path: Path) -> None:
    script = write_crasher(tmp_path)
    raise_line = marked_line(script, "RAISE-HERE")
    pair = run_both(["crash.py"], cwd=tmp_path, capture=tmp_path / "c")
    assert pair.plain.returncode == 1, describe(pair.plain)
    assert pair.tracked.returncode == 1, describe(pair.tracked)
    assert pair.tracked.stdout == b"before the crash\n"

    block = traceback_block(pair.tracked.stderr)
    assert block[-1] == "ValueError: invalid literal for int() with base 10: 'not a number'"
    frames = traceback_frames(block)
    assert frames, block
    innermost_file, innermost_line, innermost_func = frames[-1]
    assert Path(tmp_path, innermost_file).resolve() == script.resolve()
    assert (innermost_line, innermost_func) == (raise_line, "parse")

    package_dir = leaktrace_package_dir()
    for file, _line, _func in frames:
        resolved = Path(tmp_path, file).resolve()
        assert not resolved.is_relative_to(package_dir), f"leaktrace frame in traceback: {block}"
        assert "runpy" not in file, f"runpy frame in traceback: {block}"

    plain_frames = traceback_frames(traceback_block(pair.plain.stderr))
    assert [(line, func) for _file, line, func in frames] == [
        (line, func) for _file, line, func in plain_frames
    ]


def test_capture_is_written_when_script_crashes(tmp_path: Path) -> None:
    write_crasher(tmp_path)
    proc = leaktrace("run", "-o", "crash.capture", "crash.py", cwd=tmp_path)
    assert proc.returncode == 1, describe(proc)
    assert (tmp_path / "crash.capture").is_file(), describe(proc)
    report = json_report(tmp_path / "crash.capture", tmp_path)
    assert "crash.py" in str(report["command"])


# --- -m module ---------------------------------------------------------------------------


@pytest.fixture
def package_root(tmp_path: Path) -> Path:
    lib = tmp_path / "lib"
    write(lib / "acme" / "__init__.py", "VERSION = '1.0'\n")
    write(lib / "acme" / "cli.py", MODULE_PROBE)
    write(lib / "acme" / "__main__.py", MODULE_PROBE)
    (tmp_path / "work").mkdir()
    return lib


@pytest.mark.parametrize(("module", "filename"), [("acme.cli", "cli.py"), ("acme", "__main__.py")])
def test_module_mode_matches_python_dash_m(
    tmp_path: Path, package_root: Path, module: str, filename: str
) -> None:
    work = tmp_path / "work"
    env = env_with_pythonpath(package_root)
    args = ["x", "--depth", "2", "-o", "y"]
    pair = run_both(["-m", module, *args], cwd=work, capture=tmp_path / "m.capture", env=env)
    assert pair.plain.returncode == 0, describe(pair.plain)
    assert pair.tracked.returncode == 0, describe(pair.tracked)
    seen = observed(pair.tracked)
    module_file = package_root / "acme" / filename
    assert Path(seen["argv"][0]).resolve() == module_file.resolve()
    assert seen["argv"][1:] == args
    assert seen["name"] == "__main__"
    assert seen["main_is_this_module"] is True
    assert Path(seen["file"]).resolve() == module_file.resolve()
    assert seen == observed(pair.plain)
    assert pair.capture.is_file()
    assert not (work / "y").exists()


def test_module_mode_exit_code(tmp_path: Path, package_root: Path) -> None:
    env = env_with_pythonpath(package_root)
    proc = leaktrace(
        "run", "-o", "m.capture", "-m", "acme.cli", "--exit", "5", cwd=tmp_path / "work", env=env
    )
    assert proc.returncode == 5, describe(proc)


# --- tracking starts before the first line -----------------------------------------------


def test_allocation_on_first_line_is_tracked(tmp_path: Path) -> None:
    script = write(tmp_path / "first.py", "BLOB = bytes(3_000_000)  # LEAK-SITE\nprint('ok')\n")
    proc = leaktrace("run", "-o", "first.capture", "first.py", cwd=tmp_path)
    assert proc.returncode == 0, describe(proc)
    report = json_report(tmp_path / "first.capture", tmp_path)
    assert report["leaks"], "no leak sites"
    assert top_site_has_frame(report, script, 1, tmp_path), report["leaks"][:3]
    assert report["leaks"][0]["bytes"] >= 3_000_000


def test_allocation_on_first_line_of_module_is_tracked(tmp_path: Path, package_root: Path) -> None:
    module_file = write(
        package_root / "acme" / "hog.py", "BLOB = bytes(3_000_000)  # LEAK-SITE\nprint('ok')\n"
    )
    env = env_with_pythonpath(package_root)
    work = tmp_path / "work"
    proc = leaktrace("run", "-o", "hog.capture", "-m", "acme.hog", cwd=work, env=env)
    assert proc.returncode == 0, describe(proc)
    report = json_report(work / "hog.capture", work)
    assert report["leaks"], "no leak sites"
    assert top_site_has_frame(report, module_file, 1, work), report["leaks"][:3]
    assert report["leaks"][0]["bytes"] >= 3_000_000


# --- report output and capture location --------------------------------------------------

LEAKY = """\
import sys

kept = []
for i in range(50):
    kept.append(bytes(40_000))  # LEAK-SITE
print("done")
"""


def test_report_goes_to_stderr_and_names_capture(tmp_path: Path) -> None:
    script = write(tmp_path / "leaky_script.py", LEAKY)
    capture = tmp_path / "out.ltc"
    pair = run_both(["leaky_script.py"], cwd=tmp_path, capture=capture)
    assert pair.tracked.returncode == 0, describe(pair.tracked)
    assert pair.tracked.stdout == pair.plain.stdout == b"done\n"
    stderr = pair.tracked.stderr.decode(errors="replace")
    assert str(capture) in stderr or capture.name in stderr, stderr
    assert script.name in stderr, "the text report names the leaking file"
    assert str(marked_line(script, "LEAK-SITE")) in stderr


def test_default_capture_name_is_printed(tmp_path: Path) -> None:
    write(tmp_path / "leaky_script.py", LEAKY)
    before = set(tmp_path.iterdir())
    started = time.time()
    proc = leaktrace("run", "leaky_script.py", cwd=tmp_path)
    assert proc.returncode == 0, describe(proc)
    assert proc.stdout == b"done\n"
    stderr = proc.stderr.decode(errors="replace")
    candidates = []
    for token in re.findall(r"[^\s'\"`()\[\],]+", stderr):
        path = Path(tmp_path, token.rstrip(".:;"))
        if path.is_file() and path not in before and path.stat().st_mtime >= started - 1:
            candidates.append(path)
    assert candidates, f"stderr names no newly written capture file:\n{stderr}"
    report = json_report(candidates[0], tmp_path)
    assert "leaky_script.py" in str(report["command"])
    new_files = set(tmp_path.iterdir()) - before
    assert new_files <= set(candidates) | {tmp_path / "__pycache__"}, new_files


def test_output_option_is_honoured(tmp_path: Path) -> None:
    write(tmp_path / "leaky_script.py", LEAKY)
    (tmp_path / "captures").mkdir()
    before = set(tmp_path.iterdir())
    proc = leaktrace("run", "-o", "captures/custom-name.bin", "leaky_script.py", cwd=tmp_path)
    assert proc.returncode == 0, describe(proc)
    capture = tmp_path / "captures" / "custom-name.bin"
    assert capture.is_file() and capture.stat().st_size > 0
    assert set(tmp_path.iterdir()) == before, "nothing else is written next to the script"
    assert list((tmp_path / "captures").iterdir()) == [capture]

    printed = json_report(capture, tmp_path)
    out = tmp_path / "report.json"
    proc = leaktrace("report", str(capture), "--format", "json", "-o", str(out), cwd=tmp_path)
    assert proc.returncode == 0, describe(proc)
    assert with_stacks(json.loads(out.read_text(encoding="utf-8"))) == printed
    assert printed["leaks"][0]["bytes"] >= 50 * 40_000 * 0.8


# --- bad input ---------------------------------------------------------------------------


def assert_one_line_error(proc: Proc) -> str:
    assert proc.returncode == 2, describe(proc)
    stderr = proc.stderr.decode(errors="replace")
    assert "Traceback" not in stderr, stderr
    lines = [line for line in stderr.splitlines() if line.strip()]
    assert len(lines) == 1, f"expected a one-line error, got:\n{stderr}"
    return lines[0]


def test_missing_script_is_a_usage_error(tmp_path: Path) -> None:
    proc = leaktrace("run", "-o", "x.capture", "no_such_script.py", cwd=tmp_path)
    message = assert_one_line_error(proc)
    assert "no_such_script.py" in message
    assert proc.stdout == b""
    assert not (tmp_path / "x.capture").exists()


def test_missing_capture_is_a_usage_error(tmp_path: Path) -> None:
    proc = leaktrace("report", "no_such.capture", "--format", "json", cwd=tmp_path)
    message = assert_one_line_error(proc)
    assert "no_such.capture" in message
    assert proc.stdout == b""


def test_unknown_option_is_a_usage_error(tmp_path: Path) -> None:
    write(tmp_path / "ran.py", "print('RAN')\n")
    proc = leaktrace("run", "--definitely-not-an-option", "ran.py", cwd=tmp_path)
    assert proc.returncode == 2, describe(proc)
    assert b"RAN" not in proc.stdout
    assert b"Traceback" not in proc.stderr
    assert b"--definitely-not-an-option" in proc.stderr
