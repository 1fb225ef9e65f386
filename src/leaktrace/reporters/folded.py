"""Folded stacks ("collapsed" format), as flamegraph.pl, inferno and speedscope read them.

One line per stack: frames from the outermost to the innermost, separated by ``;``,
then a space and the bytes still alive at the last snapshot (what leaked). A frame is
``function (file:line)``, the form py-spy writes. Stacks that leaked nothing are left
out; lines are sorted by bytes, descending, then by stack.
"""

from __future__ import annotations

from ..capture import Frame
from .model import Profile, Sample

TRUNCATED = "[truncated]"
NO_FRAME = "[no Python frame]"


def frame_label(frame: Frame) -> str:
    label = f"{frame.function} ({frame.file}:{frame.line})"
    # ';' separates frames and the last space separates the value.
    return label.replace(";", ",").replace("\n", " ")


def folded_stack(sample: Sample) -> str:
    labels = [frame_label(f) for f in reversed(sample.frames)]
    if sample.truncated:
        labels.insert(0, TRUNCATED)
    return ";".join(labels) or NO_FRAME


def render_folded(profile: Profile) -> str:
    lines = [(s.live_bytes, folded_stack(s)) for s in profile.samples if s.live_bytes]
    lines.sort(key=lambda item: (-item[0], item[1]))
    return "".join(f"{stack} {value}\n" for value, stack in lines)
