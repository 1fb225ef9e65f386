"""speedscope's JSON file format (https://www.speedscope.app/file-format-schema.json).

Three sampled profiles share one frame list: bytes still alive at the last snapshot
(leaked), bytes alive at the snapshot with the highest tracked heap (peak), and bytes
allocated since tracking began. Each stack is listed once per profile, root first,
weighted by its bytes; stacks weighing nothing are left out.
"""

from __future__ import annotations

import json

from .. import __version__
from ..reading.model import NO_FRAME, Frame
from ..reading.profile import Profile
from . import ReportFormat, register

SCHEMA = "https://www.speedscope.app/file-format-schema.json"


def speedscope_document(profile: Profile) -> dict[str, object]:
    frames: list[dict[str, object]] = []
    index: dict[int, int] = {}  # profile frame -> speedscope frame
    parent, frame_of = profile.parent, profile.frame
    stacks: dict[int, list[int]] = {0: []}  # node -> speedscope frames, root first

    def stack(node: int) -> list[int]:
        chain = []
        n = node
        while n not in stacks:
            chain.append(n)
            n = parent[n]
        built = stacks[n]
        for c in reversed(chain):
            f = frame_of[c]
            i = index.get(f)
            if i is None:
                i = index[f] = len(frames)
                frames.append(_frame_entry(profile.frames[f]))
            built = [*built, i]
            stacks[c] = built
        if not built:  # the root's own values (--all)
            i = index.get(-1)
            if i is None:
                i = index[-1] = len(frames)
                frames.append(_frame_entry(NO_FRAME))
            built = [i]
        return built

    order = profile.nodes_by_size()
    node_stacks = [stack(n) for n in order]

    def sampled(name: str, weights_of: list[int]) -> dict[str, object]:
        samples, weights = [], []
        for node, node_stack in zip(order, node_stacks, strict=True):
            weight = weights_of[node]
            if weight:
                samples.append(node_stack)
                weights.append(weight)
        return {
            "type": "sampled",
            "name": name,
            "unit": "bytes",
            "startValue": 0,
            "endValue": sum(weights),
            "samples": samples,
            "weights": weights,
        }

    peak = profile.peak
    command = profile.meta.get("command", profile.path)
    return {
        "$schema": SCHEMA,
        "shared": {"frames": frames},
        "profiles": [
            sampled(f"leaked: alive at snapshot #{profile.last.seq}", profile.live_bytes),
            sampled(
                f"peak: alive at snapshot #{peak.seq} ({peak.time_ns / 1e9:.3f} s)",
                profile.peak_bytes,
            ),
            sampled("allocated since the start", profile.alloc_bytes),
        ],
        "name": f"leaktrace: {command}",
        "activeProfileIndex": 0,
        "exporter": f"leaktrace {__version__}",
    }


def _frame_entry(frame: Frame) -> dict[str, object]:
    entry: dict[str, object] = {"name": frame.function}
    if frame.file:  # markers have none
        entry["file"] = frame.file
    if frame.line > 0:
        entry["line"] = frame.line
    return entry


def render_speedscope(profile: Profile) -> str:
    return json.dumps(speedscope_document(profile), separators=(",", ":")) + "\n"


register(ReportFormat("speedscope", "profile", render_speedscope))
