"""pprof output carries a mapping for every location and the profile's start time and
duration; the real pprof (built by scripts/test.sh) reads it without a warning."""

from __future__ import annotations

import gzip
import os
import subprocess
import textwrap
from pathlib import Path

import leaktrace_cli
import pytest

import leaktrace

PROGRAM = """
import time
kept = [bytearray(5000) for _ in range(200)]
time.sleep(0.05)
"""


def _varint(data: bytes, i: int) -> tuple[int, int]:
    value = shift = 0
    while True:
        b = data[i]
        i += 1
        value |= (b & 0x7F) << shift
        shift += 7
        if b < 0x80:
            return value, i


def fields(data: bytes) -> list[tuple[int, int | bytes]]:
    """The (field number, value) pairs of one protobuf message."""
    out: list[tuple[int, int | bytes]] = []
    i = 0
    while i < len(data):
        key, i = _varint(data, i)
        number, wire = key >> 3, key & 7
        if wire == 0:
            value, i = _varint(data, i)
            out.append((number, value))
        elif wire == 2:
            size, i = _varint(data, i)
            out.append((number, data[i : i + size]))
            i += size
        else:
            raise AssertionError(f"unexpected wire type {wire}")
    return out


def _ints(message: bytes, number: int) -> list[int]:
    return [v for n, v in fields(message) if n == number and isinstance(v, int)]


def _messages(message: bytes, number: int) -> list[bytes]:
    return [v for n, v in fields(message) if n == number and isinstance(v, bytes)]


@pytest.fixture(scope="module")
def profile(tmp_path_factory: pytest.TempPathFactory) -> tuple[Path, Path, bytes]:
    tmp = tmp_path_factory.mktemp("pprof")
    (tmp / "prog.py").write_text(textwrap.dedent(PROGRAM))
    subprocess.run(
        [*leaktrace_cli.command(), "run", "-q", "-o", "p.ltc", "prog.py"],
        cwd=tmp, check=True, timeout=120,
    )  # fmt: skip
    subprocess.run(
        [*leaktrace_cli.command(), "report", "p.ltc", "--format", "pprof", "-o",
         "p.pb.gz"],
        cwd=tmp, check=True, timeout=120,
    )  # fmt: skip
    return tmp / "p.ltc", tmp / "p.pb.gz", gzip.decompress((tmp / "p.pb.gz").read_bytes())


def test_every_location_has_a_mapping(profile: tuple[Path, Path, bytes]) -> None:
    _, _, data = profile
    strings = [s.decode() for s in _messages(data, 6)]
    mappings = _messages(data, 3)
    assert mappings
    mapping_ids = set()
    for m in mappings:
        (mid,) = _ints(m, 1)
        mapping_ids.add(mid)
        (filename,) = _ints(m, 5)
        assert strings[filename]  # a file name pprof can show as the main binary
        assert _ints(m, 7) == [1]  # has_functions: the names are already there
    locations = _messages(data, 4)
    assert locations
    for loc in locations:
        assert _ints(loc, 2) and _ints(loc, 2)[0] in mapping_ids


def test_start_time_and_duration(profile: tuple[Path, Path, bytes]) -> None:
    capture_path, _, data = profile
    capture = leaktrace.load(capture_path)
    (time_nanos,) = _ints(data, 9)
    (duration,) = _ints(data, 10)
    assert duration == capture.stats["duration_ns"] > 0
    # The tracked process's start of tracking: a few seconds ago, never the epoch.
    started = os.path.getmtime(capture_path) * 1e9 - duration
    assert abs(time_nanos - started) < 30e9


def test_pprof_reads_it_without_warnings(profile: tuple[Path, Path, bytes]) -> None:
    pprof = os.environ.get("LEAKTRACE_PPROF", "")
    if not os.access(pprof, os.X_OK):
        pytest.fail("LEAKTRACE_PPROF is not set to pprof: scripts/test.sh builds it")
    result = subprocess.run(
        [pprof, "-top", str(profile[1])], capture_output=True, text=True, timeout=60
    )
    assert result.returncode == 0, result.stderr
    lines = (result.stdout + result.stderr).splitlines()
    assert not [line for line in lines if "not available" in line or "arning" in line], lines
    assert any("<module>" in line for line in lines)
    assert any(line.startswith("Time: ") for line in lines)
