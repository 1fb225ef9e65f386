"""Reading captures: one model (:mod:`.model`), one trimming policy (:mod:`.frames`).

:class:`Capture` (random access) and :func:`load_profile` (one streaming pass into a
tree of stacks) are the two ways to read a capture; both give the model's types.
The analyses of what was read live next to them: growth over snapshots
(:mod:`.growth`), differences between snapshots (:mod:`.compare`), reference paths
(:mod:`.retention`), a process and its children (:mod:`.family`) and the names of
native frames (:mod:`.symbols`).
"""

from __future__ import annotations

from .capture import Capture, CaptureError
from .model import Excluded, Frame, Site, Snapshot, TimelinePoint, partial_note
from .profile import Profile, load_profile

__all__ = [
    "Capture",
    "CaptureError",
    "Excluded",
    "Frame",
    "Profile",
    "Site",
    "Snapshot",
    "TimelinePoint",
    "load_profile",
    "partial_note",
]
