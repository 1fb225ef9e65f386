"""``leaktrace report --children`` and ``--merge`` on a small family: a parent that
leaks over six snapshots after its forked child has exited (docs/children.md)."""

from __future__ import annotations

import json
import os
import shutil
import subprocess
import textwrap
from pathlib import Path

import leaktrace_cli
import pytest

import leaktrace
from leaktrace.reading.family import child_captures

PROGRAM = """
import os
import time

import leaktrace

pid = os.fork()
if pid == 0:
    child_keep = [bytearray(7000) for _ in range(3)]
    os._exit(0)
os.waitpid(pid, 0)
parent_keep = []
for _ in range(6):
    leaktrace.snapshot()
    parent_keep.append(bytearray(10000))
    time.sleep(0.05)
"""


def run(cwd: Path, *args: str) -> subprocess.CompletedProcess[str]:
    return leaktrace_cli.run(*args, cwd=cwd, timeout=120)


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


def merged_json(cwd: Path) -> dict:
    result = run(cwd, "report", "--merge", "--format", "json", "fam.ltc")
    assert result.returncode == 0, result.stderr
    return json.loads(result.stdout)


def test_merged_totals_are_sums_over_the_processes(family: Path) -> None:
    root = leaktrace.load(family / "fam.ltc")
    (child_path,) = child_captures(str(family / "fam.ltc"))
    child = leaktrace.load(child_path)
    doc = merged_json(family)
    assert doc["live_bytes_at_exit"] == root.final.heap_bytes + child.final.heap_bytes
    assert doc["total_allocations"] == (
        root.stats["total_allocations"] + child.stats["total_allocations"]
    )
    assert doc["merged"] == [
        {"capture": "fam.ltc", "pid": int(root.meta["pid"])},
        {"capture": os.path.basename(child_path), "pid": int(child.meta["pid"])},
    ]
    assert doc["not_merged"] == []


def test_merged_report_classifies_no_growth(family: Path) -> None:
    # The parent's own report classes its loop's site as leaking...
    own = json.loads(run(family, "report", "--format", "json", "fam.ltc").stdout)
    assert any(s["growth"]["class"] == "leaking" for s in own["leaks"])
    # ...the merged one has no series to classify, and says so.
    assert all(s["growth"]["class"] == "insufficient" for s in merged_json(family)["leaks"])
    text = run(family, "report", "--merge", "fam.ltc").stdout
    assert text.startswith(
        "leaktrace: 2 processes merged; growth is not classified across processes "
        "(--children shows each one's)\n"
    )
    assert "growth:" not in text


def test_merged_json_lists_the_captures_it_could_not_read(family: Path, tmp_path: Path) -> None:
    copy = tmp_path / "copy"
    shutil.copytree(family, copy)
    (copy / "fam.ltc.4242.ltc").write_bytes(b"not a capture")
    doc = merged_json(copy)
    (skipped,) = doc["not_merged"]
    assert skipped["capture"] == "fam.ltc.4242.ltc"
    assert skipped["error"]
    assert [m["capture"] for m in doc["merged"]] == ["fam.ltc"] + [
        os.path.basename(p) for p in child_captures(str(family / "fam.ltc"))
    ]
    text = run(copy, "report", "--merge", "fam.ltc").stdout
    assert f"  not merged: fam.ltc.4242.ltc: {skipped['error']}\n" in text


def test_children_json_has_the_report_schema_version(family: Path) -> None:
    from leaktrace.reports.common import JSON_SCHEMA_VERSION

    result = run(family, "report", "--children", "--format", "json", "fam.ltc")
    assert result.returncode == 0, result.stderr
    doc = json.loads(result.stdout)
    assert list(doc) == ["schema_version", "processes"]
    assert doc["schema_version"] == JSON_SCHEMA_VERSION
    assert [p["report"]["schema_version"] for p in doc["processes"]] == [JSON_SCHEMA_VERSION] * 2
