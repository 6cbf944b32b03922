"""Shared fixtures: where the real data lives, and small fast estimator settings."""

from __future__ import annotations

import os
from pathlib import Path

import numpy as np
import pytest

# XLA's executables shared by the test processes (pytest-xdist workers, subprocess tests):
# each small network compiles once per run instead of once per process.
os.environ.setdefault(
    "SKANN_COMPILATION_CACHE", os.path.join(__import__("tempfile").gettempdir(), "skann-tests-xla-cache")
)

import skann._backend  # noqa: F401  (first: the backend, TensorFlow imported quietly on its own)
import keras

BACKEND = keras.backend.backend()

tensorflow_only = pytest.mark.skipif(
    BACKEND != "tensorflow",
    reason=f"TensorFlow's execution of Keras' fit loop (multi-step execution, tf.function traces); the backend here is {BACKEND}",
)

# A test whose work does not depend on this process's backend (its subprocesses choose their
# own, or it never trains) does the same work in each backend's run of the README's test
# command: it runs in the JAX run only.
backend_independent = pytest.mark.skipif(
    BACKEND != "jax", reason="does the same work whatever this process's backend: it runs in the JAX run"
)

REPO = Path(__file__).resolve().parents[1]


def _real_data_dir() -> Path | None:
    env = os.environ.get("SKANN_DATA")
    candidates = [Path(env)] if env else []
    candidates.append(REPO.parent / "shared" / "data")
    for path in candidates:
        if (path / "fashion-mnist").is_dir() and (path / "california-housing").is_dir():
            return path
    return None


REAL_DATA = _real_data_dir()

requires_real_data = pytest.mark.skipif(
    REAL_DATA is None,
    reason="the complete real datasets are not here: set SKANN_DATA to a folder holding "
    "fashion-mnist/ and california-housing/ (CI uses ../shared/data)",
)


def _float64_available() -> bool:
    from skann._backend import float64_available

    return float64_available()


requires_float64 = pytest.mark.skipif(
    not _float64_available(),
    reason="the backend computes in float32 here (JAX without x64: JAX_ENABLE_X64=1 enables float64; "
    "Keras' PyTorch loop), and exact parity with scikit-learn's SGD needs float64",
)


@pytest.fixture(scope="session")
def real_data_dir() -> Path:
    if REAL_DATA is None:
        pytest.skip("real datasets not available (set SKANN_DATA)")
    return REAL_DATA


@pytest.fixture
def no_data_env(monkeypatch, tmp_path):
    """No SKANN_DATA and an empty home: only what a test passes explicitly is found."""
    monkeypatch.delenv("SKANN_DATA", raising=False)
    monkeypatch.setenv("HOME", str(tmp_path / "home"))
    monkeypatch.setenv("SCIKIT_LEARN_DATA", str(tmp_path / "sklearn_data"))
    return tmp_path


@pytest.fixture(scope="session")
def fashion_sample():
    from skann.datasets import load_fashion_mnist

    return load_fashion_mnist(sample=True)


@pytest.fixture(scope="session")
def housing_sample():
    from skann.datasets import load_california_housing

    return load_california_housing(sample=True, return_X_y=True)


@pytest.fixture(scope="session")
def blobs():
    """A small, easy 3-class problem with 4 features."""
    rng = np.random.RandomState(0)
    centers = rng.normal(scale=4.0, size=(3, 4))
    y = np.repeat([0, 1, 2], 40)
    X = centers[y] + rng.normal(size=(120, 4))
    perm = rng.permutation(len(y))
    return X[perm].astype(np.float32), y[perm]


def tf_threads_probe():
    """A function reporting the backend's thread limit where it runs (a worker): TensorFlow's
    or PyTorch's intra-op thread count, or 1 on JAX when XLA's CPU client was kept to one thread.

    A closure, so that cloudpickle ships it by value: workers need not import the tests.
    """

    def probe():
        import os

        import skann  # noqa: F401  (what unpickling a skann estimator imports in a worker)
        import keras

        if keras.backend.backend() == "torch":
            import torch

            return torch.get_num_threads()
        if keras.backend.backend() != "tensorflow":
            return 1 if "xla_cpu_multi_thread_eigen=false" in os.environ.get("XLA_FLAGS", "") else 0
        import tensorflow as tf

        return tf.config.threading.get_intra_op_parallelism_threads()

    return probe
