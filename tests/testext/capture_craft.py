"""The capture format (src/core/lt_format.h, docs/capture-format.md) from the test side:
encoding records by hand, for crafting corrupt and hostile captures."""

from __future__ import annotations

from dataclasses import dataclass

MAGIC = b"\x89LTCAP\r\n"
HEADER_SIZE = 16
REC_META, REC_STRING, REC_FRAME, REC_NODE, REC_SNAPSHOT, REC_STATS, REC_END = range(1, 8)
REC_SNAPSHOT_EXTRA = 0x42  # seq rss_bytes, right after its snapshot (optional)


def varint(value: int) -> bytes:
    out = bytearray()
    while value >= 0x80:
        out.append(value & 0x7F | 0x80)
        value >>= 7
    out.append(value)
    return bytes(out)


def varints(*values: int) -> bytes:
    return b"".join(varint(v) for v in values)


def read_varint(data: bytes, pos: int) -> tuple[int, int]:
    value = shift = 0
    while True:
        byte = data[pos]
        pos += 1
        value |= (byte & 0x7F) << shift
        shift += 7
        if not byte & 0x80:
            return value, pos


def header(major: int = 1, minor: int = 0) -> bytes:
    return MAGIC + major.to_bytes(2, "little") + minor.to_bytes(2, "little") + bytes(4)


def record(rtype: int, payload: bytes) -> bytes:
    return bytes([rtype]) + varint(len(payload)) + payload


@dataclass
class Record:
    offset: int
    rtype: int
    payload: bytes
    end: int


def parse_records(data: bytes) -> list[Record]:
    """The records of a well-formed capture."""
    records = []
    pos = HEADER_SIZE
    while pos < len(data):
        rtype = data[pos]
        length, start = read_varint(data, pos + 1)
        records.append(Record(pos, rtype, data[start : start + length], start + length))
        pos = start + length
    assert pos == len(data)
    return records


def rebuild(data: bytes, replace: dict[int, bytes]) -> bytes:
    """The capture with the records at the given indexes replaced by raw bytes."""
    parts = [data[:HEADER_SIZE]]
    for i, rec in enumerate(parse_records(data)):
        parts.append(replace.get(i, data[rec.offset : rec.end]))
    return b"".join(parts)
