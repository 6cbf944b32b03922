"""Every use of TensorFlow's private internals in skann, in one place (TensorFlow 2.21).

Nothing here imports TensorFlow unless Keras runs on it.
"""

from __future__ import annotations

import contextlib
import functools
import inspect
import re
import threading

import keras

from skann._scopes import ThreadScope


def raw_variable_reader():
    """TensorFlow's raw variable read (one op, no tape or autocast bookkeeping, ~9 µs), or
    None on other backends and other TensorFlow layouts."""
    if keras.backend.backend() != "tensorflow":
        return None
    try:
        from tensorflow.python.ops.gen_resource_variable_ops import read_variable_op
    except ImportError:  # pragma: no cover - another TensorFlow layout
        return None
    return read_variable_op


# Keras' counters in names: "sequential_3/dense_9/kernel", "adam_7/sequential_3_dense_9_kernel_momentum".
_COUNTERS = re.compile(r"_\d+(?=$|[/_])")
_NAMING = ThreadScope()
_INSTALL = threading.Lock()


def reusable_variable_kernels():
    """While skann builds, loads and trains networks (TensorFlow only), a new variable's handle
    op is labelled with its name less Keras' counters (``sequential/dense/kernel``).

    TensorFlow keys its cache of eager kernels on every attribute of an op, the variable
    handle's debug label included, and Keras' names are unique to each network: every
    variable of every fit missed the cache (~0.5 ms each here, ~20 per fit of a small MLP,
    about 40% of a 1-epoch fit) and grew it for good. The label is TensorFlow's diagnostic
    name only: the variable's ``name``, Keras' paths and saved files are untouched, and
    variables made outside these calls (or in other threads) keep TensorFlow's label.
    """
    if keras.backend.backend() != "tensorflow" or not _install_label_rewrite():
        return contextlib.nullcontext()
    return _NAMING


def _install_label_rewrite() -> bool:
    """Wrap TensorFlow's variable-handle maker once (it reads the depth set above); False where
    this TensorFlow makes handles another way (then nothing changes)."""
    from tensorflow.python.ops import resource_variable_ops

    with _INSTALL:
        make = getattr(resource_variable_ops, "_variable_handle_from_shape_and_dtype", None)
        if make is None:  # pragma: no cover - another TensorFlow layout
            return False
        if getattr(make, "_skann_labels", False):
            return True
        expected = ["shape", "dtype", "shared_name", "name", "graph_mode"]
        if list(inspect.signature(make).parameters)[:5] != expected:  # pragma: no cover - another TensorFlow
            return False

        @functools.wraps(make)
        def handle(shape, dtype, shared_name, name, graph_mode, *args, **kwargs):
            if not graph_mode and isinstance(name, str) and _NAMING.active:
                name = _COUNTERS.sub("", name)
            return make(shape, dtype, shared_name, name, graph_mode, *args, **kwargs)

        handle._skann_labels = True
        resource_variable_ops._variable_handle_from_shape_and_dtype = handle
        return True
