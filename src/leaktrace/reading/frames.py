"""Where leaktrace's own frames live: the inputs of the one trimming policy.

The policy itself is applied in C, by the analyzer (src/core/analyze/lt_trim.c), to
every report: a stack loses leaktrace's own frames and runpy's at its outer end (and the
``<string>`` frame of the ``python -c`` stub that ``leaktrace run`` starts the program
from, when leaktrace's frames follow it); memory allocated inside the import machinery
is summed up as ``imports``, memory with no Python frame as ``no_python_frame``; a
stack of leaktrace's frames only is leaktrace's own allocation while stopping, and is
not counted. Only the places of leaktrace's package and of runpy depend on the
installation, so they are handed to the analyzer from here.
"""

from __future__ import annotations

import os
import runpy
from collections.abc import Sequence
from pathlib import Path

from .model import Frame

PACKAGE_DIR = str(Path(__file__).resolve().parent.parent) + os.sep
RUNPY_FILES = (os.path.abspath(runpy.__file__), "<frozen runpy>")


def passes_through_own(stack: Sequence[Frame]) -> bool:
    """A trimmed stack with a frame of leaktrace inside: in an attached process, memory
    that leaktrace's own requests allocated (docs/attach.md)."""
    return any(f.file.startswith(PACKAGE_DIR) or f.file in RUNPY_FILES for f in stack)
