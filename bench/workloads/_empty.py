"""Not a workload: a script that does nothing, whose run in each mode is that mode's
fixed cost (interpreter start, for leaktrace the second interpreter start and the
capture write), which bench/suite.py reports apart from the per-allocation ratio."""
