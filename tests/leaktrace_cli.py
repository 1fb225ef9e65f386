"""The one way tests run the ``leaktrace`` command: ``python -m leaktrace ARGS``.

Tests take it as the ``leaktrace_cli`` fixture (conftest.py); module-level helpers
and module-scoped fixtures import :func:`run` from here.
"""

from __future__ import annotations

import os
import subprocess
import sys
from collections.abc import Mapping


def command(*args: object) -> list[str]:
    """The argv of ``leaktrace ARGS`` with this interpreter."""
    return [sys.executable, "-m", "leaktrace", *map(str, args)]


def run(
    *args: object,
    cwd: str | os.PathLike[str] | None = None,
    env: Mapping[str, str] | None = None,
    timeout: float = 60,
    input: str | None = None,
) -> subprocess.CompletedProcess[str]:
    """Runs ``leaktrace ARGS``; never raises for its exit status."""
    return subprocess.run(
        command(*args),
        capture_output=True,
        text=True,
        timeout=timeout,
        cwd=cwd,
        env=None if env is None else dict(env),
        input=input,
        check=False,
    )
