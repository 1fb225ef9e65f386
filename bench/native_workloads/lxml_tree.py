"""lxml-tree: iterparse without clear(), keeping the root and so the whole libxml2 tree.

python lxml_tree.py [SCALE]
"""

import io
import sys

from lxml import etree

scale = float(sys.argv[1]) if len(sys.argv) > 1 else 1.0
items = int(90_000 * scale)
data = b"<root>" + b"".join(b"<item id='%d'><name>n%d</name></item>" % (i, i)
                            for i in range(items)) + b"</root>"  # fmt: skip
root = None
for _event, element in etree.iterparse(io.BytesIO(data), events=("end",)):
    root = element
print(len(root))
