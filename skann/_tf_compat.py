"""Every use of TensorFlow's private internals in skann, in one place (TensorFlow 2.21).

Nothing here imports TensorFlow unless Keras runs on it.
"""

from __future__ import annotations

import keras


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
