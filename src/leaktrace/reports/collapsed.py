"""Folded stacks ("collapsed" format), as flamegraph.pl, inferno and speedscope read them.

One line per stack: frames from the outermost to the innermost, separated by ``;``,
then a space and the bytes still alive at the last snapshot (what leaked). A frame is
``function (file:line)``, the form py-spy writes. Stacks that leaked nothing are left
out; lines are sorted by bytes, descending, then by stack.
"""

from __future__ import annotations

from .. import _core
from ..reading.model import NO_FRAME, Frame
from ..reading.profile import Profile, u64_array
from . import ReportFormat, register


def frame_label(frame: Frame) -> str:
    if not frame.file:  # a marker: [truncated], [no Python frame]
        return frame.function
    label = f"{frame.function} ({frame.file}:{frame.line})"
    # ';' separates frames and the last space separates the value.
    return label.replace(";", ",").replace("\n", " ")


def render_folded(profile: Profile) -> bytes:
    """The lines, written in C (_core.folded) from the labels of the profile's frames."""
    labels = [frame_label(f).encode() for f in profile.frames]
    parent, frame = profile.tree_arrays()
    live = u64_array(profile.live_bytes)
    return _core.folded(parent, frame, live, labels, NO_FRAME.function.encode())


register(ReportFormat("collapsed", "profile", render_folded))
