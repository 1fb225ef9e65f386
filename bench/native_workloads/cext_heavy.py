"""C-extension-heavy: many small C-level allocations in zlib, hashlib, ctypes and _json.

python cext_heavy.py [SCALE]
"""

import ctypes
import hashlib
import json
import sys
import zlib

scale = float(sys.argv[1]) if len(sys.argv) > 1 else 1.0
rounds = int(20_000 * scale)
payload = json.dumps({"k": list(range(50)), "s": "x" * 200}).encode()
digest = b""
size = 0
for i in range(rounds):
    comp = zlib.compressobj(6)  # zlib state: malloc in libz
    data = comp.compress(payload * (1 + i % 4)) + comp.flush()
    size += len(zlib.decompress(data))
    h = hashlib.sha256(payload)  # OpenSSL context: malloc in libcrypto
    h.update(data)
    digest = h.digest()
    buf = ctypes.create_string_buffer(256 + i % 1024)
    size += len(buf.raw)
    size += len(json.loads(payload)["k"])
print(size, digest.hex()[:8])
