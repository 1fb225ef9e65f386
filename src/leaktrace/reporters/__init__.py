"""Reports for other tools and for the browser, all built from one Profile (model.py).

``export(path, fmt)`` streams the capture through the C analyzer once and renders one
of EXPORT_FORMATS. pprof is binary; the others are text.
"""

from __future__ import annotations

import os

from .model import Profile, load_profile

EXPORT_FORMATS = ("pprof", "collapsed", "speedscope", "html")
BINARY_FORMATS = frozenset({"pprof"})


def render_profile(profile: Profile, fmt: str) -> bytes:
    """One of EXPORT_FORMATS, encoded (text as UTF-8)."""
    if fmt == "pprof":
        from .pprof import render_pprof

        return render_pprof(profile)
    if fmt == "collapsed":
        from .folded import render_folded

        return render_folded(profile).encode()
    if fmt == "speedscope":
        from .speedscope import render_speedscope

        return render_speedscope(profile).encode()
    if fmt == "html":
        from .html import render_html

        return render_html(profile).encode()
    raise ValueError(f"unknown export format {fmt!r}")


def export(
    path: str | os.PathLike[str], fmt: str, *, include_all: bool = False
) -> tuple[Profile, bytes]:
    """Analyses a capture and renders it; returns the profile too (for its partial note)."""
    profile = load_profile(path, include_all=include_all)
    return profile, render_profile(profile, fmt)


__all__ = ["BINARY_FORMATS", "EXPORT_FORMATS", "Profile", "export", "load_profile"]
