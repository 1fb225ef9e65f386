"""Native blocks linked to the Python objects that own them (heap/lt_owners.h).

``ltx_table.Holder(n)`` keeps the one pointer to a malloc'd block of n bytes in its
struct, as an ndarray or an lxml element does; ``ltx_table.orphan(n)`` keeps it in a
C global, where no Python object points. The retention pass must make the holder
retain exactly its block, give the block's site a path through the holder, and report
the orphan as owned by no object.
"""

from __future__ import annotations

import leaktrace_cli
import pytest
from ltx_support import marker_lines, sites_at

import leaktrace
from leaktrace import _core

THIS_FILE = (lambda: None).__code__.co_filename
LINE = marker_lines(THIS_FILE)
HELD: dict[str, object] = {}


def site_paths(capture, name):
    sites = sites_at(capture, THIS_FILE, LINE[name])
    assert sites, f"no site at line {LINE[name]}"
    return capture.retention.paths_for([n for s in sites for n in s.nodes])


def holder_retains(holder) -> int:
    (path, *_) = leaktrace.why(holder)
    return path.retained_bytes


def test_holder_retains_its_block_exactly(table_ext, tmp_path):
    _core.start(str(tmp_path / "why.ltc"), native=True)
    try:
        small = table_ext.Holder(1_000)
        holder = table_ext.Holder(1_234_567)
        interior = table_ext.Holder(777_777, 4_096)
        base = holder_retains(small) - 1_000
        # The object's own bytes (the same for all three) plus its block, to the byte.
        assert holder_retains(holder) == base + 1_234_567
        # A pointer into the middle of the block owns the whole block.
        assert holder_retains(interior) == base + 777_777
    finally:
        _core.stop()
    assert 0 < base < 1_000


def test_native_site_kept_alive_by_its_holder(table_ext, tmp_path):
    path = str(tmp_path / "held.ltc")
    _core.start(path, native=True)
    HELD["holder"] = table_ext.Holder(3_456_789)  # @held-block
    table_ext.orphan(2_345_679)  # @orphan-block
    _core.stop(retention_sites=20)
    capture = leaktrace.load(path)
    HELD.clear()

    (held,) = site_paths(capture, "held-block")
    assert str(held).startswith(f"module {__name__} → HELD['holder'] → ltx_table.Holder")
    assert held.retained_bytes >= 3_456_789
    (orphan,) = site_paths(capture, "orphan-block")
    assert orphan.root_kind == "external" and orphan.edges == ()
    assert "no Python object points to it" in str(orphan)
    assert orphan.retained_bytes == orphan.object_bytes == 2_345_679
    # The suspects count the native bytes their holder owns.
    suspect = max(capture.retention.suspects, key=lambda s: s.leaked_bytes)
    assert suspect.leaked_bytes >= 3_456_789


def test_numpy_arrays_in_a_dict_retain_their_buffers(tmp_path):
    np = pytest.importorskip("numpy", reason="numpy comes with the test extra")
    count, elements = 8, 65_536
    path = str(tmp_path / "numpy.ltc")
    cache: dict[int, object] = {}
    HELD["cache"] = cache
    _core.start(path, native=True)
    for i in range(count):
        cache[i] = np.zeros(elements)  # @numpy-array
    (dict_path, *_) = leaktrace.why(cache)
    (array_path, *_) = leaktrace.why(cache[0])
    _core.stop(retention_sites=20)
    capture = leaktrace.load(path)
    HELD.clear()
    buffers = count * elements * 8
    # The dict retains its arrays, and each array its buffer (numpy's data comes
    # from PyMem_RawCalloc or calloc, depending on the version: native either way).
    assert buffers < dict_path.retained_bytes < buffers + 64 * 1024
    assert elements * 8 < array_path.retained_bytes < elements * 8 + 1024
    # The arrays' site (the dict's table, grown on that line, has its own).
    arrays = [p for p in site_paths(capture, "numpy-array") if p.target == "numpy.ndarray"]
    assert arrays
    assert all(str(p).startswith(f"module {__name__} → HELD['cache'][") for p in arrays)
    assert all(elements * 8 < p.retained_bytes < elements * 8 + 1024 for p in arrays)


LXML_PROGRAM = """
import io
from lxml import etree

HELD = {}
body = b"".join(b"<item id='%d'><name>n%d</name></item>" % (i, i) for i in range(90_000))
data = b"<root>" + body + b"</root>"
for _event, element in etree.iterparse(io.BytesIO(data), events=("end",)):  # LXML-TREE
    HELD["root"] = element
del _event, element
"""


def test_lxml_kept_tree_found_at_the_calling_line_with_its_holder(tmp_path):
    """A program that keeps an iterparse tree, under `leaktrace run` as users run it: the
    tree is found at the calling line and its element owns it. (In a process that has
    run many other things, stale words left in reused object memory can point into a
    large linked native structure and split its ownership: docs/native.md.)"""
    pytest.importorskip("lxml", reason="lxml comes with the test extra")
    program = tmp_path / "kept_tree.py"
    program.write_text(LXML_PROGRAM)
    (line,) = [n for n, text in enumerate(LXML_PROGRAM.splitlines(), 1) if "LXML-TREE" in text]
    capture = tmp_path / "lxml.ltc"
    result = leaktrace_cli.run("run", "-q", "-o", capture, program, cwd=tmp_path, timeout=180)
    assert result.returncode == 0, result.stderr
    loaded = leaktrace.load(capture)
    sites = sites_at(loaded, str(program), line)
    site = max(sites, key=lambda s: s.bytes)
    assert site.bytes > 40_000_000
    top = loaded.retention.paths_for(site.nodes)[0]
    assert str(top).startswith("module __main__ → HELD['root'] → lxml.etree._Element")
    # The element owns the libxml2 tree behind it (all but a few bytes of the site).
    assert top.retained_bytes > 0.9 * site.bytes
