"""The %%leaktrace cell magic, run through an IPython InteractiveShell."""

from __future__ import annotations

import pytest
from IPython.core.interactiveshell import InteractiveShell


@pytest.fixture(scope="module")
def shell() -> InteractiveShell:
    sh = InteractiveShell.instance()
    sh.run_line_magic("load_ext", "leaktrace")
    return sh


def test_magic_reports_growth(shell: InteractiveShell, capsys: pytest.CaptureFixture) -> None:
    shell.run_cell("kept = []")
    shell.run_cell_magic("leaktrace", "-n 6", "kept.append(bytearray(3000))\n")
    out = capsys.readouterr().out
    assert out.startswith("leaktrace: 1 leaking sites\n")
    assert "leaking +3.0 KiB/iteration" in out
    assert "<leaktrace cell>:1 in <module>" in out
    assert len(shell.user_ns["kept"]) == 7  # one warm-up and six measured runs


def test_magic_reports_live_memory(shell: InteractiveShell, capsys: pytest.CaptureFixture) -> None:
    shell.run_cell_magic("leaktrace", "", "blob = bytearray(20_000)\n")
    out = capsys.readouterr().out
    assert out.startswith("leaktrace: no leaking site; 19.6 KiB still live in 1 sites\n")
    assert "<leaktrace cell>:1 in <module>" in out
    assert len(shell.user_ns["blob"]) == 20_000
