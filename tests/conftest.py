"""Shared fixtures.

``testext`` is the test-only extension ``tests/testext/ltx_testext.c``, built
once per session with the interpreter's own compiler into a temporary
directory. A build failure is an error of every test that uses it: nothing is
skipped. ``LEAKTRACE_SANITIZE`` (as for setup.py) adds ``-fsanitize=...``.
"""

from __future__ import annotations

import importlib.util
import os
import shlex
import subprocess
import sys
import sysconfig
from pathlib import Path
from types import ModuleType

import pytest

TESTEXT_DIR = Path(__file__).resolve().parent / "testext"
TESTEXT_SOURCE = TESTEXT_DIR / "ltx_testext.c"

# ltx_support (helpers of the exact-accounting tests) lives next to the extension.
if str(TESTEXT_DIR) not in sys.path:
    sys.path.insert(0, str(TESTEXT_DIR))


def build_testext(out_dir: Path) -> Path:
    """Compiles ltx_testext into out_dir and returns the shared object's path."""
    cc = shlex.split(sysconfig.get_config_var("CC") or "cc")
    suffix = sysconfig.get_config_var("EXT_SUFFIX") or ".so"
    target = out_dir / f"ltx_testext{suffix}"
    command = [
        *cc,
        "-std=gnu11",
        "-O1",
        "-g",
        "-Wall",
        "-Wextra",
        "-Werror",
        "-Wno-missing-field-initializers",
        "-shared",
        "-fPIC",
        f"-I{sysconfig.get_paths()['include']}",
    ]
    sanitize = os.environ.get("LEAKTRACE_SANITIZE")
    if sanitize:
        command += [f"-fsanitize={sanitize}", "-fno-omit-frame-pointer"]
    command += [str(TESTEXT_SOURCE), "-o", str(target)]
    proc = subprocess.run(command, capture_output=True, text=True, check=False)
    if proc.returncode != 0:
        raise RuntimeError(
            f"building ltx_testext failed ({proc.returncode}): {shlex.join(command)}\n"
            f"{proc.stdout}{proc.stderr}"
        )
    return target


def load_testext(path: Path) -> ModuleType:
    spec = importlib.util.spec_from_file_location("ltx_testext", path)
    assert spec is not None and spec.loader is not None
    module = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(module)
    sys.modules["ltx_testext"] = module
    return module


@pytest.fixture(scope="session")
def testext(tmp_path_factory: pytest.TempPathFactory) -> ModuleType:
    """The ltx_testext module (built on first use in the session)."""
    module = sys.modules.get("ltx_testext")
    if module is None:
        module = load_testext(build_testext(tmp_path_factory.mktemp("testext")))
    return module


@pytest.fixture
def ext(testext: ModuleType):
    """ltx_testext, checked to hold no block before and after the test."""
    assert testext.live_handles() == [], "a previous test left ltx_testext blocks live"
    yield testext
    leftover = testext.live_handles()
    testext.free_all()
    assert leftover == [], "the test left ltx_testext blocks live"


@pytest.fixture(autouse=True)
def _no_tracking_left():
    """Stops a session a failed test left running, so that the next test can start."""
    yield
    from leaktrace import _core

    if _core.is_tracking():
        _core.stop()
