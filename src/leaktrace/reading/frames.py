"""The one policy for trimming and classifying stacks, for every reader and report.

Stacks start in leaktrace's own frames (and runpy's, and the ``<string>`` frame of the
``python -c`` stub that ``leaktrace run`` starts the program from): those are trimmed
from the outer end. Allocations made inside the import machinery are classed as
``imports``. Walked from the outermost frame inward, a stack is in one of three
states; :func:`advance` moves it one frame on. :func:`trim` applies it to a whole
stack; the profile reader applies it node by node of the capture's tree.
"""

from __future__ import annotations

import os
import runpy
from collections.abc import Sequence
from pathlib import Path

from .model import Frame

_PACKAGE_DIR = str(Path(__file__).resolve().parent.parent) + os.sep
_RUNPY_FILES = (os.path.abspath(runpy.__file__), "<frozen runpy>")
_IMPORT_MACHINERY = ("<frozen importlib._bootstrap>", "<frozen importlib._bootstrap_external>")
_STUB_FILE = "<string>"

# How a frame takes part in trimming and classification.
PLAIN, OWN, STUB, IMPORT = range(4)
# Where a stack stands, walked from its outer end.
PREFIX = 0  # every frame so far is leaktrace's or runpy's own: trimmed
AFTER_STUB = 1  # only the "python -c" stub's <string> frame so far
KEPT = 2  # the trimmed stack has begun


def is_own(frame: Frame) -> bool:
    """A frame of leaktrace's own code or of runpy."""
    return frame.file.startswith(_PACKAGE_DIR) or frame.file in _RUNPY_FILES


def classify(frame: Frame) -> int:
    if is_own(frame):
        return OWN
    if frame.file == _STUB_FILE:
        return STUB
    if frame.file in _IMPORT_MACHINERY:
        return IMPORT
    return PLAIN


def advance(state: int, cls: int, outermost: bool) -> int:
    """The state after one more frame (of class cls) inward; outermost: it is the first."""
    if cls == OWN and state in (PREFIX, AFTER_STUB):
        return PREFIX
    if state == PREFIX and cls == STUB and outermost:
        return AFTER_STUB
    return KEPT


def trim(stack: Sequence[Frame]) -> tuple[Frame, ...]:
    """A stack (innermost first) without its own outer frames."""
    end = len(stack)
    state = PREFIX
    for i in range(len(stack) - 1, -1, -1):
        state = advance(state, classify(stack[i]), i == len(stack) - 1)
        if state == PREFIX:
            end = i  # this frame and every outer one are trimmed
        elif state == KEPT:
            break
    return tuple(stack[:end])


def in_import(stack: Sequence[Frame]) -> bool:
    """Made while importing a module (a frame of the import machinery in the stack)."""
    return any(f.file in _IMPORT_MACHINERY for f in stack)
