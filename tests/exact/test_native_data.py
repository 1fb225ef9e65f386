"""Allocator pointers stored in data: function-pointer tables that relocations fill.

``ltx_table`` (tests/testext/ltx_table.c) calls malloc, realloc and free only through
tables initialised in data (``.data`` and RELRO), as libxml2, sqlite3 or zlib users do:
no PLT or GOT slot of theirs is involved. The calling Python line must be charged
exactly the requested bytes, and every rewritten slot must hold its old value after
``stop()``.
"""

from __future__ import annotations

import ctypes

import pytest
from ltx_support import at, marker_lines

import leaktrace
from leaktrace import _core

THIS_FILE = (lambda: None).__code__.co_filename
LINE = marker_lines(THIS_FILE)


def live(capture, name):
    return at(capture, THIS_FILE, LINE[name])[:2]


def word(address: int) -> int:
    return ctypes.c_size_t.from_address(address).value


def test_table_allocations_exact_bytes_per_line(table_ext, tmp_path):
    path = str(tmp_path / "table.ltc")
    _core.start(path, native=True)
    kept = table_ext.table_malloc(12_345)  # @data-table
    kept_relro = table_ext.table_malloc(23_457, True)  # @relro-table
    grown = table_ext.table_malloc(100)  # @table-realloc-from
    grown = table_ext.table_realloc(grown, 34_567)  # @table-realloc-to
    freed = table_ext.table_malloc(999)  # @table-freed
    table_ext.table_free(freed)
    _core.stop()
    capture = leaktrace.load(path)
    assert live(capture, "data-table") == (12_345, 1)
    assert live(capture, "relro-table") == (23_457, 1)
    assert at(capture, THIS_FILE, LINE["table-realloc-from"])[:4] == (0, 0, 100, 1)
    assert live(capture, "table-realloc-to") == (34_567, 1)
    assert at(capture, THIS_FILE, LINE["table-freed"])[:4] == (0, 0, 999, 1)
    for address in (kept, kept_relro, grown):
        table_ext.table_free(address)


def test_table_slots_rewritten_and_restored(table_ext, tmp_path):
    data_slot, relro_slot = table_ext.table_slots()
    real_malloc = ctypes.cast(ctypes.CDLL(None).malloc, ctypes.c_void_p).value
    assert word(data_slot) == word(relro_slot) == real_malloc
    _core.start(str(tmp_path / "slots.ltc"), native=True)
    try:
        hook = _core.native_hook_address("malloc")
        assert word(data_slot) == word(relro_slot) == hook
        patched = dict(_core.native_patches())
        assert patched[data_slot] == patched[relro_slot] == real_malloc
    finally:
        _core.stop()
    assert word(data_slot) == word(relro_slot) == real_malloc


def test_table_without_native_tracking_sees_nothing(table_ext, tmp_path):
    path = str(tmp_path / "off.ltc")
    _core.start(path, native=False)
    kept = table_ext.table_malloc(45_679)  # @untracked-table
    _core.stop()
    table_ext.table_free(kept)
    assert live(leaktrace.load(path), "untracked-table")[0] < 45_679


# ---- lxml: libxml2 allocates through xmlMalloc, initialised in data ----


def test_lxml_kept_tree_at_the_calling_line(tmp_path):
    pytest.importorskip("lxml", reason="lxml comes with the test extra")
    import io

    from lxml import etree

    data = b"<root>" + b"".join(b"<item id='%d'><name>n%d</name></item>" % (i, i)
                                for i in range(90_000)) + b"</root>"  # fmt: skip
    kept = {}

    def parse() -> None:
        for _event, element in etree.iterparse(io.BytesIO(data), events=("end",)):  # @iterparse
            kept["root"] = element

    def run(native: bool) -> int:
        path = str(tmp_path / f"lxml{int(native)}.ltc")
        _core.start(path, native=native)
        parse()
        _core.stop()
        kept.clear()
        return live(leaktrace.load(path), "iterparse")[0]

    without = run(False)
    with_native = run(True)
    # Python objects alone (the elements made while parsing, freed when the next
    # replaces them): little. With the tree libxml2 made through xmlMalloc: ~50 MB.
    assert without < 2_000_000
    assert with_native > 40_000_000
