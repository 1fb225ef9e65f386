"""Keeps numpy arrays in a module-level dict: their buffers are malloc'd by numpy."""

import sys

import numpy as np

CACHE: dict[int, np.ndarray] = {}


def fill(count: int, elements: int) -> None:
    for i in range(count):
        CACHE[i] = np.zeros(elements)  # NUMPY-SITE


fill(int(sys.argv[1]), int(sys.argv[2]))
