"""speedscope's JSON file format (https://www.speedscope.app/file-format-schema.json).

Three sampled profiles share one frame list: bytes still alive at the last snapshot
(leaked), bytes alive at the snapshot with the highest tracked heap (peak), and bytes
allocated since tracking began. Each stack is listed once per profile, root first,
weighted by its bytes; stacks weighing nothing are left out.
"""

from __future__ import annotations

import json
from collections.abc import Callable

from .. import __version__
from ..capture import Frame
from .folded import NO_FRAME, TRUNCATED
from .model import Profile, Sample

SCHEMA = "https://www.speedscope.app/file-format-schema.json"


def speedscope_document(profile: Profile) -> dict[str, object]:
    frames: list[dict[str, object]] = []
    index: dict[object, int] = {}

    def frame_id(key: object, entry: dict[str, object]) -> int:
        i = index.get(key)
        if i is None:
            i = index[key] = len(frames)
            frames.append(entry)
        return i

    def stack_ids(sample: Sample) -> list[int]:
        ids = [frame_id(TRUNCATED, {"name": TRUNCATED})] if sample.truncated else []
        for f in reversed(sample.frames):
            ids.append(frame_id(f, _frame_entry(f)))
        return ids or [frame_id(NO_FRAME, {"name": NO_FRAME})]

    stacks = [stack_ids(s) for s in profile.samples]

    def sampled(name: str, weight: Callable[[Sample], int]) -> dict[str, object]:
        samples, weights = [], []
        for sample, stack in zip(profile.samples, stacks, strict=True):
            w = weight(sample)
            if w:
                samples.append(stack)
                weights.append(w)
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
            sampled(f"leaked: alive at snapshot #{profile.last.seq}", lambda s: s.live_bytes),
            sampled(
                f"peak: alive at snapshot #{peak.seq} ({peak.time_ns / 1e9:.3f} s)",
                lambda s: s.peak_bytes,
            ),
            sampled("allocated since the start", lambda s: s.alloc_bytes),
        ],
        "name": f"leaktrace: {command}",
        "activeProfileIndex": 0,
        "exporter": f"leaktrace {__version__}",
    }


def _frame_entry(frame: Frame) -> dict[str, object]:
    entry: dict[str, object] = {"name": frame.function, "file": frame.file}
    if frame.line > 0:
        entry["line"] = frame.line
    return entry


def render_speedscope(profile: Profile) -> str:
    return json.dumps(speedscope_document(profile), separators=(",", ":")) + "\n"
