"""speedscope's JSON file format (https://www.speedscope.app/file-format-schema.json).

Three sampled profiles share one frame list: bytes still alive at the last snapshot
(leaked), bytes alive at the snapshot with the highest tracked heap (peak), and bytes
allocated since tracking began. Each stack is listed once per profile, root first,
weighted by its bytes; stacks weighing nothing are left out.
"""

from __future__ import annotations

import json

from .. import __version__, _core
from ..reading.model import NO_FRAME, Frame
from ..reading.profile import Profile, u64_array
from . import ReportFormat, register

SCHEMA = "https://www.speedscope.app/file-format-schema.json"


def render_speedscope(profile: Profile) -> str:
    """The document, as json.dumps(separators=(",", ":")) writes it. Each profile's
    samples and weights are written in C (_core.speedscope_stacks, which also numbers
    the frames as the stacks first meet them) and spliced in."""
    parent, frame = profile.tree_arrays()
    weights = (profile.live_bytes, profile.peak_bytes, profile.alloc_bytes)
    texts, numbered = _core.speedscope_stacks(
        profile.nodes_by_size(), parent, frame, len(profile.frames), [*map(u64_array, weights)]
    )
    frames = [
        _frame_entry(NO_FRAME if f < 0 else profile.frames[f])
        for f in memoryview(numbered).cast("i")
    ]
    peak = profile.peak
    command = profile.meta.get("command", profile.path)
    names = (
        f"leaked: alive at snapshot #{profile.last.seq}",
        f"peak: alive at snapshot #{peak.seq} ({peak.time_ns / 1e9:.3f} s)",
        "allocated since the start",
    )
    profiles = [
        {
            "type": "sampled",
            "name": name,
            "unit": "bytes",
            "startValue": 0,
            "endValue": sum(values),
            "samples": f"\0samples{i}",
            "weights": f"\0weights{i}",
        }
        for i, (name, values) in enumerate(zip(names, weights, strict=True))
    ]
    doc = {
        "$schema": SCHEMA,
        "shared": {"frames": frames},
        "profiles": profiles,
        "name": f"leaktrace: {command}",
        "activeProfileIndex": 0,
        "exporter": f"leaktrace {__version__}",
    }
    text = json.dumps(doc, separators=(",", ":"))
    pieces, at = [], 0
    for i, value in enumerate(texts):  # the placeholders, in the order they are written
        placeholder = json.dumps(f"\0{('samples', 'weights')[i % 2]}{i // 2}")
        found = text.index(placeholder, at)
        pieces += [text[at:found], value]
        at = found + len(placeholder)
    return "".join([*pieces, text[at:], "\n"])


def _frame_entry(frame: Frame) -> dict[str, object]:
    entry: dict[str, object] = {"name": frame.function}
    if frame.file:  # markers have none
        entry["file"] = frame.file
    if frame.line > 0:
        entry["line"] = frame.line
    return entry


register(ReportFormat("speedscope", "profile", render_speedscope))
