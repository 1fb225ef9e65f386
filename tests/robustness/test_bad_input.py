"""Bad input to the ``leaktrace`` command: every mistake or corrupt file gets one line.

Whatever the user hands us - a missing or unreadable file, random bytes, a capture cut
at any byte, with any byte flipped, from a newer version, or lying about its counts -
``leaktrace`` must exit with status 2 and print exactly one line starting with
``leaktrace: error:`` on stderr: no traceback, no hang, no crash, and bounded memory.
A corrupted capture that still parses (a flip inside a string, say) may give a report
instead, but then a well-formed one.

Real subprocesses check a representative set; the byte-level sweeps call
``leaktrace.cli.main`` in ONE worker process (memory-limited, time-limited) so that
thousands of inputs take seconds.
"""

from __future__ import annotations

import json
import os
import random
import resource
import subprocess
import sys
import time
from collections.abc import Callable, Iterable
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import leaktrace_cli
import pytest
from capture_craft import (
    HEADER_SIZE,
    MAGIC,
    REC_END,
    REC_FRAME,
    REC_NODE,
    REC_SNAPSHOT,
    REC_STATS,
    REC_STRING,
    Record,
    header,
    parse_records,
    read_varint,
    rebuild,
    record,
    varint,
    varints,
)

MEMORY_LIMIT = 1 << 30  # address space of every command run here
COMMAND_TIMEOUT = 10  # seconds; each command is expected to take well under one
CASE_SECONDS = 2.0  # in-process, per corrupted input
SWEEP_TIMEOUT = 120

PROGRAM = """\
def remember(cache):
    cache.append(bytearray(1000))


cache = []
for _ in range(300):
    remember(cache)
"""


# ---- running the command ----


def _limit_memory() -> None:
    resource.setrlimit(resource.RLIMIT_AS, (MEMORY_LIMIT, MEMORY_LIMIT))


def _preexec() -> Callable[[], None] | None:
    # An ASan build of the engine reserves terabytes of address space up front.
    return None if "asan" in os.environ.get("LD_PRELOAD", "") else _limit_memory


def leaktrace(
    *args: str | os.PathLike[str], cwd: Path | None = None, timeout: float = COMMAND_TIMEOUT
) -> subprocess.CompletedProcess[str]:
    command = [*leaktrace_cli.command(), *map(str, args)]
    try:
        result = subprocess.run(
            command,
            capture_output=True,
            text=True,
            errors="replace",
            timeout=timeout,
            preexec_fn=_preexec(),
            cwd=cwd,
        )
    except subprocess.TimeoutExpired:
        hung = f"leaktrace {' '.join(command[3:])} hung (killed after {timeout} s)"
        pytest.fail(hung, pytrace=False)
    return result


def assert_one_line_error(result: subprocess.CompletedProcess[str], *needles: str) -> str:
    """Exit status 2, nothing on stdout, one `leaktrace: error:` line on stderr."""
    described = (
        f"command: {result.args}\nstatus: {result.returncode}\n"
        f"stdout: {result.stdout[:2000]!r}\nstderr: {result.stderr[-4000:]!r}"
    )
    assert "Traceback" not in result.stderr, described
    assert result.returncode == 2, described
    lines = result.stderr.splitlines()
    assert len(lines) == 1, described
    assert lines[0].startswith("leaktrace: error: "), described
    for needle in needles:
        assert needle in lines[0], f"{needle!r} missing\n{described}"
    assert result.stdout == "", described
    return lines[0]


# ---- crafting inputs (the format itself is in capture_craft) ----


def first_index(records: list[Record], rtype: int) -> int:
    return next(i for i, r in enumerate(records) if r.rtype == rtype)


def snapshot_with_sites(payload: bytes, nsites: int) -> bytes:
    """A snapshot payload whose site count is replaced (the sites stay as they were)."""
    pos = 0
    fields = []
    for _ in range(7):  # seq kind time_ns label heap_bytes heap_count nsites
        value, pos = read_varint(payload, pos)
        fields.append(value)
    return varints(*fields[:6], nsites) + payload[pos:]


# ---- fixtures ----


@pytest.fixture(scope="module")
def workdir(tmp_path_factory: pytest.TempPathFactory) -> Path:
    return tmp_path_factory.mktemp("bad_input")


@pytest.fixture(scope="module")
def capture(workdir: Path) -> bytes:
    """A small valid capture, written by `leaktrace run`."""
    (workdir / "small.py").write_text(PROGRAM)
    # One snapshot, the final one: the cuts below are placed by its records.
    result = leaktrace("run", "-q", "--no-snapshots", "-o", "small.ltc", "small.py", cwd=workdir)
    assert result.returncode == 0, result.stderr
    data = (workdir / "small.ltc").read_bytes()
    records = parse_records(data)
    assert records[-1].rtype == REC_END
    assert any(r.rtype == REC_SNAPSHOT for r in records)
    return data


@pytest.fixture(scope="module")
def capture_path(workdir: Path, capture: bytes) -> Path:
    path = workdir / "valid.ltc"
    path.write_bytes(capture)
    return path


def write(workdir: Path, name: str, data: bytes) -> Path:
    path = workdir / name
    path.write_bytes(data)
    return path


# ---- the report command, in subprocesses ----


def test_valid_capture_reports(capture_path: Path) -> None:
    # The baseline the corrupt variants are compared with.
    result = leaktrace("report", capture_path)
    assert result.returncode == 0, result.stderr
    assert result.stderr == ""
    assert "allocation sites still hold" in result.stdout
    assert "PARTIAL" not in result.stdout


def test_missing_file(workdir: Path) -> None:
    assert_one_line_error(leaktrace("report", workdir / "nope.ltc"), "No such file")


def test_directory(workdir: Path) -> None:
    assert_one_line_error(leaktrace("report", workdir), "not a regular file")


def test_empty_file(workdir: Path) -> None:
    assert_one_line_error(leaktrace("report", write(workdir, "empty.ltc", b"")), "empty")


def test_random_bytes(workdir: Path) -> None:
    path = write(workdir, "random.ltc", random.Random(1).randbytes(4096))
    assert_one_line_error(leaktrace("report", path), "not a leaktrace capture")


def test_random_bytes_after_a_valid_header(workdir: Path) -> None:
    rng = random.Random(7)
    for i in range(5):
        data = header() + bytes(rng.randrange(256) for _ in range(2000))
        result = leaktrace("report", write(workdir, f"random-{i}.ltc", data))
        assert_one_line_error(result)


def test_text_file(workdir: Path) -> None:
    path = write(workdir, "notes.txt", b"these are not the bytes you are looking for\n" * 50)
    assert_one_line_error(leaktrace("report", path), "not a leaktrace capture")


def test_fifo_does_not_hang(workdir: Path) -> None:
    # Opening a FIFO for reading blocks until a writer comes: the reader must not
    # open (or must not wait on) anything that is not a regular file.
    path = workdir / "fifo.ltc"
    os.mkfifo(path)
    assert_one_line_error(leaktrace("report", path, timeout=5), "not a regular file")


def test_truncated(workdir: Path, capture: bytes) -> None:
    """A capture cut after its last snapshot is reported without --partial, marked so."""
    end = parse_records(capture)[-1]
    path = write(workdir, "truncated.ltc", capture[: end.offset + 2])
    result = leaktrace("report", path)
    assert result.returncode == 0, result.stderr
    assert result.stdout.startswith(
        f"leaktrace: PARTIAL capture: it ends at byte {end.offset} of {end.offset + 2}; "
        "showing its last snapshot (#0, taken "
    ), result.stdout


def test_partial_report(workdir: Path, capture: bytes) -> None:
    """A capture whose process died after its last snapshot: --partial reports it."""
    records = parse_records(capture)
    cut = records[-1].offset + 1  # the END record is cut
    path = write(workdir, "partial.ltc", capture[:cut])
    result = leaktrace("report", "--partial", path)
    assert result.returncode == 0, result.stderr
    assert result.stderr == ""
    assert result.stdout.startswith("leaktrace: PARTIAL capture"), result.stdout
    assert f"ends at byte {records[-1].offset} of {cut}" in result.stdout
    assert "allocation sites still hold" in result.stdout
    # The same in JSON, which says it is not complete.
    result = leaktrace("report", "--partial", "--format", "json", path)
    assert result.returncode == 0, result.stderr
    assert json.loads(result.stdout)["complete"] is False


def test_partial_without_a_snapshot(workdir: Path, capture: bytes) -> None:
    records = parse_records(capture)
    snapshot = records[first_index(records, REC_SNAPSHOT)]
    path = write(workdir, "no-snapshot.ltc", capture[: snapshot.offset + 3])
    assert_one_line_error(leaktrace("report", "--partial", path), "no snapshot")


def test_flipped_byte(workdir: Path, capture: bytes) -> None:
    # The type byte of the first record becomes one no reader knows.
    data = bytearray(capture)
    data[HEADER_SIZE] = 0x3F
    path = write(workdir, "flipped.ltc", bytes(data))
    assert_one_line_error(leaktrace("report", path), "record type 0x3f", "newer version")


def test_newer_major_version(workdir: Path, capture: bytes) -> None:
    path = write(workdir, "v3.ltc", header(major=3) + capture[HEADER_SIZE:])
    assert_one_line_error(
        leaktrace("report", path), "capture format version 3 is newer", "upgrade leaktrace"
    )


def test_version_zero(workdir: Path, capture: bytes) -> None:
    path = write(workdir, "v0.ltc", header(major=0) + capture[HEADER_SIZE:])
    assert_one_line_error(leaktrace("report", path), "invalid format version 0")


def test_absurd_site_count(workdir: Path, capture: bytes) -> None:
    """A snapshot claiming 2^60 sites must be rejected, not allocated for."""
    records = parse_records(capture)
    i = first_index(records, REC_SNAPSHOT)
    payload = snapshot_with_sites(records[i].payload, 1 << 60)
    data = rebuild(capture, {i: record(REC_SNAPSHOT, payload)})
    start = time.monotonic()
    result = leaktrace("report", write(workdir, "absurd.ltc", data))
    assert_one_line_error(result, "corrupt capture", "invalid snapshot record")
    assert time.monotonic() - start < 10


def test_absurd_record_length(workdir: Path, capture: bytes) -> None:
    # A string record claiming 2^62 bytes, in the middle of the file: a cut record.
    records = parse_records(capture)
    i = first_index(records, REC_STRING)
    data = rebuild(capture, {i: bytes([REC_STRING]) + varint(1 << 62) + b"abc"})
    assert_one_line_error(leaktrace("report", write(workdir, "long.ltc", data)), "truncated")


def test_output_to_missing_directory(capture_path: Path) -> None:
    result = leaktrace("report", capture_path, "-o", "/nonexistent-dir/x.json")
    assert_one_line_error(result, "cannot write /nonexistent-dir/x.json")


def test_unknown_report_option(capture_path: Path) -> None:
    assert_one_line_error(leaktrace("report", "--bogus", capture_path), "--bogus")


def test_frame_file_with_nul_byte(workdir: Path, capture: bytes) -> None:
    """A file name with a NUL in it (a corrupt capture, or a program that built a code
    object with such a co_filename): the report must not trip over the source lookup."""
    records = parse_records(capture)
    i = next(
        i
        for i, r in enumerate(records)
        if r.rtype == REC_STRING and r.payload.endswith(b"small.py")
    )
    name = records[i].payload
    bad = name[:-4] + b"\0" + name[-3:]
    data = rebuild(capture, {i: record(REC_STRING, bad)})
    result = leaktrace("report", write(workdir, "nul.ltc", data))
    assert "Traceback" not in result.stderr, result.stderr
    if result.returncode == 0:
        assert "allocation sites still hold" in result.stdout
    else:
        assert_one_line_error(result)


# ---- the run command ----


def test_run_missing_script(workdir: Path) -> None:
    result = leaktrace("run", "-q", "-o", "x.ltc", "no_such_script.py", cwd=workdir)
    assert_one_line_error(result, "no_such_script.py")
    assert not (workdir / "x.ltc").exists()


def test_run_directory(workdir: Path, tmp_path: Path) -> None:
    result = leaktrace("run", "-q", "-o", "x.ltc", str(tmp_path), cwd=workdir)
    assert_one_line_error(result, "directory")


def test_run_syntax_error(workdir: Path, tmp_path: Path) -> None:
    script = tmp_path / "broken.py"
    script.write_text("def broken(:\n    pass\n")
    output = tmp_path / "broken.ltc"
    result = leaktrace("run", "-q", "-o", output, script, cwd=workdir)
    assert_one_line_error(result, "broken.py", "does not compile")
    assert not output.exists()


def test_run_missing_module(workdir: Path) -> None:
    result = leaktrace("run", "-q", "-o", "x.ltc", "-m", "no_such_module_xyz", cwd=workdir)
    assert_one_line_error(result, "no_such_module_xyz")


@pytest.mark.parametrize("depth", ["0", "-1", "100000", "many"])
def test_run_bad_depth(workdir: Path, depth: str) -> None:
    result = leaktrace("run", "-q", "--depth", depth, "small.py", cwd=workdir)
    assert_one_line_error(result, "--depth")


def test_run_unknown_option(workdir: Path) -> None:
    result = leaktrace("run", "--bogus", "small.py", cwd=workdir)
    assert_one_line_error(result, "--bogus")


def test_run_without_target(workdir: Path) -> None:
    assert_one_line_error(leaktrace("run", "-q", cwd=workdir))
    assert_one_line_error(leaktrace("run", "-m", cwd=workdir))


# ---- byte-level sweeps, in one worker process ----

# Runs `leaktrace report` in-process on variants of one capture. Reads a JSON job
# from argv[1]; prints one JSON line per case (a "start" line first, so that a crash
# of the process names the case that caused it).
_WORKER = r"""
import contextlib, io, json, os, sys, time, traceback
from leaktrace import cli

# Building the parser costs more than reading a small capture: build it once.
parsers = cli.build_parser()
cli.build_parser = lambda: parsers

job = json.load(open(sys.argv[1]))
base = open(job["base"], "rb").read()
path = job["path"]
# Rewritten in place: creating a file per case costs more than the case.
fd = os.open(path, os.O_RDWR | os.O_CREAT | os.O_TRUNC, 0o644)
for i, case in enumerate(job["cases"]):
    data = bytearray(bytes.fromhex(case["data"])) if "data" in case else bytearray(base)
    if "cut" in case:
        del data[case["cut"]:]
    if "xor" in case:
        data[case["at"]] ^= case["xor"]
    if "set" in case:
        data[case["at"]] = case["set"]
    # (Write, then cut to size: truncating to zero first makes ext4 flush on close.)
    os.pwrite(fd, data, 0)
    os.ftruncate(fd, len(data))
    print(json.dumps({"start": i}), flush=True)
    out, err = io.StringIO(), io.StringIO()
    status, exc = None, None
    start = time.monotonic()
    try:
        with contextlib.redirect_stdout(out), contextlib.redirect_stderr(err):
            status = cli.main(["report", *case["args"], path])
    except BaseException:
        exc = traceback.format_exc()
    print(json.dumps({"case": i, "status": status, "stdout": out.getvalue(),
                      "stderr": err.getvalue(), "exc": exc,
                      "seconds": time.monotonic() - start}), flush=True)
"""


@dataclass
class Case:
    label: str
    args: list[str]
    # The expected outcome: "error" (status 2), "report" (status 0), or "either".
    expect: str
    needle: str = ""  # in the error line, when an error is expected
    cut: int | None = None
    at: int | None = None
    xor: int | None = None
    set: int | None = None
    data: bytes | None = None

    def job(self) -> dict[str, Any]:
        job: dict[str, Any] = {"args": self.args}
        for key in ("cut", "at", "xor", "set"):
            if getattr(self, key) is not None:
                job[key] = getattr(self, key)
        if self.data is not None:
            job["data"] = self.data.hex()
        return job


def _well_formed_report(args: list[str], stdout: str) -> bool:
    if "json" in args:
        try:
            doc = json.loads(stdout)
        except ValueError:
            return False
        return isinstance(doc, dict) and isinstance(doc.get("leaks"), list)
    lines = stdout.splitlines()
    return (
        bool(lines)
        and stdout.endswith("\n")
        and all(line.startswith("leaktrace: ") for line in lines[:1])
        and "allocation sites still hold" in stdout
    )


def _problem(case: Case, result: dict[str, Any]) -> str | None:
    """What is wrong with one in-process outcome, or None."""
    if result["exc"]:
        return f"raised:\n{result['exc']}"
    if result["seconds"] > CASE_SECONDS:
        return f"took {result['seconds']:.1f} s"
    status, stdout, stderr = result["status"], result["stdout"], result["stderr"]
    if "Traceback" in stderr:
        return f"traceback on stderr: {stderr[-2000:]}"
    if status == 2:
        if case.expect == "report":
            return f"status 2, expected a report: {stderr!r}"
        lines = stderr.splitlines()
        if len(lines) != 1 or not lines[0].startswith("leaktrace: error: "):
            return f"not one error line: {stderr!r}"
        if case.needle not in lines[0]:
            return f"error lacks {case.needle!r}: {lines[0]!r}"
        if stdout:
            return f"error, yet stdout has {stdout[:200]!r}"
        return None
    if status == 0:
        if case.expect == "error":
            return f"status 0, expected an error (stdout {stdout[:200]!r})"
        if stderr:
            return f"report with stderr {stderr!r}"
        if not _well_formed_report(case.args, stdout):
            return f"malformed report: {stdout[:500]!r}"
        if case.cut is not None:
            says_partial = (
                json.loads(stdout)["complete"] is False
                if "json" in case.args
                else stdout.startswith("leaktrace: PARTIAL capture")
            )
            if not says_partial:
                return "partial report that does not say so"
        return None
    return f"status {status!r}"


def run_sweep(workdir: Path, base: bytes, cases: list[Case], name: str) -> None:
    """Runs the cases in one worker; fails listing every case that went wrong."""
    base_path = write(workdir, f"{name}-base.ltc", base)
    job_path = workdir / f"{name}-job.json"
    job_path.write_text(
        json.dumps(
            {
                "base": str(base_path),
                "path": str(workdir / f"{name}-case.ltc"),
                "cases": [c.job() for c in cases],
            }
        )
    )
    try:
        proc = subprocess.run(
            [sys.executable, "-c", _WORKER, str(job_path)],
            capture_output=True,
            text=True,
            errors="replace",
            timeout=SWEEP_TIMEOUT,
            preexec_fn=_preexec(),
        )
    except subprocess.TimeoutExpired as e:
        out = e.stdout or b""
        out = out.decode(errors="replace") if isinstance(out, bytes) else out
        started = [json.loads(line) for line in out.splitlines() if line.startswith('{"start"')]
        last = started[-1].get("start") if started else None
        hung = cases[last].label if last is not None else "?"
        pytest.fail(f"sweep {name} hung; last case started: {hung}")
    results: dict[int, dict[str, Any]] = {}
    last_started = None
    for line in proc.stdout.splitlines():
        item = json.loads(line)
        if "start" in item:
            last_started = item["start"]
        else:
            results[item["case"]] = item
    if proc.returncode != 0:
        culprit = cases[last_started].label if last_started is not None else "?"
        pytest.fail(
            f"sweep worker died with status {proc.returncode} on case {culprit}\n"
            f"{proc.stderr[-4000:]}"
        )
    problems = []
    for i, case in enumerate(cases):
        problem = _problem(case, results[i]) if i in results else "no result"
        if problem:
            problems.append(f"{case.label} {' '.join(case.args)}: {problem}")
    assert not problems, f"{len(problems)} of {len(cases)} inputs mishandled:\n" + "\n".join(
        problems[:25]
    )


def _cut_offsets(capture: bytes) -> list[int]:
    """Every offset of the first 64 bytes, then a stride, plus each record boundary and
    its neighbours."""
    size = len(capture)
    offsets = set(range(min(64, size)))
    offsets.update(range(64, size, max(1, (size - 64) // 250)))
    for rec in parse_records(capture):
        offsets.update({rec.offset - 1, rec.offset, rec.offset + 1, rec.end - 1})
    return sorted(o for o in offsets if 0 <= o < size)


def _cut_needle(offset: int) -> str:
    if offset == 0:
        return "empty"
    if offset < len(MAGIC):
        return "bad magic"
    if offset < HEADER_SIZE:
        return "ends inside its header"
    return "truncated capture"


def test_truncated_everywhere(workdir: Path, capture: bytes) -> None:
    """Without --partial too, a cut capture is reported when it keeps a whole snapshot."""
    first_snapshot_end = parse_records(capture)[
        first_index(parse_records(capture), REC_SNAPSHOT)
    ].end
    cases = []
    for n in _cut_offsets(capture):
        if n >= first_snapshot_end:
            cases.append(Case(f"cut at {n}", [], "report", cut=n))
        else:
            needle = _cut_needle(n) if n < HEADER_SIZE else "no snapshot"
            cases.append(Case(f"cut at {n}", [], "error", needle, cut=n))
    run_sweep(workdir, capture, cases, "cut")


def test_truncated_everywhere_partial(workdir: Path, capture: bytes) -> None:
    """--partial reports whatever cut keeps a whole snapshot, and refuses the rest."""
    records = parse_records(capture)
    first_snapshot_end = records[first_index(records, REC_SNAPSHOT)].end
    cases = []
    for n in _cut_offsets(capture):
        if n >= first_snapshot_end:
            cases.append(Case(f"cut at {n}", ["--partial"], "report", cut=n))
        else:
            needle = _cut_needle(n) if n < HEADER_SIZE else "no snapshot"
            cases.append(Case(f"cut at {n}", ["--partial"], "error", needle, cut=n))
    # And in JSON, at a few places.
    for n in (first_snapshot_end, records[-1].offset, len(capture) - 1):
        cases.append(Case(f"cut at {n}", ["--partial", "--format", "json"], "report", cut=n))
    run_sweep(workdir, capture, cases, "partial")


def test_flipped_everywhere(workdir: Path, capture: bytes) -> None:
    """Every byte, flipped three ways: an error line, or a well-formed report."""
    cases = []
    for at in range(len(capture)):
        for mask in (0x01, 0x80, 0xFF):
            expect = "error" if at < len(MAGIC) else "either"
            needle = "bad magic" if at < len(MAGIC) else ""
            cases.append(Case(f"byte {at} ^ {mask:#04x}", [], expect, needle, at=at, xor=mask))
    # Some in JSON too: the JSON renderer reads other fields than the text one.
    for at in range(HEADER_SIZE, len(capture), 3):
        cases.append(Case(f"byte {at} ^ 0x04", ["--format", "json"], "either", at=at, xor=4))
    run_sweep(workdir, capture, cases, "flip")


def _crafted(capture: bytes) -> Iterable[Case]:
    """Hand-made captures that lie about their sizes and counts."""
    records = parse_records(capture)
    snap = first_index(records, REC_SNAPSHOT)
    stats = first_index(records, REC_STATS)
    end = len(records) - 1
    snapshot = records[snap].payload
    for nsites in (1 << 60, (1 << 64) - 1, 1 << 32, 10**6):
        data = rebuild(capture, {snap: record(REC_SNAPSHOT, snapshot_with_sites(snapshot, nsites))})
        yield Case(f"snapshot of {nsites} sites", [], "error", "invalid snapshot record", data=data)
    data = rebuild(capture, {stats: record(REC_STATS, varints(1 << 60, 1, 2, 3))})
    yield Case("stats of 2^60 fields", [], "error", "invalid stats record", data=data)
    data = rebuild(capture, {end: record(REC_END, varints(1 << 60, 1 << 60, 1 << 60, 1 << 60))})
    yield Case("end claiming 2^60 of all", [], "error", "does not match", data=data)
    for length in (1 << 62, (1 << 64) - 1, len(capture)):
        data = rebuild(capture, {1: bytes([REC_STRING]) + varint(length) + b"xyz"})
        yield Case(f"record of {length} bytes", [], "error", "truncated", data=data)
    data = rebuild(capture, {1: bytes([REC_STRING]) + b"\xff" * 11 + b"\x01" + b"z" * 16})
    yield Case("eleven-byte record length", [], "error", "bad record length", data=data)
    # Nodes and frames pointing forward, at themselves, or far away.
    node = first_index(records, REC_NODE)
    for parent, frame in ((node + 5, 0), (1 << 31, 0), (0, 1 << 40), (0, (1 << 32) - 1)):
        data = rebuild(capture, {node: record(REC_NODE, varints(parent, frame))})
        yield Case(f"node ({parent}, {frame})", [], "error", "invalid node record", data=data)
    frame = first_index(records, REC_FRAME)
    data = rebuild(capture, {frame: record(REC_FRAME, varints(1 << 33, 0, 0))})
    yield Case("frame of string 2^33", [], "error", "invalid frame record", data=data)
    # A huge count in a tiny file, no other records.
    tiny = header() + record(REC_SNAPSHOT, varints(0, 2, 0, 0, 0, 0, 1 << 60) + bytes(8))
    yield Case("tiny snapshot of 2^60 sites", [], "error", "invalid snapshot record", data=tiny)
    # Everything valid but no snapshot at all.
    nothing = header() + record(REC_END, varints(0, 0, 1, 0))
    yield Case("complete, no snapshot", [], "error", "no snapshot", data=nothing)
    # A newer major version, through the same path.
    yield Case("major 3", [], "error", "newer", data=header(3) + capture[HEADER_SIZE:])
    yield Case("major 0xffff", [], "error", "newer", data=header(0xFFFF) + capture[HEADER_SIZE:])


def test_crafted_counts(workdir: Path, capture: bytes) -> None:
    run_sweep(workdir, capture, list(_crafted(capture)), "crafted")
