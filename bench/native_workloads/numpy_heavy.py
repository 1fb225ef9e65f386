"""numpy-heavy: many array allocations of mixed sizes, with arithmetic between them.

python numpy_heavy.py [SCALE]
"""

import sys

import numpy as np

scale = float(sys.argv[1]) if len(sys.argv) > 1 else 1.0
rounds = int(20_000 * scale)
rng = np.random.default_rng(0)
kept = []
total = 0.0
for i in range(rounds):
    a = rng.random(64 + i % 512)
    b = np.arange(a.size, dtype=np.float64)
    c = (a * b + 1.0).cumsum()
    m = np.outer(a[:32], b[:32])
    total += float(c[-1]) + float(m.sum())
    if i % 100 == 0:
        kept.append(np.zeros(10_000))
print(f"{total:.3e} {len(kept)}")
