"""Every report format, in one registry: a new format is one module of this package.

A format module builds a :class:`ReportFormat` and calls :func:`register` when it is
imported. It renders from one of the two readers of :mod:`leaktrace.reading`:

* ``"capture"`` formats (text, json) get a :class:`~leaktrace.reading.Capture` and
  the ``top`` and ``include_all`` options;
* ``"profile"`` formats (pprof, collapsed, speedscope, html) get the
  :class:`~leaktrace.reading.Profile` of one streaming pass over the capture.

A format's module has the format's name (``json.py`` registers ``json``). Modules are
imported when they are looked up, not with the package: a report imports only its own
format's module.
"""

from __future__ import annotations

import importlib
import os
import pkgutil
from collections.abc import Callable
from dataclasses import dataclass
from typing import TYPE_CHECKING, BinaryIO, Literal

if TYPE_CHECKING:
    from ..reading import Capture, Profile

Source = Literal["capture", "profile"]
_NOT_FORMATS = frozenset({"common"})  # modules of this package that hold no format


@dataclass(frozen=True)
class ReportFormat:
    name: str
    source: Source
    # capture formats: render(capture, *, top, include_all) -> str;
    # profile formats: render(profile) -> str or bytes
    render: Callable[..., str | bytes]
    binary: bool = False  # not text: refused on a terminal
    # capture formats whose text can be written in pieces, never whole in memory:
    # stream(capture, *, top, include_all) does the reading and returns a function that
    # writes what render would return (as UTF-8) to a binary file
    stream: Callable[..., Callable[[BinaryIO], None]] | None = None
    # profile formats that read the capture their own way: load(path, *, include_all)
    # -> Profile (default: reading.load_profile)
    load: Callable[..., Profile] | None = None


_registry: dict[str, ReportFormat] = {}
_loaded = False


def register(fmt: ReportFormat) -> None:
    if fmt.name in _registry and _registry[fmt.name] is not fmt:
        raise ValueError(f"report format {fmt.name!r} is registered twice")
    _registry[fmt.name] = fmt


_modules: tuple[str, ...] | None = None


def _format_modules() -> tuple[str, ...]:
    """The names of this package's format modules, without importing them."""
    global _modules
    if _modules is None:
        _modules = tuple(
            m.name
            for m in pkgutil.iter_modules(__path__)
            if not m.ispkg and m.name not in _NOT_FORMATS
        )
    return _modules


def _load() -> None:
    global _loaded
    if _loaded:
        return
    for name in _format_modules():
        importlib.import_module(f"{__name__}.{name}")
    _loaded = True


# The order of --format choices; a format not listed comes after these, by name.
_ORDER = ("text", "json", "pprof", "collapsed", "speedscope", "html")


def names(source: Source | None = None) -> list[str]:
    """The formats (of one source, or all), in the order of --format choices; every
    format's module is imported only to tell the sources apart."""
    if source is None:
        found = list(_format_modules())
    else:
        _load()
        found = [f.name for f in _registry.values() if f.source == source]
    return sorted(found, key=lambda n: (_ORDER.index(n) if n in _ORDER else len(_ORDER), n))


def get(name: str) -> ReportFormat:
    """The format `name`, its module imported if it was not yet."""
    if name not in _registry and name in _format_modules():
        importlib.import_module(f"{__name__}.{name}")
    try:
        return _registry[name]
    except KeyError:
        raise ValueError(f"unknown report format {name!r}") from None


def render(capture: Capture, fmt: str, *, top: int = 10, include_all: bool = False) -> str:
    """The report of a capture in a capture format (text, json)."""
    report = get(fmt)
    if report.source != "capture":
        raise ValueError(f"{fmt} is rendered from a whole capture file: use export()")
    text = report.render(capture, top=top, include_all=include_all)
    assert isinstance(text, str)
    return text


def streamer(
    capture: Capture, fmt: str, *, top: int = 10, include_all: bool = False
) -> Callable[[BinaryIO], None] | None:
    """For a format that streams: the function that writes the report of a capture to a
    binary file (the capture read already); None for the others."""
    report = get(fmt)
    if report.source != "capture":
        raise ValueError(f"{fmt} is rendered from a whole capture file: use export()")
    if report.stream is None:
        return None
    return report.stream(capture, top=top, include_all=include_all)


def render_profile(profile: Profile, fmt: str) -> bytes:
    """A profile format, encoded (text as UTF-8)."""
    report = get(fmt)
    if report.source != "profile":
        raise ValueError(f"{fmt} is not a profile format")
    data = report.render(profile)
    return data.encode() if isinstance(data, str) else data


def export(
    path: str | os.PathLike[str], fmt: str, *, include_all: bool = False
) -> tuple[Profile, bytes]:
    """Analyses a capture and renders it; returns the profile too (for its partial note)."""
    from ..reading import load_profile

    load = get(fmt).load or load_profile
    profile = load(path, include_all=include_all)
    return profile, render_profile(profile, fmt)


__all__ = [
    "ReportFormat",
    "export",
    "get",
    "names",
    "register",
    "render",
    "render_profile",
    "streamer",
]
