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
    return build_extension(TESTEXT_SOURCE, out_dir)


def build_extension(source: Path, out_dir: Path) -> Path:
    """Compiles a one-file test extension (named after its source) into out_dir."""
    cc = shlex.split(sysconfig.get_config_var("CC") or "cc")
    suffix = sysconfig.get_config_var("EXT_SUFFIX") or ".so"
    target = out_dir / f"{source.stem}{suffix}"
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
    command += [str(source), "-o", str(target)]
    proc = subprocess.run(command, capture_output=True, text=True, check=False)
    if proc.returncode != 0:
        raise RuntimeError(
            f"building {source.stem} failed ({proc.returncode}): {shlex.join(command)}\n"
            f"{proc.stdout}{proc.stderr}"
        )
    return target


def load_testext(path: Path, name: str = "ltx_testext") -> ModuleType:
    spec = importlib.util.spec_from_file_location(name, path)
    assert spec is not None and spec.loader is not None
    module = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(module)
    sys.modules[name] = module
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


@pytest.fixture
def leaktrace_cli():
    """Runs the ``leaktrace`` command: ``leaktrace_cli("report", path, cwd=...)``."""
    import leaktrace_cli

    return leaktrace_cli.run


@pytest.fixture(autouse=True)
def _no_tracking_left():
    """Stops a session a failed test left running, so that the next test can start."""
    yield
    from leaktrace import _core

    if _core.is_tracking():
        _core.stop()


NATIVE_SOURCE = TESTEXT_DIR / "ltx_native.c"


@pytest.fixture(scope="session")
def native_ext_path(tmp_path_factory: pytest.TempPathFactory) -> Path:
    """ltx_native (C library allocations) built into its own directory."""
    return build_extension(NATIVE_SOURCE, tmp_path_factory.mktemp("native"))


@pytest.fixture
def native_ext(native_ext_path: Path):
    """ltx_native, loaded once; every block it holds is freed after the test."""
    module = sys.modules.get("ltx_native") or load_testext(native_ext_path, "ltx_native")
    yield module
    module.free_all()


TABLE_SOURCE = TESTEXT_DIR / "ltx_table.c"


@pytest.fixture(scope="session")
def table_ext_path(tmp_path_factory: pytest.TempPathFactory) -> Path:
    """ltx_table (allocator tables in data, Holder objects) built into its own directory."""
    return build_extension(TABLE_SOURCE, tmp_path_factory.mktemp("table"))


@pytest.fixture
def table_ext(table_ext_path: Path):
    """ltx_table, loaded once."""
    module = sys.modules.get("ltx_table") or load_testext(table_ext_path, "ltx_table")
    yield module
    module.free_orphan()
