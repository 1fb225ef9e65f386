"""leaktrace run in CI: bad capture paths stop it before the program starts, the JSON
report can go to a file of its own, --fail-on-leak gives an exit status of its own,
and sizes are read and written with their unit spelled out (docs/robustness.md)."""

from __future__ import annotations

import json
import os
import subprocess
import sys
import textwrap
from pathlib import Path

import leaktrace_cli
import pytest
from report_support import with_stacks

import leaktrace

RAN = "ran.txt"
PROGRAM = f"""
import sys
open({RAN!r}, "w").write("yes")
print("to stdout")
print("to stderr", file=sys.stderr)
kept = [bytearray(1000) for _ in range(100)]
raise SystemExit(int(sys.argv[1]) if len(sys.argv) > 1 else 0)
"""

GROWING = """
import time
kept = []
for i in range(60):
    kept.append(bytearray(20_000))
    time.sleep(0.01)
raise SystemExit({status})
"""

STEADY = """
import time
cache = [bytearray(20_000) for _ in range(20)]
for i in range(60):
    scratch = bytearray(20_000)
    time.sleep(0.01)
raise SystemExit({status})
"""


def leaktrace_cmd(tmp_path: Path, *args: str) -> subprocess.CompletedProcess[str]:
    return leaktrace_cli.run(*args, cwd=tmp_path, timeout=120)


@pytest.fixture
def program(tmp_path: Path) -> Path:
    path = tmp_path / "prog.py"
    path.write_text(textwrap.dedent(PROGRAM))
    return path


def _one_line_error(result: subprocess.CompletedProcess[str]) -> str:
    assert result.returncode == 2, (result.returncode, result.stderr)
    assert result.stdout == ""
    lines = result.stderr.splitlines()
    assert len(lines) == 1 and lines[0].startswith("leaktrace: error: "), result.stderr
    return lines[0]


@pytest.mark.parametrize(
    "output",
    ["missing-dir/x.ltc", "prog.py/x.ltc", "readonly/x.ltc"],
    ids=["missing directory", "under a file", "unwritable directory"],
)
def test_unwritable_capture_is_an_error_before_the_program_starts(
    tmp_path: Path, program: Path, output: str
) -> None:
    readonly = tmp_path / "readonly"
    readonly.mkdir()
    readonly.chmod(0o555)
    if os.geteuid() == 0 and output.startswith("readonly"):
        pytest.skip("root writes into read-only directories")
    result = leaktrace_cmd(tmp_path, "run", "-o", output, "prog.py")
    line = _one_line_error(result)
    assert output in line
    assert not (tmp_path / RAN).exists()  # the program never ran


def test_unwritable_capture_as_root_too(tmp_path: Path, program: Path) -> None:
    """/proc files cannot be created by anybody, root included."""
    result = leaktrace_cmd(tmp_path, "run", "-o", "/proc/leaktrace-test.ltc", "prog.py")
    _one_line_error(result)
    assert not (tmp_path / RAN).exists()


def test_existing_capture_is_kept_unless_forced(tmp_path: Path, program: Path) -> None:
    capture = tmp_path / "old.ltc"
    capture.write_bytes(b"precious")
    result = leaktrace_cmd(tmp_path, "run", "-o", "old.ltc", "prog.py")
    line = _one_line_error(result)
    assert "old.ltc" in line and "--force" in line
    assert capture.read_bytes() == b"precious"
    assert not (tmp_path / RAN).exists()
    for flag in ("-f", "--force"):
        capture.write_bytes(b"precious")
        result = leaktrace_cmd(tmp_path, "run", flag, "-q", "-o", "old.ltc", "prog.py")
        assert result.returncode == 0, result.stderr
        assert leaktrace.load(capture).complete
        (tmp_path / RAN).unlink()


def test_a_directory_is_not_overwritten_even_when_forced(tmp_path: Path, program: Path) -> None:
    (tmp_path / "out.ltc").mkdir()
    line = _one_line_error(leaktrace_cmd(tmp_path, "run", "-f", "-o", "out.ltc", "prog.py"))
    assert "out.ltc" in line and "directory" in line
    assert not (tmp_path / RAN).exists()


def test_json_report_to_a_file_leaves_the_programs_streams_alone(
    tmp_path: Path, program: Path
) -> None:
    plain = subprocess.run(
        [sys.executable, "prog.py", "5"], capture_output=True, text=True, cwd=tmp_path
    )
    result = leaktrace_cmd(
        tmp_path, "run", "-q", "--json-output", "report.json", "-o", "c.ltc", "prog.py", "5"
    )
    assert result.returncode == plain.returncode == 5
    assert result.stdout == plain.stdout
    assert result.stderr == plain.stderr
    doc = with_stacks(json.loads((tmp_path / "report.json").read_text()))
    assert doc["schema_version"] == 2
    assert doc["capture"] == str(tmp_path / "c.ltc")
    kept = [s for s in doc["leaks"] if s["stack"] and s["stack"][0]["line"] == 6]
    assert kept and kept[0]["count"] >= 100


def test_json_output_with_the_text_report(tmp_path: Path, program: Path) -> None:
    result = leaktrace_cmd(tmp_path, "run", "--json-output", "r.json", "-o", "c.ltc", "prog.py")
    assert result.returncode == 0
    assert "allocation sites still hold" in result.stderr  # the text report, as always
    assert '"schema_version"' not in result.stderr
    assert json.loads((tmp_path / "r.json").read_text())["leaks"]


def test_unwritable_json_output_is_an_error_before_the_program_starts(
    tmp_path: Path, program: Path
) -> None:
    result = leaktrace_cmd(tmp_path, "run", "--json-output", "nowhere/r.json", "prog.py")
    assert "nowhere/r.json" in _one_line_error(result)
    assert not (tmp_path / RAN).exists()


def _fail_on_leak(tmp_path: Path, source: str, status: int, *extra: str):
    (tmp_path / "p.py").write_text(textwrap.dedent(source.format(status=status)))
    return leaktrace_cmd(
        tmp_path, "run", "-f", "--fail-on-leak", "--interval", "0.05", "-o", "c.ltc", *extra,
        "p.py",
    )  # fmt: skip


def test_fail_on_leak_exits_3_when_a_site_is_leaking(tmp_path: Path) -> None:
    result = _fail_on_leak(tmp_path, GROWING, 0)
    assert result.returncode == 3, result.stderr
    assert "LEAKING" in result.stderr
    assert result.stderr.rstrip().splitlines()[-1].startswith("leaktrace: --fail-on-leak:")
    # Without the flag, the same run passes.
    plain = leaktrace_cmd(tmp_path, "run", "-f", "--interval", "0.05", "-o", "c.ltc", "p.py")
    assert plain.returncode == 0


def test_fail_on_leak_passes_a_program_that_plateaus(tmp_path: Path) -> None:
    result = _fail_on_leak(tmp_path, STEADY, 0)
    assert result.returncode == 0, result.stderr


def test_the_programs_own_failure_wins_over_fail_on_leak(tmp_path: Path) -> None:
    result = _fail_on_leak(tmp_path, GROWING, 7)
    assert result.returncode == 7


def test_fail_on_leak_with_quiet_and_json_output(tmp_path: Path) -> None:
    result = _fail_on_leak(tmp_path, GROWING, 0, "-q", "--json-output", "r.json")
    assert result.returncode == 3
    assert result.stderr.startswith("leaktrace: --fail-on-leak:")
    doc = json.loads((tmp_path / "r.json").read_text())
    assert any(s["growth"] and s["growth"]["class"] == "leaking" for s in doc["leaks"])


def test_fail_on_leak_is_in_the_help(tmp_path: Path) -> None:
    result = leaktrace_cmd(tmp_path, "run", "--help")
    assert "--fail-on-leak" in result.stdout and "exit status 3" in result.stdout
    assert "--json-output" in result.stdout and "--force" in result.stdout


@pytest.mark.parametrize(
    "text, expected",
    [
        ("1 MB", 1_000_000),
        ("1 MiB", 1_048_576),
        ("1MiB", 1_048_576),
        ("512 KiB", 524_288),
        ("512 kB", 512_000),
        ("2 KB", 2000),
        ("1.5 MiB", 1_572_864),
        ("4096", 4096),
    ],
)
def test_sizes_accept_both_spellings(
    tmp_path: Path, program: Path, text: str, expected: int
) -> None:
    assert leaktrace.parse_size(text) == expected
    result = leaktrace_cmd(tmp_path, "run", "-q", "--sample-bytes", text, "-o", "s.ltc", "prog.py")
    assert result.returncode == 0, result.stderr
    assert leaktrace.load(tmp_path / "s.ltc").sample_rate == expected


def test_bad_size_is_one_line(tmp_path: Path, program: Path) -> None:
    line = _one_line_error(leaktrace_cmd(tmp_path, "run", "--sample-bytes", "3 parsecs", "prog.py"))
    assert "3 parsecs" in line and "MiB" in line
    assert not (tmp_path / RAN).exists()


def test_reports_say_which_unit(tmp_path: Path, program: Path) -> None:
    result = leaktrace_cmd(tmp_path, "run", "--sample-bytes", "1 MB", "-o", "s.ltc", "prog.py")
    assert result.returncode == 0
    # 10^6 bytes is not a round binary size: the report spells it in KiB, never "MB".
    assert "SAMPLED every ~976.6 KiB" in result.stderr
    assert " MB" not in result.stderr and " KB" not in result.stderr
