"""iterparse without clear(): the root element keeps the whole libxml2 tree alive.

Usage: lxml_kept_tree.py ITEMS. The tree (about 290 bytes of libxml2 memory per item)
is allocated by libxml2 through its xmlMalloc pointers, initialised in data.
"""

from __future__ import annotations

import io
import sys

from lxml import etree

kept: dict[str, object] = {}


def document(items: int) -> bytes:
    body = b"".join(b"<item id='%d'><name>n%d</name></item>" % (i, i) for i in range(items))
    return b"<root>" + body + b"</root>"


def parse(data: bytes) -> None:
    root = None
    for _event, element in etree.iterparse(io.BytesIO(data), events=("end",)):  # LXML-SITE
        root = element
    kept["root"] = root


if __name__ == "__main__":
    parse(document(int(sys.argv[1])))
