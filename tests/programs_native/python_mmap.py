"""Leaks anonymous mappings made by the stdlib mmap module."""

import mmap
import sys

MAPS = [mmap.mmap(-1, int(sys.argv[2])) for _ in range(int(sys.argv[1]))]  # MMAP-SITE
