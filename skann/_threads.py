"""Size TensorFlow's thread pools to the share of the CPU this process was given.

A parallel search runs one TensorFlow per worker process. By default each of them would
start as many threads as the machine has cores, so ``n_jobs`` workers together oversubscribe
the CPU ``n_jobs`` times over. The parallel back-ends already tell each worker its share,
through the variables the numerical libraries read: joblib's loky workers get
``OMP_NUM_THREADS = cpu_count // n_jobs`` and Dask's nanny-started workers get
``OMP_NUM_THREADS=1``. skann applies the same limit to TensorFlow when it is imported.

``SKANN_NUM_THREADS`` overrides it; with neither variable set TensorFlow keeps its defaults.
"""

from __future__ import annotations

import os
import sys

THREAD_ENV_VARS = ("SKANN_NUM_THREADS", "OMP_NUM_THREADS")


def thread_limit() -> int | None:
    """Threads this process may use, from the environment (None: no limit given)."""
    for name in THREAD_ENV_VARS:
        value = os.environ.get(name, "").strip()
        if value:
            try:
                n = int(value)
            except ValueError:
                continue
            if n >= 1:
                return n
    return None


def limit_tensorflow_threads() -> int | None:
    """Apply :func:`thread_limit` to TensorFlow's intra- and inter-op pools.

    Must run before TensorFlow executes its first operation; afterwards the pools are fixed
    and the limit is skipped (returns None).
    """
    n = thread_limit()
    if n is None:
        return None
    import tensorflow as tf

    try:
        tf.config.threading.set_intra_op_parallelism_threads(n)
        # Small dense networks gain nothing from running independent ops side by side.
        tf.config.threading.set_inter_op_parallelism_threads(min(n, 2))
    except RuntimeError:  # TensorFlow was initialised before skann was imported
        return None
    return n


def limit_jax_threads() -> int | None:
    """With a limit of one thread, keep XLA's CPU client on one thread too (Eigen's pool).

    XLA reads its flags when JAX starts its CPU client, so this works only before that; larger
    limits are left to XLA, which has no flag for a pool size.
    """
    n = thread_limit()
    if n != 1 or "jax" in sys.modules:
        return None
    flags = os.environ.get("XLA_FLAGS", "")
    if "xla_cpu_multi_thread_eigen" not in flags:
        os.environ["XLA_FLAGS"] = (flags + " --xla_cpu_multi_thread_eigen=false").strip()
    return n


def limit_torch_threads() -> int | None:
    """Apply :func:`thread_limit` to PyTorch's intra-op pool (Keras imports PyTorch anyway on
    its backend)."""
    n = thread_limit()
    if n is None:
        return None
    import torch

    torch.set_num_threads(n)
    return n
