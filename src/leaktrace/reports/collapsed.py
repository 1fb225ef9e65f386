"""Folded stacks ("collapsed" format), as flamegraph.pl, inferno and speedscope read them.

One line per stack: frames from the outermost to the innermost, separated by ``;``,
then a space and the bytes still alive at the last snapshot (what leaked). A frame is
``function (file:line)``, the form py-spy writes. Stacks that leaked nothing are left
out; lines are sorted by bytes, descending, then by stack.
"""

from __future__ import annotations

from ..reading.model import NO_FRAME, Frame
from ..reading.profile import Profile
from . import ReportFormat, register


def frame_label(frame: Frame) -> str:
    if not frame.file:  # a marker: [truncated], [no Python frame]
        return frame.function
    label = f"{frame.function} ({frame.file}:{frame.line})"
    # ';' separates frames and the last space separates the value.
    return label.replace(";", ",").replace("\n", " ")


class FoldedStacks:
    """The folded stack of any node, each prefix built once and shared."""

    def __init__(self, profile: Profile) -> None:
        self.profile = profile
        self.labels = [frame_label(f) for f in profile.frames]
        self.built: dict[int, str] = {0: ""}

    def __call__(self, node: int) -> str:
        parent, frame, built = self.profile.parent, self.profile.frame, self.built
        chain = []
        n = node
        while n not in built:
            chain.append(n)
            n = parent[n]
        text = built[n]
        for c in reversed(chain):
            label = self.labels[frame[c]]
            text = f"{text};{label}" if text else label
            built[c] = text
        return built[node] or NO_FRAME.function


def render_folded(profile: Profile) -> str:
    folded = FoldedStacks(profile)
    lines = [(v, folded(n)) for n, v in enumerate(profile.live_bytes) if v]
    lines.sort(key=lambda item: (-item[0], item[1]))
    return "".join(f"{stack} {value}\n" for value, stack in lines)


register(ReportFormat("collapsed", "profile", render_folded))
