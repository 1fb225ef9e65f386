"""pprof, folded stacks and speedscope, checked exactly on a crafted capture; pprof by
the real pprof tool. The streaming analyzer against the whole-file reader."""

from __future__ import annotations

import gzip
import json
import os
import pty
import subprocess
import sys
from pathlib import Path

import pytest
from capture_craft import record
from leaktrace_cli import run as leaktrace
from report_support import pprof_binary, sample_capture, sample_parts, site_stack, with_stacks

from leaktrace import _core
from leaktrace.reports import export
from leaktrace.reports.pprof import encode_profile, varint


def pprof(*args: object) -> str:
    result = subprocess.run(
        [pprof_binary(), *map(str, args)], capture_output=True, text=True, timeout=60
    )
    assert result.returncode == 0, result.stderr
    return result.stdout


@pytest.fixture
def sample(tmp_path: Path) -> Path:
    path = tmp_path / "sample.ltc"
    path.write_bytes(sample_capture())
    return path


# ---- pprof ----


def test_varint() -> None:
    assert varint(0) == b"\x00"
    assert varint(127) == b"\x7f"
    assert varint(300) == b"\xac\x02"
    assert varint(-1) == b"\xff" * 9 + b"\x01"


def test_pprof_raw_samples(sample: Path, tmp_path: Path) -> None:
    out = tmp_path / "sample.pb.gz"
    result = leaktrace("report", sample, "--format", "pprof", "-o", out)
    assert result.returncode == 0, result.stderr
    assert result.stderr == ""
    assert out.read_bytes()[:2] == b"\x1f\x8b"  # gzip
    raw = pprof("-raw", out)
    samples = raw.split("Samples:\n", 1)[1].split("Locations\n", 1)[0]
    # Each sample's growth verdict is a label (the sample has 1 snapshot: insufficient).
    labels = [line for line in samples.splitlines() if line.strip().startswith("growth:")]
    assert labels == ["                growth:[insufficient]"] * 3
    assert [line for line in samples.splitlines() if line not in labels] == [
        "alloc_objects/count alloc_space/bytes inuse_objects/count inuse_space/bytes[dflt]",
        "          4       2600          3       2000: 1 2 3 ",
        "          5       6000          1       1500: 4 2 3 ",
        "          1        100          1        100: 5 6 ",
    ]
    locations = raw.split("Locations\n", 1)[1].split("Mappings\n", 1)[0].splitlines()
    names = [line.split("M=1 ", 1)[1].split(" s=")[0] for line in locations]
    assert names == [
        "work /app/b.py:7",
        "main /app/a.py:5",
        "<module> /app/a.py:10",
        "handle /app/a.py:20",
        "deep /app/c.py:3",
        "[truncated] :0",
    ]
    assert "Duration: 2.5s" in raw


def _top_rows(text: str) -> list[list[str]]:
    lines = text.split("flat  flat%   sum%        cum   cum%\n", 1)[1].splitlines()
    return [line.split() for line in lines]


def test_pprof_top_every_sample_type(sample: Path, tmp_path: Path) -> None:
    out = tmp_path / "sample.pb.gz"
    assert leaktrace("report", sample, "--format", "pprof", "-o", out).returncode == 0
    top = pprof("-top", out)
    assert "Type: inuse_space" in top and "Total samples = 3600B" in top
    assert _top_rows(top)[:3] == [
        ["2000B", "55.56%", "55.56%", "2000B", "55.56%", "work"],
        ["1500B", "41.67%", "97.22%", "1500B", "41.67%", "handle"],
        ["100B", "2.78%", "100%", "100B", "2.78%", "deep"],
    ]
    assert ["0", "0%", "100%", "3500B", "97.22%", "main"] in _top_rows(top)
    alloc = pprof("-top", "-sample_index=alloc_space", out)
    assert "Total samples = 8700B" in alloc
    assert _top_rows(alloc)[0] == ["6000B", "68.97%", "68.97%", "6000B", "68.97%", "handle"]
    objects = pprof("-top", "-sample_index=inuse_objects", out)
    assert "Total samples = 5" in objects
    assert _top_rows(objects)[0] == ["3", "60.00%", "60.00%", "3", "60.00%", "work"]
    alloc_objects = pprof("-top", "-sample_index=alloc_objects", out)
    assert _top_rows(alloc_objects)[0] == ["5", "50.00%", "50.00%", "5", "50.00%", "handle"]


def _raw_samples(raw: str) -> list[tuple[list[int], list[str]]]:
    """(values, leaf-first location names) of every sample in `pprof -raw` output."""
    samples = raw.split("Samples:\n", 1)[1].split("Locations\n", 1)[0].splitlines()[1:]
    locations = {}
    for line in raw.split("Locations\n", 1)[1].split("Mappings\n", 1)[0].splitlines():
        number, rest = line.split(":", 1)
        locations[number.strip()] = rest.split("M=1 ", 1)[1].split(" s=")[0]
    parsed = []
    for line in samples:
        if line.strip().startswith("growth"):  # the verdict's labels
            continue
        values, ids = line.split(":")
        parsed.append(([int(v) for v in values.split()], [locations[i] for i in ids.split()]))
    return parsed


def test_pprof_of_a_real_program(tmp_path: Path) -> None:
    """A program that leaks at one line: pprof shows that line with exactly the bytes
    and blocks of leaktrace's own JSON report."""
    program = tmp_path / "leaky.py"
    program.write_text(
        "kept = []\n"
        "def leak():\n"
        "    for _ in range(100):\n"
        "        kept.append(bytearray(10000))\n"
        "leak()\n"
    )
    capture = tmp_path / "leaky.ltc"
    result = leaktrace("run", "-q", "-o", capture, program)
    assert result.returncode == 0, result.stderr
    report = with_stacks(json.loads(leaktrace("report", capture, "--format", "json").stdout))
    site = next(s for s in report["leaks"] if s["stack"][0]["line"] == 4)
    assert site["bytes"] > 100 * 10000
    out = tmp_path / "leaky.pb.gz"
    assert leaktrace("report", capture, "--format", "pprof", "-o", out).returncode == 0
    at_line = [
        values
        for values, names in _raw_samples(pprof("-raw", out))
        if names[:2] == [f"leak {program}:4", f"<module> {program}:5"]
    ]
    assert len(at_line) == 1
    alloc_objects, alloc_space, inuse_objects, inuse_space = at_line[0]
    assert (inuse_space, inuse_objects) == (site["bytes"], site["count"])
    assert (alloc_space, alloc_objects) == (site["allocated_bytes"], site["allocations"])
    top = pprof("-top", "-lines", "-sample_index=inuse_objects", out)
    rows = [row for row in _top_rows(top) if row[-2:] == ["leak", f"{program}:4"]]
    assert rows[0][0] == str(site["count"])  # flat objects at that line


def test_pprof_default_is_inuse_space_and_deterministic(sample: Path) -> None:
    _, first = export(sample, "pprof")
    _, second = export(sample, "pprof")
    assert first == second  # no timestamp in the gzip header
    message = gzip.decompress(first)
    profile, _ = export(sample, "collapsed")
    assert message == encode_profile(profile)


# ---- JSON: the frame table (schema version 2) ----


def test_json_frame_table(sample: Path) -> None:
    result = leaktrace("report", sample, "--format", "json")
    assert result.returncode == 0, result.stderr
    doc = json.loads(result.stdout)
    assert doc["schema_version"] == 2
    # Each distinct frame once, in the order the leak list's stacks first use them.
    frame = lambda function, file, line: {  # noqa: E731
        "function": function, "file": file, "line": line, "kind": "python"
    }  # fmt: skip
    assert doc["frames"] == [
        frame("work", "/app/b.py", 7),
        frame("main", "/app/a.py", 5),
        frame("<module>", "/app/a.py", 10),
        frame("handle", "/app/a.py", 20),
        frame("deep", "/app/c.py", 3),
    ]
    # The truncation marker is no frame: the site says truncated instead.
    assert [(s["stack"], s["truncated"]) for s in doc["leaks"]] == [
        ([0, 1, 2], False),
        ([3, 1, 2], False),
        ([4], True),
    ]
    # Resolved, the stacks are the text report's, frame for frame.
    text = leaktrace("report", sample).stdout
    shown = [
        [line.strip() for line in block.splitlines() if " in " in line and ":" in line]
        for block in text.split("\n\n")[1:]
    ]
    resolved = [
        [f"{f['file']}:{f['line']} in {f['function']}" for f in site_stack(doc, s)]
        for s in doc["leaks"]
    ]
    assert resolved == shown


# ---- folded stacks ----


def test_collapsed(sample: Path) -> None:
    result = leaktrace("report", sample, "--format", "collapsed")
    assert result.returncode == 0, result.stderr
    assert result.stdout == (
        "<module> (/app/a.py:10);main (/app/a.py:5);work (/app/b.py:7) 2000\n"
        "<module> (/app/a.py:10);main (/app/a.py:5);handle (/app/a.py:20) 1500\n"
        "[truncated];deep (/app/c.py:3) 100\n"
    )


# ---- speedscope ----


def test_speedscope(sample: Path) -> None:
    result = leaktrace("report", sample, "--format", "speedscope")
    assert result.returncode == 0, result.stderr
    doc = json.loads(result.stdout)
    assert doc["$schema"] == "https://www.speedscope.app/file-format-schema.json"
    assert doc["shared"]["frames"] == [
        {"name": "<module>", "file": "/app/a.py", "line": 10},
        {"name": "main", "file": "/app/a.py", "line": 5},
        {"name": "work", "file": "/app/b.py", "line": 7},
        {"name": "handle", "file": "/app/a.py", "line": 20},
        {"name": "[truncated]"},
        {"name": "deep", "file": "/app/c.py", "line": 3},
    ]
    leaked, peak, allocated = doc["profiles"]
    assert leaked == {
        "type": "sampled",
        "name": "leaked: alive at snapshot #1",
        "unit": "bytes",
        "startValue": 0,
        "endValue": 3600,
        "samples": [[0, 1, 2], [0, 1, 3], [4, 5]],
        "weights": [2000, 1500, 100],
    }
    assert peak["name"] == "peak: alive at snapshot #0 (1.000 s)"
    assert (peak["samples"], peak["weights"], peak["endValue"]) == (
        [[0, 1, 2], [0, 1, 3]],
        [2000, 4000],
        6000,
    )
    assert (allocated["weights"], allocated["endValue"]) == ([2600, 6000, 100], 8700)
    assert doc["activeProfileIndex"] == 0


# ---- the analyzer ----


def test_analyzer_keeps_last_and_peak(sample: Path) -> None:
    data = _core.read(str(sample), raw_snapshot=-1)
    assert data["complete"] is True
    assert data["snapshots"] == [
        (0, 1, 1_000_000_000, "warm", 6000, 5, None),  # no RSS recorded
        (1, 2, 2_000_000_000, None, 3600, 5, None),
    ]
    assert data["native_maps"] == []
    assert data["peak_index"] == 0
    assert _raw(data) == [(3, 1, 1500, 5, 6000), (4, 3, 2000, 4, 2600), (6, 1, 100, 1, 100)]
    peak = _core.read(str(sample), raw_snapshot=data["peak_index"])
    assert _raw(peak) == [(3, 3, 4000, 3, 4000), (4, 2, 2000, 2, 2000)]
    assert data["stats"]["total_allocated_bytes"] == 8700


def _raw(data: dict[str, object]) -> list[tuple[int, ...]]:
    """The raw snapshot's (node, live_count, live_bytes, alloc_count, alloc_bytes) rows."""
    raw = data["raw"]
    assert isinstance(raw, bytes)
    values = list(memoryview(raw).cast("Q"))
    return [tuple(values[i : i + 5]) for i in range(0, len(values), 5)]


def _u32(data: bytes) -> list[int]:
    return list(memoryview(data).cast("I"))


def test_analyzer_agrees_with_the_reader(tmp_path: Path) -> None:
    program = tmp_path / "marks.py"
    program.write_text(
        "import leaktrace\n"
        "kept = []\n"
        "for i in range(4):\n"
        "    kept.append([bytearray(1000) for _ in range(200 * (2 - abs(i - 2)))])\n"
        "    leaktrace.snapshot(f'round {i}')\n"
        "    if i == 2:\n"
        "        kept.clear()\n"
    )
    capture = tmp_path / "marks.ltc"
    assert leaktrace("run", "-q", "--no-snapshots", "-o", capture, program).returncode == 0
    whole = _core.read_capture(str(capture))
    streamed = _core.read(str(capture), raw_snapshot=-1)
    for key in ("format_version", "complete", "valid_size", "file_size", "meta", "stats"):
        assert streamed[key] == whole[key], key
    # The analyzer keeps one frame per value: each node names a frame equal to the
    # reader's.
    parents, frames = _u32(streamed["node_parent"]), _u32(streamed["node_frame"])
    assert parents == [p for p, _ in whole["nodes"]]
    for n, (_, f) in enumerate(whole["nodes"][1:], 1):
        assert streamed["frames"][frames[n]] == whole["frames"][f]
    assert len(set(streamed["frames"])) == len(streamed["frames"])
    snaps = whole["snapshots"]
    assert [s[:3] + s[4:] for s in streamed["snapshots"]] == [
        (s["seq"], s["kind"], s["time_ns"], s["heap_bytes"], s["heap_count"], s["rss_bytes"])
        for s in snaps
    ]
    assert all(s["rss_bytes"] for s in snaps)
    assert streamed["native_maps"] == whole["native_maps"]
    assert [s[3] for s in streamed["snapshots"]] == [
        "round 0",
        "round 1",
        "round 2",
        "round 3",
        None,
    ]
    peak = max(range(len(snaps)), key=lambda i: (snaps[i]["heap_bytes"], -i))
    assert streamed["peak_index"] == peak == 2
    assert _raw(_core.read(str(capture), raw_snapshot=peak)) == snaps[peak]["sites"]
    assert _raw(streamed) == snaps[-1]["sites"]


def test_analyzer_series_are_its_own_arrays(tmp_path: Path) -> None:
    # 150 sites (more than two of the analyzer's 64-row tiles), born over four marks.
    program = tmp_path / "many.py"
    program.write_text(
        "import leaktrace\n"
        "kept = []\n"
        "fns = []\n"
        "for i in range(150):\n"
        "    ns = {'kept': kept}\n"
        "    exec(f'def f{i}(n):\\n    kept.append(bytearray(n))\\n', ns)\n"
        "    fns.append(ns[f'f{i}'])\n"
        "for r in range(4):\n"
        "    for i, f in enumerate(fns):\n"
        "        if i % 4 <= r:\n"
        "            f(100 + i + 1000 * r)\n"
        "    leaktrace.snapshot(f'round {r}')\n"
        "    if r == 2:\n"
        "        del kept[::2]\n"
    )
    capture = tmp_path / "many.ltc"
    assert leaktrace("run", "-q", "--no-snapshots", "-o", capture, program).returncode == 0
    data = _core.read(str(capture), max_points=128)
    n = len(data["points"])
    assert n == len(data["snapshots"])
    peak_point = data["points"].index(data["peak_index"])
    rows = _u32(data["rows"])
    columns = {
        key: list(memoryview(data[key]).cast("Q"))
        for key in ("live_bytes", "alloc_bytes", "peak_bytes")
    }
    live = memoryview(data["series"]).cast("Q")
    alloc = memoryview(data["alloc_series"]).cast("Q")
    assert live.readonly and alloc.readonly
    del data  # the views keep the analyzer's arrays alive
    with_rows = [(g, r) for g, r in enumerate(rows) if r != 0xFFFFFFFF]
    assert len(with_rows) > 128
    assert len(live) == len(alloc) == len(with_rows) * n
    for g, r in with_rows:
        assert live[r * n + n - 1] == columns["live_bytes"][g]
        assert live[r * n + peak_point] == columns["peak_bytes"][g]
        assert alloc[r * n + n - 1] == columns["alloc_bytes"][g]
        assert list(alloc[r * n : r * n + n]) == sorted(alloc[r * n : r * n + n])


UNKNOWN_OPTIONAL = 0x7F  # an optional record type no writer uses: readers skip it


def big_capture(path: Path, megabytes: int) -> Path:
    """The sample capture with megabytes of 1 MB optional records before its END."""
    head, second, tail = sample_parts()
    filler = record(UNKNOWN_OPTIONAL, bytes(1_000_000))
    path.write_bytes(head + second + filler * megabytes + tail)
    return path


def test_analyzer_streams_in_bounded_memory(tmp_path: Path) -> None:
    """The analyzer reads a capture chunk by chunk: 40 MB of records cost it about one
    record's worth of memory, where the whole-file reader holds the whole file."""
    path = big_capture(tmp_path / "big.ltc", 40)
    # VmHWM (peak RSS) belongs to the process image; ru_maxrss would start from the
    # RSS of the parent that forked it.
    code = (
        "import sys\n"
        "from leaktrace import _core\n"
        "def peak_kib():\n"
        "    with open('/proc/self/status') as f:\n"
        "        return next(int(l.split()[1]) for l in f if l.startswith('VmHWM:'))\n"
        "before = peak_kib()\n"
        "assert getattr(_core, sys.argv[2])(sys.argv[1])['complete']\n"
        "print(peak_kib() - before)\n"
    )

    def grown_kib(reader: str) -> int:
        result = subprocess.run(
            [sys.executable, "-c", code, str(path), reader],
            capture_output=True,
            text=True,
            timeout=120,
        )
        assert result.returncode == 0, result.stderr
        return int(result.stdout)

    streamed_kib, whole_kib = grown_kib("read"), grown_kib("read_capture")
    assert streamed_kib < 8 * 1024, streamed_kib
    assert whole_kib > 35 * 1024, whole_kib  # the contrast: this reader holds the file


def test_progress_bar_on_a_terminal(tmp_path: Path) -> None:
    path = big_capture(tmp_path / "big.ltc", 20)
    main, secondary = pty.openpty()
    try:
        _core.read(str(path), progress_fd=secondary, progress_delay=0)
        os.close(secondary)
        drawn = b""
        while True:
            try:
                chunk = os.read(main, 65536)
            except OSError:  # EIO: the other end is closed and drained
                break
            if not chunk:
                break
            drawn += chunk
    finally:
        os.close(main)
    text = drawn.decode()
    assert "leaktrace: reading the capture [" in text
    assert "100%" in text
    assert text.endswith("\r\x1b[K")  # the bar is cleared at the end


def test_no_progress_bar_off_a_terminal(tmp_path: Path) -> None:
    path = big_capture(tmp_path / "big.ltc", 20)
    read_end, write_end = os.pipe()
    try:
        _core.read(str(path), progress_fd=write_end, progress_delay=0)
        os.close(write_end)
        assert os.read(read_end, 100) == b""
    finally:
        os.close(read_end)


@pytest.mark.parametrize("include_all", [False, True])
def test_profile_agrees_with_the_leak_report(tmp_path: Path, include_all: bool) -> None:
    """The folded profile trims and leaves out exactly what Capture.leaks() does."""
    program = tmp_path / "mixed.py"
    program.write_text(
        "import json, decimal\n"  # import-time allocations
        "kept = []\n"
        "def deep(n):\n"
        "    if n:\n"
        "        return deep(n - 1)\n"
        "    kept.append(bytearray(3000))\n"
        "for i in range(50):\n"
        "    kept.append(json.dumps({'i': i}))\n"
        "    deep(i % 7)\n"
    )
    capture = tmp_path / "mixed.ltc"
    result = leaktrace("run", "-q", "--depth", "5", "-o", capture, program)
    assert result.returncode == 0, result.stderr
    from leaktrace import load
    from leaktrace.reading import load_profile
    from leaktrace.reading.model import TRUNCATED

    sites, excluded = load(capture).leaks(include_all=include_all)
    profile = load_profile(capture, include_all=include_all)
    folded = {}
    for n in range(len(profile.parent)):
        if profile.live_count[n]:
            stack = profile.stack(n) if n else []
            truncated = bool(stack) and stack[-1] == TRUNCATED
            key = (tuple(stack[:-1] if truncated else stack), truncated)
            folded[key] = (profile.live_bytes[n], profile.live_count[n])
    expected = {(s.stack, s.truncated): (s.bytes, s.count) for s in sites}
    assert folded == expected
    assert any(truncated for _, truncated in expected)
    assert {k: (e.bytes, e.count) for k, e in profile.excluded.items()} == (
        {k: (e.bytes, e.count) for k, e in excluded.items()}
        if not include_all
        else {"imports": (0, 0), "no_python_frame": (0, 0)}
    )
    if not include_all:
        assert excluded["imports"].bytes > 0
