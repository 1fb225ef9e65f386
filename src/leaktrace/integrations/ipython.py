"""The IPython magic ``%%leaktrace`` (``%load_ext leaktrace``).

``%%leaktrace`` runs the cell once under tracking and prints what it left alive.
``%%leaktrace -n 10`` runs the cell 10 more times after a warm-up run and prints the
growth of every leaking site per run, as ``leaktrace.check()`` does. The cell runs in
the notebook's namespace, so what it defines stays defined.
"""

from __future__ import annotations

from typing import Any

from IPython.core.magic import Magics, cell_magic, magics_class
from IPython.core.magic_arguments import argument, magic_arguments, parse_argstring


@magics_class
class LeaktraceMagics(Magics):
    @magic_arguments()
    @argument("-n", "--iterations", type=int, default=0, help="runs to measure growth over")
    @argument("-w", "--warmup", type=int, default=1, help="runs before measuring (with -n)")
    @argument("--top", type=int, default=10, help="sites to show")
    @cell_magic
    def leaktrace(self, line: str, cell: str) -> None:
        """Run the cell under leaktrace and report its leaks (and growth with -n)."""
        from .. import _core
        from ..api import check, track

        args = parse_argstring(self.leaktrace, line)
        if _core.is_tracking():
            print("leaktrace: already tracking this process; the cell was not run")
            return
        shell = self.shell
        assert shell is not None  # a magic runs in a shell
        code = shell.compile(shell.transform_cell(cell), "<leaktrace cell>", "exec")
        namespace = shell.user_ns

        def run() -> None:
            exec(code, namespace)

        if args.iterations:
            if args.iterations < 3:
                print("leaktrace: -n needs at least 3 iterations")
                return
            result = check(run, warmup=args.warmup, iterations=args.iterations)
            print(result.report(top=args.top), end="")
            return
        with track() as t:
            run()
        print(t.report(top=args.top), end="")


def load_ipython_extension(ipython: Any) -> None:
    ipython.register_magics(LeaktraceMagics)
