"""Native frames: return addresses turned into names and source lines when reporting.

A capture recorded with ``--native`` holds each native frame as a return address
(lt_format.h) and the objects that were loaded (path, load bias, mapped range,
build-id). This module finds each address's object and asks binutils' ``addr2line``
for the function and ``file:line``, one process per object for all its addresses.
Results are cached per process by (object path, build-id, address).
"""

from __future__ import annotations

import os
import shutil
import subprocess
from collections.abc import Iterable
from dataclasses import dataclass

from .model import Frame

NATIVE_FILE = "<native>"  # LT_NATIVE_FILE in lt_format.h
UNKNOWN = "??"


@dataclass(frozen=True)
class NativeMap:
    base: int
    start: int
    end: int
    path: str
    build_id: str  # hex, "" when the object has none


@dataclass(frozen=True)
class NativeSymbol:
    function: str
    file: str
    line: int


_cache: dict[tuple[str, str, int], NativeSymbol] = {}


def _maps(raw: Iterable[tuple[int, int, int, bytes, bytes]]) -> list[NativeMap]:
    # A later record for the same range replaces an earlier one.
    by_range = {
        (start, end): NativeMap(base, start, end, os.fsdecode(path), build_id.hex())
        for base, start, end, path, build_id in raw
    }
    return sorted(by_range.values(), key=lambda m: m.start)


def _find(maps: list[NativeMap], address: int) -> NativeMap | None:
    for m in maps:
        if m.start <= address < m.end:
            return m
    return None


def _addr2line(path: str, offsets: list[int]) -> list[tuple[str, str, int]]:
    """(function, file, line) per offset; unknown parts are '??' and 0."""
    tool = shutil.which("addr2line")
    if tool is None or not os.path.exists(path):
        return [(UNKNOWN, UNKNOWN, 0)] * len(offsets)
    proc = subprocess.run(
        [tool, "-f", "-C", "-e", path],
        input="".join(f"{offset:#x}\n" for offset in offsets),
        capture_output=True,
        text=True,
        check=False,
    )
    lines = proc.stdout.splitlines()
    if proc.returncode != 0 or len(lines) != 2 * len(offsets):
        return [(UNKNOWN, UNKNOWN, 0)] * len(offsets)
    out = []
    for function, location in zip(lines[0::2], lines[1::2], strict=True):
        file, _, line = location.partition(" ")[0].rpartition(":")
        out.append((function, file or UNKNOWN, int(line) if line.isdigit() else 0))
    return out


def symbolize(
    addresses: Iterable[int], raw_maps: Iterable[tuple[int, int, int, bytes, bytes]]
) -> dict[int, NativeSymbol]:
    """Names and source lines for return addresses, with the capture's maps."""
    maps = _maps(raw_maps)
    result: dict[int, NativeSymbol] = {}
    pending: dict[NativeMap, list[int]] = {}
    for address in set(addresses):
        m = _find(maps, address)
        if m is None:
            result[address] = NativeSymbol(f"{address:#x}", UNKNOWN, 0)
            continue
        cached = _cache.get((m.path, m.build_id, address - m.base))
        if cached is not None:
            result[address] = cached
        else:
            pending.setdefault(m, []).append(address)
    for m, group in pending.items():
        # A return address follows the call: look up the call instruction itself.
        found = _addr2line(m.path, [address - m.base - 1 for address in group])
        for address, (function, file, line) in zip(group, found, strict=True):
            name = os.path.basename(m.path)
            offset = address - m.base
            symbol = NativeSymbol(
                function if function != UNKNOWN else f"{name}+{offset:#x}",
                file if file != UNKNOWN else m.path,
                line,
            )
            _cache[(m.path, m.build_id, offset)] = symbol
            result[address] = symbol
    return result


def symbolize_native_frames(
    frames: list[Frame], native_maps: list[tuple[int, int, int, bytes, bytes]]
) -> None:
    """Replaces the raw-address frames of a --native capture by named native frames."""
    native = [i for i, f in enumerate(frames) if f.file == NATIVE_FILE]
    if not native:
        return
    addresses = {i: int(frames[i].function, 16) for i in native}
    found = symbolize(addresses.values(), native_maps)
    for i, address in addresses.items():
        s = found[address]
        frames[i] = Frame(s.function, s.file, s.line, "native")
