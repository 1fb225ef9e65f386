"""Loads ltx_native (path in argv[1]) after tracking began, and leaks through it."""

import importlib.util
import sys

spec = importlib.util.spec_from_file_location("ltx_native", sys.argv[1])
module = importlib.util.module_from_spec(spec)
spec.loader.exec_module(module)
handle = module.malloc(int(sys.argv[2]))  # LATE-SITE
