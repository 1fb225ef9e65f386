"""Leaky program: ``functools.lru_cache`` on a method pins every instance.

Usage: python lru_method.py [DOCUMENTS] [PAYLOAD_SIZE]

The cache key of a cached method includes ``self``; with ``maxsize=None`` each
``Document`` (and its payload) stays reachable from the cache after the caller
has dropped it.
"""

from __future__ import annotations

import functools
import sys

DOCUMENTS = int(sys.argv[1]) if len(sys.argv) > 1 else 200
PAYLOAD_SIZE = int(sys.argv[2]) if len(sys.argv) > 2 else 32 * 1024


class Document:
    def __init__(self, doc_id: int) -> None:
        self.doc_id = doc_id
        self.payload = doc_id.to_bytes(4, "little") * (PAYLOAD_SIZE // 4)  # LEAK-SITE

    @functools.lru_cache(maxsize=None)  # noqa: B019, UP033 - the leak under test
    def checksum(self, modulus: int) -> int:
        return sum(self.payload[::1021]) % modulus


def main() -> None:
    total = 0
    for doc_id in range(DOCUMENTS):
        doc = Document(doc_id)
        total += doc.checksum(251)
        total += doc.checksum(251)  # cache hit
        del doc
    info = Document.checksum.cache_info()
    print(f"processed {DOCUMENTS} documents, checksum total {total}, cache {info.currsize}")


main()
