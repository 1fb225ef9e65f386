"""Reading under a memory limit: one line and exit status 2, never a traceback.

A capture of 200,000 distinct stacks is reported under address-space limits from
barely above what the interpreter needs to plenty. Each run must either succeed or
fail with the one-line error of a capture that does not fit (out of memory while
reading it, in C, or a MemoryError caught at the command's boundary), and some limit
must make it fail that way.
"""

from __future__ import annotations

import os
import resource
import subprocess
import sys
from pathlib import Path

import pytest
from capture_craft import header, record, varints

STACKS = 200_000
MIB = 1 << 20


def many_stacks(path: Path) -> None:
    """STACKS sites of one block each, every one its own stack two frames deep."""
    body = [record(0x02, s) for s in (b"<truncated>", b"", b"f", b"/app/many.py")]
    body.append(record(0x03, varints(0, 1, 0)))
    body += [record(0x03, varints(2, 3, 2 * line)) for line in range(1, 501)]
    nodes, sites = [], []
    for i in range(STACKS):
        outer = 1 + i // 400  # frames 1..500
        inner = 1 + i % 400
        nodes.append(record(0x04, varints(0, outer)))
        nodes.append(record(0x04, varints(len(nodes), inner)))
        sites.append(varints(2 if i else len(nodes), 1, 64, 1, 64))
    snapshot = varints(0, 2, 1, 0, 64 * STACKS, STACKS, STACKS) + b"".join(sites)
    end = varints(4, 501, 2 * STACKS + 1, 1)
    records = [*body, *nodes, record(0x05, snapshot), record(0x07, end)]
    path.write_bytes(header(major=2) + b"".join(records))


def report(path: Path, limit: int | None, fmt: str) -> subprocess.CompletedProcess[str]:
    def preexec() -> None:
        if limit is not None:
            resource.setrlimit(resource.RLIMIT_AS, (limit, limit))

    return subprocess.run(
        [
            sys.executable,
            "-m",
            "leaktrace",
            "report",
            str(path),
            "--format",
            fmt,
            "-o",
            str(path.with_suffix("." + fmt)),
        ],
        capture_output=True,
        text=True,
        timeout=300,
        preexec_fn=preexec,
    )


def address_space_in_use() -> int:
    """What an interpreter that imported leaktrace's command maps, in bytes."""
    code = (
        "import leaktrace.cli, leaktrace.reports\n"
        "with open('/proc/self/status') as f:\n"
        "    print(next(int(l.split()[1]) for l in f if l.startswith('VmPeak:')))\n"
    )
    out = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True)
    return int(out.stdout) * 1024


@pytest.mark.skipif(
    bool(os.environ.get("LEAKTRACE_SANITIZE")),
    reason="AddressSanitizer maps terabytes of shadow memory: an address-space limit"
    " starves its own allocator, which then stalls instead of failing a malloc",
)
@pytest.mark.parametrize("fmt", ["json", "pprof"])
def test_too_large_for_the_memory_is_one_line(tmp_path: Path, fmt: str) -> None:
    path = tmp_path / "many.ltc"
    many_stacks(path)
    whole = report(path, None, fmt)
    assert whole.returncode == 0, whole.stderr
    base = address_space_in_use()
    refused = 0
    for extra in (8, 24, 48, 96, 160):
        result = report(path, base + extra * MIB, fmt)
        assert "Traceback" not in result.stderr, (extra, result.stderr[-2000:])
        if result.returncode == 0:
            continue
        assert result.returncode == 2, (extra, result.returncode, result.stderr[-500:])
        lines = result.stderr.splitlines()
        assert len(lines) == 1 and lines[0].startswith("leaktrace: error: "), lines
        assert "out of memory" in lines[0], lines
        refused += 1
    assert refused, "no limit was tight enough to refuse the capture"
