"""Every command that reads capture files, fed every kind of bad file.

``READING_COMMANDS`` lists each command that reads captures, with the argument lists
to try; ``{}`` stands for the file under test and ``{valid}`` for a good capture (for
commands reading two files, such as a diff, each position gets the bad file in turn).
A new reading command must be added here: ``test_every_reading_command_is_listed``
fails until it is.

Each bad file must give exit status 2 and exactly one ``leaktrace: error:`` line on
stderr (no traceback, nothing on stdout), within a time limit and a memory limit
(RLIMIT_AS in the child). Inputs that stay well-formed by chance (a flipped bit inside
a string, say) may give a report instead, but a well-formed one. A cut file that still
holds a whole snapshot is a partial capture, as a killed process leaves: it must give
a well-formed report (exit 0) that says it is partial; a cut file without a whole
snapshot is an error. The inputs run
in-process in one worker per command (thousands take seconds); a few run as real
``python -m leaktrace`` processes too.
"""

from __future__ import annotations

import json
import os
import random
import resource
import subprocess
import sys
from dataclasses import dataclass
from pathlib import Path

import leaktrace_cli
import pytest
from capture_craft import (
    HEADER_SIZE,
    REC_END,
    REC_SNAPSHOT,
    REC_STRING,
    header,
    parse_records,
    read_varint,
    rebuild,
    record,
    varint,
    varints,
)

from leaktrace import cli

READING_COMMANDS: dict[str, list[list[str]]] = {
    "report": [
        ["report", "{}"],
        ["report", "--format", "json", "{}"],
        ["report", "--partial", "{}"],
        ["report", "--partial", "--format", "json", "--all", "{}"],
    ],
    "diff": [
        ["diff", "{}"],
        ["diff", "--format", "json", "{}"],
        ["diff", "{}", "{valid}"],
        ["diff", "--from", "-1", "--format", "json", "{}", "{valid}"],
    ],
}
# run starts a program (its bad input: test_bad_input.py); attach, snapshot and detach
# take a process id, not a file (their bad input: test_attach.py).
NOT_READING = {"run", "attach", "snapshot", "detach"}

FUZZ_REGRESSIONS = Path(__file__).resolve().parents[1] / "c" / "fuzz_regressions"
MEMORY_LIMIT = 1 << 30
CASE_SECONDS = 2.0
WORKER_TIMEOUT = 300
MUTATIONS = 150  # random mutations of a real capture, per argument list
SEED = 8

PROGRAM = """\
import json


class Registry:
    items = []


def remember(n):
    Registry.items.append({"id": n, "payload": bytearray(100 + n)})


for i in range(200):
    remember(i)
print(json.dumps(len(Registry.items)))
"""


def test_every_reading_command_is_listed() -> None:
    commands = {c.name for c in cli.COMMANDS}
    missing = commands - NOT_READING - set(READING_COMMANDS)
    assert not missing, f"add the new commands {missing} to READING_COMMANDS (or NOT_READING)"
    assert set(READING_COMMANDS) <= commands


# ---- inputs ----


def _snapshot_nsites(payload: bytes, nsites: int) -> bytes:
    pos, fields = 0, []
    for _ in range(7):
        value, pos = read_varint(payload, pos)
        fields.append(value)
    return varints(*fields[:6], nsites) + payload[pos:]


def bad_inputs(valid: bytes) -> dict[str, tuple[bytes, str]]:
    """name -> (file contents, "error", "partial" or "either")."""
    rng = random.Random(SEED)
    records = parse_records(valid)
    snap = next(i for i, r in enumerate(records) if r.rtype == REC_SNAPSHOT)
    string = next(i for i, r in enumerate(records) if r.rtype == REC_STRING)
    end = len(records) - 1
    inputs: dict[str, tuple[bytes, str]] = {
        "empty": (b"", "error"),
        "one byte": (valid[:1], "error"),
        "magic only": (valid[:8], "error"),
        "header only": (valid[:HEADER_SIZE], "error"),
        "random bytes": (rng.randbytes(4096), "error"),
        "random after a header": (header() + rng.randbytes(4096), "error"),
        "zeros after a header": (header() + bytes(4096), "error"),
        "0xff after a header": (header() + b"\xff" * 4096, "error"),
        "text": (b"leaktrace capture? no.\n" * 100, "error"),
        "major 3": (header(major=3) + valid[HEADER_SIZE:], "error"),
        "major 0": (header(major=0) + valid[HEADER_SIZE:], "error"),
        "major 0xffff": (header(major=0xFFFF) + valid[HEADER_SIZE:], "error"),
        "2^60 sites": (
            rebuild(
                valid,
                {snap: record(REC_SNAPSHOT, _snapshot_nsites(records[snap].payload, 1 << 60))},
            ),
            "error",
        ),
        "2^32 sites": (
            rebuild(
                valid,
                {snap: record(REC_SNAPSHOT, _snapshot_nsites(records[snap].payload, 1 << 32))},
            ),
            "error",
        ),
        "string of 2^62 bytes": (
            rebuild(valid, {string: bytes([REC_STRING]) + varint(1 << 62) + b"abc"}),
            "error",
        ),
        "END claiming 2^60": (
            rebuild(valid, {end: record(REC_END, varints(*[1 << 60] * 4))}),
            "error",
        ),
        "END twice": (valid + valid[records[end].offset :], "error"),
        "two captures end to end": (valid + valid, "error"),
        "cut in the END record": (valid[: records[end].offset + 1], "partial"),
        "cut in the first snapshot": (valid[: records[snap].offset + 3], "error"),
        "cut right after the first snapshot": (valid[: records[snap + 1].offset], "partial"),
        "random 1 MiB": (rng.randbytes(1 << 20), "error"),
    }
    # A cut keeps a whole snapshot when it falls after the first one's end.
    first_snapshot_end = records[snap + 1].offset
    cuts = rng.sample(range(HEADER_SIZE + 1, first_snapshot_end), 4)
    cuts += rng.sample(range(first_snapshot_end, len(valid) - 1), 4)
    for cut in sorted(cuts):
        inputs[f"truncated at {cut}"] = (
            valid[:cut],
            "partial" if cut >= first_snapshot_end else "error",
        )
    for k in range(8):
        data = bytearray(valid)
        for _ in range(1 + k):
            data[rng.randrange(HEADER_SIZE, len(data))] ^= 1 << rng.randrange(8)
        inputs[f"{1 + k} bits flipped"] = (bytes(data), "either")
    return inputs


def mutate(valid: bytes, rng: random.Random) -> bytes:
    """A random mutation of a real capture, as a dumb fuzzer would make."""
    data = bytearray(valid)
    for _ in range(rng.randrange(1, 6)):
        op = rng.randrange(6)
        at = rng.randrange(HEADER_SIZE, len(data)) if len(data) > HEADER_SIZE else HEADER_SIZE
        if op == 0:
            data[at : at + 1] = bytes([rng.randrange(256)])
        elif op == 1:
            del data[at : at + rng.randrange(1, 64)]
        elif op == 2:
            data[at:at] = rng.randbytes(rng.randrange(1, 64))
        elif op == 3:  # a chunk of the file copied elsewhere
            src = rng.randrange(HEADER_SIZE, len(valid))
            data[at:at] = valid[src : src + rng.randrange(1, 256)]
        elif op == 4:
            data[at:at] = varint(rng.choice([0, 1, 127, 128, 1 << 31, 1 << 32, (1 << 64) - 1]))
        else:
            del data[at:]
    return bytes(data)


# ---- running them ----

# Runs `leaktrace` in-process on each case; reads a JSON job; prints one JSON line per
# case, after a "start" line, so that a crash names the case that caused it.
_WORKER = r"""
import contextlib, io, json, os, sys, time, traceback
from leaktrace import cli

parsers = cli.build_parser()
cli.build_parser = lambda: parsers

job = json.load(open(sys.argv[1]))
for i, case in enumerate(job["cases"]):
    with open(job["path"], "wb") as f:
        f.write(bytes.fromhex(case["data"]))
    print(json.dumps({"start": i}), flush=True)
    out, err = io.StringIO(), io.StringIO()
    status = exc = None
    start = time.monotonic()
    try:
        with contextlib.redirect_stdout(out), contextlib.redirect_stderr(err):
            status = cli.main(case["argv"])
    except BaseException:
        exc = traceback.format_exc()
    print(json.dumps({"case": i, "status": status, "stdout": out.getvalue(),
                      "stderr": err.getvalue(), "exc": exc,
                      "seconds": time.monotonic() - start}), flush=True)
"""


@dataclass
class Case:
    label: str
    argv: list[str]
    data: bytes
    expect: str  # "error", "partial" (a report saying so) or "either"


def _limit_memory() -> None:
    resource.setrlimit(resource.RLIMIT_AS, (MEMORY_LIMIT, MEMORY_LIMIT))


def _preexec():
    # An ASan build reserves terabytes of address space up front.
    return None if "asan" in os.environ.get("LD_PRELOAD", "") else _limit_memory


def _well_formed(argv: list[str], stdout: str) -> bool:
    if "json" in argv:
        try:
            return isinstance(json.loads(stdout), dict)
        except ValueError:
            return False
    return stdout.startswith(("leaktrace: ", "leaktrace diff: ")) and stdout.endswith("\n")


def _says_partial(argv: list[str], stdout: str, stderr: str) -> bool:
    """The report (or its note on stderr) tells that the capture is partial."""
    if "partial capture" in stderr or stdout.startswith("leaktrace: PARTIAL capture"):
        return True
    return "json" in argv and json.loads(stdout).get("complete") is False


def problem(case: Case, result: dict) -> str | None:
    if result["exc"]:
        return f"raised:\n{result['exc'][-3000:]}"
    if result["seconds"] > CASE_SECONDS:
        return f"took {result['seconds']:.1f} s"
    status, stdout, stderr = result["status"], result["stdout"], result["stderr"]
    if "Traceback" in stderr:
        return f"traceback: {stderr[-2000:]}"
    if status == 2:
        lines = stderr.splitlines()
        if len(lines) != 1 or not lines[0].startswith("leaktrace: error: "):
            return f"not one error line: {stderr[:1000]!r}"
        if stdout:
            return f"an error, yet stdout has {stdout[:200]!r}"
        return None
    if status == 0 and case.expect in ("either", "partial"):
        notes = stderr.splitlines()
        if any(not n.startswith("leaktrace: note: ") or "partial capture" not in n for n in notes):
            return f"a report with stderr {stderr[:500]!r}"
        if not _well_formed(case.argv, stdout):
            return f"malformed report {stdout[:300]!r}"
        if case.expect == "partial" and not _says_partial(case.argv, stdout, stderr):
            return f"a partial capture read as whole: {stdout[:300]!r}"
        return None
    expected = {"error": "2", "partial": "0"}.get(case.expect, "0 or 2")
    return f"status {status!r} (expected {expected})"


def run_cases(tmp_path: Path, name: str, cases: list[Case]) -> None:
    bad = tmp_path / f"{name}.ltc"
    job = tmp_path / f"{name}.json"
    job.write_text(
        json.dumps(
            {
                "path": str(bad),
                "cases": [
                    {"argv": [str(bad) if a == "{}" else a for a in c.argv], "data": c.data.hex()}
                    for c in cases
                ],
            }
        )
    )
    try:
        proc = subprocess.run(
            [sys.executable, "-c", _WORKER, str(job)],
            capture_output=True,
            text=True,
            timeout=WORKER_TIMEOUT,
            preexec_fn=_preexec(),
        )
    except subprocess.TimeoutExpired as e:
        out = e.stdout.decode() if isinstance(e.stdout, bytes) else e.stdout or ""
        started = [json.loads(x)["start"] for x in out.splitlines() if x.startswith('{"start"')]
        pytest.fail(f"hung on {cases[started[-1]].label if started else '?'}")
    results, last = {}, None
    for line in proc.stdout.splitlines():
        item = json.loads(line)
        if "start" in item:
            last = item["start"]
        else:
            results[item["case"]] = item
    if proc.returncode != 0:
        culprit = cases[last].label if last is not None else "?"
        pytest.fail(f"worker died ({proc.returncode}) on {culprit}\n{proc.stderr[-4000:]}")
    problems = []
    for i, case in enumerate(cases):
        found = problem(case, results[i]) if i in results else "no result"
        if found:
            problems.append(f"{case.label} ({' '.join(case.argv)}): {found}")
    assert not problems, f"{len(problems)} of {len(cases)} mishandled:\n" + "\n".join(problems[:20])


@pytest.fixture(scope="module")
def valid_capture(tmp_path_factory: pytest.TempPathFactory) -> Path:
    workdir = tmp_path_factory.mktemp("reading")
    (workdir / "registry.py").write_text(PROGRAM)
    proc = subprocess.run(
        [*leaktrace_cli.command(), "run", "-q", "-o", "valid.ltc", "registry.py"],
        cwd=workdir,
        capture_output=True,
        text=True,
        timeout=120,
    )
    assert proc.returncode == 0, proc.stderr
    return workdir / "valid.ltc"


def placements(argv: list[str], valid: Path) -> list[list[str]]:
    """The argument list with the bad file at each "{}" in turn, {valid} elsewhere."""
    slots = [i for i, a in enumerate(argv) if a == "{}"]
    out = []
    for slot in slots:
        out.append(
            [
                "{}" if i == slot else (str(valid) if a in ("{}", "{valid}") else a)
                for i, a in enumerate(argv)
            ]
        )
    return out


@pytest.mark.parametrize("command", sorted(READING_COMMANDS))
def test_bad_files(tmp_path: Path, valid_capture: Path, command: str) -> None:
    valid = valid_capture.read_bytes()
    inputs = bad_inputs(valid)
    cases = []
    for template in READING_COMMANDS[command]:
        for argv in placements(template, valid_capture):
            for label, (data, expect) in inputs.items():
                cases.append(Case(label, argv, data, expect))
    run_cases(tmp_path, command, cases)


@pytest.mark.parametrize("command", sorted(READING_COMMANDS))
def test_random_mutations(tmp_path: Path, valid_capture: Path, command: str) -> None:
    valid = valid_capture.read_bytes()
    rng = random.Random(f"{SEED}-{command}")
    cases = [
        Case(f"mutation {k}", argv, mutate(valid, rng), "either")
        for template in READING_COMMANDS[command]
        for argv in placements(template, valid_capture)
        for k in range(MUTATIONS)
    ]
    run_cases(tmp_path, f"{command}-mutations", cases)


@pytest.mark.parametrize("command", sorted(READING_COMMANDS))
def test_fuzz_regressions(tmp_path: Path, valid_capture: Path, command: str) -> None:
    """Every input that once broke the reader (tests/c/fuzz_regressions), through the
    whole command, not only the C reader the fuzzer exercises."""
    files = sorted(FUZZ_REGRESSIONS.glob("*.ltc"))
    assert files, f"no regression inputs in {FUZZ_REGRESSIONS}"
    cases = [
        Case(f.name, argv, f.read_bytes(), "either")
        for f in files
        for template in READING_COMMANDS[command]
        for argv in placements(template, valid_capture)
    ]
    run_cases(tmp_path, f"{command}-regressions", cases)


@pytest.mark.parametrize("command", sorted(READING_COMMANDS))
@pytest.mark.parametrize("kind", ["empty", "random 1 MiB", "major 3", "2^60 sites"])
def test_real_process(tmp_path: Path, valid_capture: Path, command: str, kind: str) -> None:
    data, _ = bad_inputs(valid_capture.read_bytes())[kind]
    bad = tmp_path / "bad.ltc"
    bad.write_bytes(data)
    argv = [
        str(bad) if a == "{}" else a
        for a in placements(READING_COMMANDS[command][0], valid_capture)[0]
    ]
    proc = subprocess.run(
        [*leaktrace_cli.command(), *argv],
        capture_output=True,
        text=True,
        timeout=30,
        preexec_fn=_preexec(),
    )
    assert proc.returncode == 2, (proc.returncode, proc.stdout[:500], proc.stderr[-2000:])
    assert proc.stdout == ""
    lines = proc.stderr.splitlines()
    assert len(lines) == 1 and lines[0].startswith("leaktrace: error: "), proc.stderr[-2000:]
