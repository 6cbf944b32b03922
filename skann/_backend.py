"""Imported by every skann module that uses Keras, before it imports Keras.

On the TensorFlow backend, TensorFlow is imported once, without its start-up log spam, and
its thread pools are sized for this process's share of the CPU (joblib and Dask workers).
On JAX and PyTorch nothing of TensorFlow is imported; XLA's CPU threads follow the same share
when it is one thread. ``import skann`` alone stays light, so the command line starts at once.
"""

from __future__ import annotations

import functools
import json
import os
import sys

from skann._quiet import import_tensorflow_quietly
from skann._threads import limit_jax_threads, limit_tensorflow_threads, limit_torch_threads


def configured_backend() -> str:
    """The Keras backend this process will get: Keras' own choice if it is imported, else what
    Keras will read (``KERAS_BACKEND``, then ``keras.json`` in ``KERAS_HOME`` or ``~/.keras``),
    else Keras' default, TensorFlow."""
    keras = sys.modules.get("keras")
    if keras is not None and hasattr(keras, "backend"):
        return keras.backend.backend()
    if os.environ.get("KERAS_BACKEND"):
        return os.environ["KERAS_BACKEND"]
    home = os.environ.get("KERAS_HOME") or os.path.join(os.path.expanduser("~"), ".keras")
    try:
        with open(os.path.join(home, "keras.json")) as f:
            return str(json.load(f).get("backend", "tensorflow"))
    except (OSError, ValueError, AttributeError):
        return "tensorflow"


if configured_backend() == "tensorflow":
    import_tensorflow_quietly()
    limit_tensorflow_threads()  # one share of the CPU per parallel worker (joblib, Dask)
elif configured_backend() == "jax":
    limit_jax_threads()
elif configured_backend() == "torch":
    limit_torch_threads()


def tensorflow():
    """The ``tensorflow`` module, imported quietly and with this process's thread share, for
    the parts of skann that need it on any backend (tf.data feeds, TensorBoard summaries)."""
    if "tensorflow" not in sys.modules:
        import_tensorflow_quietly()
        limit_tensorflow_threads()
    import tensorflow as tf

    return tf


def float64_available() -> bool:
    """Whether skann's networks can compute in float64 when asked: on TensorFlow; on JAX only
    with x64 enabled (without it, JAX silently computes in float32); not through Keras'
    PyTorch fit loop, whose data feed arrives in float32 (the perceptron's weights came out
    float32-rounded there)."""
    backend = configured_backend()
    if backend == "torch":
        return False
    if backend != "jax":
        return True
    import jax

    return bool(jax.config.jax_enable_x64)


@functools.cache
def jax_compiler_options() -> dict | None:
    """XLA options for skann's JAX programs (its training and evaluation programs, and the
    uniform draws of Keras' initializers while skann builds a network), on the CPU: XLA's older
    fusion emitters, LLVM's first optimisation level and LLVM's code in 8 parallel parts. On 2
    cores each made a small network's programs quicker to compile and none slower to run, with
    the same results to float rounding (the parts: bitwise); the figures are in
    docs/backends.md ("XLA's options"). The number of parts is fixed, not the machine's cores,
    so that every process and machine runs the same program. None off the CPU, and where this
    XLA no longer knows the options. Programs of long epochs keep XLA's own options
    (``skann.engine._compiler_options_for``)."""
    import jax
    import numpy as np

    if jax.default_backend() != "cpu":
        return None
    options = {
        "xla_cpu_use_fusion_emitters": False,
        "xla_backend_optimization_level": 1,
        "xla_cpu_parallel_codegen_split_count": 8,
    }
    try:
        jax.jit(lambda x: x + 1, compiler_options=options).lower(np.float32(0)).compile()
    except Exception:
        return None
    return options
