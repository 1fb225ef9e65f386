"""The scale argument shared by the workloads: ``python WORKLOAD.py [SCALE]``.

The workloads run as scripts, so this module is importable from their own directory.
"""

from __future__ import annotations

import sys


def read_scale() -> float:
    scale = float(sys.argv[1]) if len(sys.argv) > 1 else 1.0
    if scale <= 0:
        msg = f"scale must be positive, got {scale}"
        raise SystemExit(msg)
    return scale
