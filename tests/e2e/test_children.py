"""Following children (--follow-children, docs/children.md): os.fork, multiprocessing
(fork, spawn, forkserver) and Python subprocesses each write a capture linked to
their parent's; report --children and --merge read them."""

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
from leaktrace.reading.family import child_captures

FAMILY = """
import multiprocessing as mp
import os
import subprocess
import sys

parent_keep = [bytearray(3000) for _ in range(100)]

def work(n):
    global child_keep
    child_keep = [bytearray(n) for _ in range(50)]

if __name__ == "__main__":
    pid = os.fork()
    if pid == 0:
        forked_keep = [bytearray(7000) for _ in range(20)]
        grandchild = os.fork()
        if grandchild == 0:
            grand_keep = [bytearray(9000) for _ in range(10)]
            os._exit(0)
        os.waitpid(grandchild, 0)
        os._exit(0)
    os.waitpid(pid, 0)
    for method in ("fork", "spawn", "forkserver"):
        p = mp.get_context(method).Process(target=work, args=({size},))
        p.start()
        p.join()
        print(method, p.exitcode, flush=True)
    code = "keep = [bytearray(13000) for _ in range(10)]"
    subprocess.run([sys.executable, "-c", code], check=True)
    print("done", flush=True)
"""

SIZES = {"fork": 11000, "spawn": 12000, "forkserver": 14000}


def run(tmp_path: Path, *args: str, timeout: int = 120) -> subprocess.CompletedProcess[str]:
    return leaktrace_cli.run(*args, cwd=tmp_path, timeout=timeout)


def write(tmp_path: Path, name: str, source: str) -> Path:
    path = tmp_path / name
    path.write_text(textwrap.dedent(source))
    return path


def lines_holding(capture: leaktrace.Capture, file: str) -> dict[int, int]:
    """Live bytes per line of file, over the innermost frames of the leaks."""
    held: dict[int, int] = {}
    for site in capture.leaks()[0]:
        if site.stack and site.stack[0].file.endswith(file):
            held[site.stack[0].line] = held.get(site.stack[0].line, 0) + site.bytes
    return held


@pytest.fixture(scope="module")
def family(tmp_path_factory: pytest.TempPathFactory) -> tuple[Path, subprocess.CompletedProcess]:
    tmp = tmp_path_factory.mktemp("family")
    program = tmp / "fam.py"
    # One program, one worker size per start method, so that each worker is recognisable.
    source = textwrap.dedent(FAMILY).replace(
        "args=({size},)", "args=({'fork': 11000, 'spawn': 12000, 'forkserver': 14000}[method],)"
    )
    program.write_text(source)
    result = run(tmp, "run", "--follow-children", "-q", "-o", "fam.ltc", str(program))
    return tmp, result


def test_program_behaves_as_without_leaktrace(family) -> None:
    _, result = family
    assert result.returncode == 0, result.stderr
    assert result.stdout.splitlines() == ["fork 0", "spawn 0", "forkserver 0", "done"]
    assert result.stderr == ""


def test_every_child_has_a_complete_capture_linked_to_its_parent(family) -> None:
    tmp, _ = family
    root = leaktrace.load(tmp / "fam.ltc")
    assert root.parent is None
    captures = {path: leaktrace.load(path) for path in child_captures(str(tmp / "fam.ltc"))}
    known = {str(tmp / "fam.ltc"): int(root.meta["pid"])}
    known.update({path: int(c.meta["pid"]) for path, c in captures.items()})
    for path, capture in captures.items():
        assert capture.complete, path
        assert path == f"{tmp / 'fam.ltc'}.{capture.meta['pid']}.ltc"
        parent = capture.parent
        assert parent is not None
        assert known[parent["capture"]] == parent["pid"], (path, parent)

    def holding(line: int, count: int, size: int) -> list[leaktrace.Capture]:
        # count bytearrays of size bytes (plus their object headers) and their list
        low, high = count * size, count * (size + 100) + 1024
        return [
            c for c in captures.values() if low <= lines_holding(c, "fam.py").get(line, 0) < high
        ]

    # The forked child and grandchild: their own leaks, and the parent's blocks
    # (line 7), inherited live.
    (child,) = [c for c in holding(16, 20, 7000) if 19 not in lines_holding(c, "fam.py")]
    assert child.parent == {
        "link": 0,
        "pid": int(root.meta["pid"]),
        "capture": str(tmp / "fam.ltc"),
    }
    assert lines_holding(child, "fam.py")[7] == lines_holding(root, "fam.py")[7]
    (grandchild,) = holding(19, 10, 9000)
    assert grandchild.parent["capture"] == child.path and grandchild.parent["link"] == 0
    # One worker per start method, each holding its 50 blocks at line 11.
    for method, size in SIZES.items():
        (worker,) = holding(11, 50, size)
        link = worker.parent["link"]
        if method == "fork":
            assert worker.parent["pid"] == int(root.meta["pid"]) and link == 0
        elif method == "spawn":
            assert worker.parent["pid"] == int(root.meta["pid"]) and link == 1
        else:  # forked by the forkserver, a process the program started
            server = leaktrace.load(worker.parent["capture"])
            assert link == 0 and server.parent["pid"] == int(root.meta["pid"])
    # The subprocess, started by the program.
    (sub,) = [c for c in captures.values() if "bytearray(13000)" in c.meta["command"]]
    assert sub.parent["link"] == 1 and sub.parent["pid"] == int(root.meta["pid"])
    assert sum(s.bytes for s in sub.leaks()[0]) >= 10 * 13000
    # The parent's capture has none of its children's allocations.
    assert not {11, 16, 19} & set(lines_holding(root, "fam.py"))


def test_report_children_and_merge(family) -> None:
    tmp, _ = family
    listing = run(tmp, "report", "--children", "fam.ltc")
    assert listing.returncode == 0, listing.stderr
    headers = [line for line in listing.stdout.splitlines() if line.startswith("== process")]
    assert len(headers) == 1 + len(child_captures(str(tmp / "fam.ltc")))
    assert headers[0].endswith(": fam.ltc")
    merged = run(tmp, "report", "--merge", "--format", "json", "fam.ltc")
    assert merged.returncode == 0, merged.stderr
    doc = with_stacks(json.loads(merged.stdout))
    members = [leaktrace.load(tmp / "fam.ltc")] + [
        leaktrace.load(p) for p in child_captures(str(tmp / "fam.ltc"))
    ]
    top = doc["leaks"][0]
    assert top["stack"][0]["line"] == 7  # the parent's blocks, held by every forked process
    expected = sum(
        s.bytes
        for c in members
        for s in c.leaks()[0]
        if [f.to_json() for f in s.stack] == top["stack"]
    )
    assert top["bytes"] == expected
    # Held by the parent, its forked child and grandchild, and the forked worker.
    assert top["bytes"] == 4 * lines_holding(members[0], "fam.py")[7]
    per_process = run(tmp, "report", "--children", "--format", "json", "fam.ltc")
    processes = json.loads(per_process.stdout)["processes"]
    children = [os.path.basename(p) for p in child_captures(str(tmp / "fam.ltc"))]
    assert [p["capture"] for p in processes] == ["fam.ltc", *children]
    assert all(p["report"]["complete"] for p in processes)


def test_without_follow_children_no_child_writes_a_capture(tmp_path: Path) -> None:
    program = write(
        tmp_path,
        "f.py",
        """
        import os, subprocess, sys
        pid = os.fork()
        if pid == 0:
            os._exit(0)
        os.waitpid(pid, 0)
        subprocess.run([sys.executable, "-c", "pass"], check=True)
        """,
    )
    result = run(tmp_path, "run", "-q", "-o", "f.ltc", str(program))
    assert result.returncode == 0, result.stderr
    assert child_captures(str(tmp_path / "f.ltc")) == []
    assert "LEAKTRACE_FOLLOW" not in os.environ


def test_api_follow_children_with_sampling(tmp_path: Path) -> None:
    program = write(
        tmp_path,
        "api.py",
        """
        import os, leaktrace
        leaktrace.start("api.ltc", sample_bytes=4096, sample_seed=1, follow_children=True)
        pid = os.fork()
        if pid == 0:
            keep = [bytearray(5000) for _ in range(200)]
            os._exit(3)
        _, status = os.waitpid(pid, 0)
        leaktrace.stop()
        print(os.waitstatus_to_exitcode(status), "LEAKTRACE_FOLLOW" in os.environ)
        """,
    )
    result = subprocess.run(
        [sys.executable, str(program)],
        capture_output=True,
        text=True,
        timeout=60,
        cwd=tmp_path,
        env={**os.environ, "PYTHONHASHSEED": "0"},
    )
    assert result.returncode == 0, result.stderr
    assert result.stdout == "3 False\n"  # the child's exit status; the env is cleaned up
    (path,) = child_captures(str(tmp_path / "api.ltc"))
    child = leaktrace.load(path)
    assert child.complete and child.sample_rate == 4096
    assert child.parent["link"] == 0 and child.parent["capture"] == str(tmp_path / "api.ltc")
    assert child.parent["pid"] != int(child.meta["pid"])
    estimate = lines_holding(child, "api.py")[6]
    # Four standard deviations (error_bound is two): the seed is fixed, but each Python
    # version allocates differently, and so samples differently.
    assert abs(estimate - 200 * 5056) <= 2 * child.error_bound(estimate)


def test_forked_child_that_execs_python_links_to_the_parent(tmp_path: Path) -> None:
    program = write(
        tmp_path,
        "fe.py",
        """
        import os, sys
        pid = os.fork()
        if pid == 0:
            os.execv(sys.executable, [sys.executable, "-c", "keep = bytearray(123456)"])
        _, status = os.waitpid(pid, 0)
        print(os.waitstatus_to_exitcode(status), pid)
        """,
    )
    result = run(tmp_path, "run", "--follow-children", "-o", "fe.ltc", str(program))
    assert result.returncode == 0, result.stderr
    assert result.stderr.endswith(
        "leaktrace: capture written to fe.ltc\n"
        "leaktrace: 1 child processes wrote captures: "
        "'leaktrace report fe.ltc --children' (or --merge) shows them\n"
    )
    code, pid = result.stdout.split()
    assert code == "0"
    (path,) = child_captures(str(tmp_path / "fe.ltc"))
    assert path.endswith(f".{pid}.ltc")
    child = leaktrace.load(path)
    root = leaktrace.load(tmp_path / "fe.ltc")
    assert child.complete and "keep = bytearray(123456)" in child.meta["command"]
    assert child.parent == {"link": 0, "pid": int(root.meta["pid"]), "capture": root.path}
