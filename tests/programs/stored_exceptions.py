"""Leaky program: caught exceptions are kept, and their tracebacks pin frames.

Usage: python stored_exceptions.py [RECORDS] [BUFFER_SIZE]

``parse_record`` reads a large buffer into a local variable and then fails.
The caller stores each exception for a later error summary; every exception's
``__traceback__`` references the failed frame, which keeps the buffer alive.
"""

from __future__ import annotations

import sys

RECORDS = int(sys.argv[1]) if len(sys.argv) > 1 else 200
BUFFER_SIZE = int(sys.argv[2]) if len(sys.argv) > 2 else 32 * 1024


class RecordError(Exception):
    pass


_errors: list[RecordError] = []


def parse_record(record_id: int) -> int:
    raw = record_id.to_bytes(4, "little") * (BUFFER_SIZE // 4)  # LEAK-SITE
    declared = record_id + 1
    if raw[:4] != declared.to_bytes(4, "little"):
        raise RecordError(f"record {record_id}: checksum mismatch")
    return len(raw)


def main() -> None:
    parsed = 0
    for record_id in range(RECORDS):
        try:
            parsed += parse_record(record_id)
        except RecordError as exc:
            _errors.append(exc)
    print(f"parsed {parsed} bytes, {len(_errors)} errors kept for the summary")


main()
