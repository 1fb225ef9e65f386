"""Runs a script with pep445_floor's forwarding hooks installed (bench/suite.py).

Usage: python run.py EXT_DIR SCRIPT [ARGS ...]
"""

import os
import runpy
import sys

ext_dir, script, *args = sys.argv[1:]
sys.path.insert(0, ext_dir)
import pep445_floor  # noqa: E402

pep445_floor.install()
# As `python SCRIPT`: the script's directory first, neither ours nor the extension's.
sys.path[0:2] = [os.path.dirname(os.path.abspath(script))]
sys.argv[:] = [script, *args]
runpy.run_path(script, run_name="__main__")
