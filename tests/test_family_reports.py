"""``leaktrace report --children`` and ``--merge`` on a small family: a parent that
leaks over six snapshots after its forked child has exited (docs/children.md)."""

from __future__ import annotations

import json
import os
import shutil
import subprocess
import sys
import textwrap
from pathlib import Path

import pytest

import leaktrace
from leaktrace.family import child_captures

PROGRAM = """
import os

import leaktrace

pid = os.fork()
if pid == 0:
    child_keep = [bytearray(7000) for _ in range(3)]
    os._exit(0)
os.waitpid(pid, 0)
parent_keep = []
for _ in range(6):
    parent_keep.append(bytearray(10000))
    leaktrace.snapshot()
"""


def run(cwd: Path, *args: str) -> subprocess.CompletedProcess[str]:
    return subprocess.run(
        [sys.executable, "-m", "leaktrace", *args],
        capture_output=True,
        text=True,
        timeout=120,
        cwd=cwd,
    )


@pytest.fixture(scope="module")
def family(tmp_path_factory: pytest.TempPathFactory) -> Path:
    tmp = tmp_path_factory.mktemp("family")
    (tmp / "fam.py").write_text(textwrap.dedent(PROGRAM))
    result = run(tmp, "run", "--follow-children", "-q", "-o", "fam.ltc", "fam.py")
    assert result.returncode == 0, result.stderr
    assert len(child_captures(str(tmp / "fam.ltc"))) == 1
    return tmp


@pytest.fixture
def partial_family(family: Path, tmp_path: Path) -> Path:
    """The family with its root capture cut before its END record."""
    copy = tmp_path / "copy"
    shutil.copytree(family, copy)
    root = copy / "fam.ltc"
    os.truncate(root, root.stat().st_size - 3)
    return copy


def test_children_reads_a_partial_root_with_a_note(partial_family: Path) -> None:
    for extra in ([], ["--partial"]):
        result = run(partial_family, "report", "--children", "fam.ltc", *extra)
        assert result.returncode == 0, result.stderr
        assert result.stderr == ""
        sections = result.stdout.split("== process ")
        assert len(sections) == 3  # before the first header, the root, the child
        assert "leaktrace: PARTIAL capture" in sections[1]
        assert "PARTIAL" not in sections[2]


def test_merge_reads_a_partial_root_with_a_note(partial_family: Path) -> None:
    for extra in ([], ["--partial"]):
        result = run(partial_family, "report", "--merge", "fam.ltc", *extra)
        assert result.returncode == 0, result.stderr
        assert "leaktrace: PARTIAL capture" in result.stdout
        doc = json.loads(
            run(partial_family, "report", "--merge", "--format", "json", "fam.ltc").stdout
        )
        assert doc["complete"] is False


def test_load_refuses_a_partial_capture_unless_allowed(partial_family: Path) -> None:
    with pytest.raises(leaktrace.CaptureError):
        leaktrace.load(partial_family / "fam.ltc")
    assert leaktrace.load(partial_family / "fam.ltc", allow_partial=True).complete is False
