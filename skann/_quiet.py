"""Import TensorFlow without its start-up log spam, without hiding real errors.

TensorFlow's C++ start-up notices (oneDNN, missing CUDA drivers, CPU instruction sets, the
failed ``cuInit`` on machines without a GPU) are written to file descriptor 2 before absl
logging is initialised, so ``TF_CPP_MIN_LOG_LEVEL`` cannot silence them. We capture fd 2
while TensorFlow imports and initialises its devices, drop the lines we know to be harmless
notices, and write every other line back to stderr.

Set the environment variable ``SKANN_TF_LOGS=1`` to see TensorFlow's start-up output unfiltered.
"""

from __future__ import annotations

import contextlib
import logging
import os
import re
import sys
import tempfile
import threading

# Harmless start-up notices of TensorFlow's CPU builds.
_BENIGN = re.compile(
    r"All log messages before absl::InitializeLog\(\) is called"
    r"|oneDNN custom operations are on"
    r"|Could not find cuda drivers on your machine"
    r"|cpu_feature_guard\.cc"
    r"|^To enable the following instructions:"
    r"|failed call to cuInit"
    r"|Unable to register cu(DNN|FFT|BLAS) factory"
    r"|computation placer already registered"
    r"|TF-TRT Warning: Could not find TensorRT"
)


def _filtered(text: str) -> str:
    return "".join(line for line in text.splitlines(keepends=True) if not _BENIGN.search(line))


def import_tensorflow_quietly() -> None:
    if "tensorflow" in sys.modules or os.environ.get("SKANN_TF_LOGS") == "1":
        quiet_python_loggers()
        return
    with tensorflow_starting_quietly():
        import tensorflow  # noqa: F401


@contextlib.contextmanager
def tensorflow_starting_quietly():
    """Around TensorFlow's import (``import tensorflow``, or its loader running): its start-up
    notices filtered, its devices probed (their notices too), its Python logger quieted."""
    with tensorflow_startup_filtered():
        yield
        sys.modules["tensorflow"].config.list_physical_devices()  # device probing prints its notices now
    quiet_python_loggers()


@contextlib.contextmanager
def tensorflow_startup_filtered():
    """While TensorFlow imports and probes its devices: its harmless start-up notices dropped
    from file descriptor 2, every other line written back to stderr afterwards."""
    if os.environ.get("SKANN_TF_LOGS") == "1":
        yield
        return
    # C++ INFO lines off once absl is up; WARNING and ERROR lines still show.
    os.environ.setdefault("TF_CPP_MIN_LOG_LEVEL", "1")
    try:
        sys.stderr.flush()
        saved_fd = os.dup(2)
    except (OSError, ValueError):  # no usable fd 2 (some embedded interpreters)
        yield
        return
    with tempfile.TemporaryFile(mode="w+b") as capture:
        os.dup2(capture.fileno(), 2)
        try:
            yield
        finally:
            os.dup2(saved_fd, 2)
            os.close(saved_fd)
            capture.seek(0)
            leftover = _filtered(capture.read().decode("utf-8", errors="replace"))
            if leftover:
                sys.stderr.write(leftover)
                sys.stderr.flush()


_remapping_lock = threading.Lock()
_remapping_users = 0
_remapping_before = None


@contextlib.contextmanager
def float64_graphs_quietly():
    """Run TensorFlow graphs of float64 ops without the grappler remapper's warning.

    For every matmul-plus-bias in float64 the remapper logs "Not handling type DT_DOUBLE"
    (a C++ warning, which no logger setting filters) and fuses nothing, as oneDNN has no
    float64 kernels. It is switched off while such graphs are first run (where TensorFlow
    optimises them), counted across threads, and restored after the last one.
    """
    global _remapping_users, _remapping_before
    from skann._backend import configured_backend

    if configured_backend() != "tensorflow":  # grappler only optimises TensorFlow's graphs
        yield
        return
    import tensorflow as tf

    with _remapping_lock:
        if _remapping_users == 0:
            _remapping_before = tf.config.optimizer.get_experimental_options().get("remapping", True)
            tf.config.optimizer.set_experimental_options({"remapping": False})
        _remapping_users += 1
    try:
        yield
    finally:
        with _remapping_lock:
            _remapping_users -= 1
            if _remapping_users == 0:
                tf.config.optimizer.set_experimental_options({"remapping": _remapping_before})


def quiet_python_loggers() -> None:
    # tf.function retracing notices are WARNINGs on TensorFlow's Python logger; real errors
    # are ERROR records or exceptions and still get through.
    logging.getLogger("tensorflow").setLevel(logging.ERROR)
