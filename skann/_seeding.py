"""Seeding for reproducible builds and fits: Python, NumPy and Keras, restored afterwards."""

from __future__ import annotations

import contextlib
import random
import threading

import numpy as np

from skann._keras_compat import set_random_seed

__all__ = ["seeded"]


@contextlib.contextmanager
def seeded(seed: int | None):
    """Seed Python, NumPy and Keras for reproducible builds and fits.

    The caller's Python and NumPy random states are restored afterwards, so unseeded fits
    elsewhere stay unseeded. TensorFlow's global seed is not touched (see
    :func:`skann._keras_compat.set_random_seed`).
    """
    if seed is None:
        yield
        return
    with _SEEDING:  # the random states are the process's: seeded fits in threads take turns
        with _seeded(seed):
            yield


# Reentrant: a seeded fit may build or fit another seeded estimator inside.
_SEEDING = threading.RLock()


@contextlib.contextmanager
def _seeded(seed: int):
    py_state, np_state = random.getstate(), np.random.get_state()
    try:
        set_random_seed(seed)
        yield
    finally:
        random.setstate(py_state)
        np.random.set_state(np_state)
