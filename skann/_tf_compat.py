"""Every use of TensorFlow's private internals in skann, in one place (TensorFlow 2.21).

Nothing here imports TensorFlow unless Keras runs on it.
"""

from __future__ import annotations

import contextlib
import functools
import inspect
import re
import threading
import weakref

import keras

from skann._scopes import ThreadScope


def bound_variable_reader(variable):
    """A function of no arguments that returns the current value of ``variable`` (a
    ``tf.Variable``) as a read-only NumPy view of a fresh read (zero-copy: TensorFlow copies
    on a later write, so the view never changes under us). TensorFlow's ``ReadVariableOp``
    executed directly on the variable's handle, bound once (~6 µs a read here, against ~20 µs
    through Keras' ``.value``, TensorFlow's generated op function and ``.numpy()``: a third of
    a 1-row prediction) and kept while the variable lives. None on other backends, for
    anything but a resource variable, and on other TensorFlow layouts."""
    key = id(variable)
    bound = _BOUND_READERS.get(key)
    if bound is not None and bound[0]() is variable:
        return bound[1]
    parts = _eager_execution()
    if parts is None:
        return None
    handle, dtype = getattr(variable, "handle", None), getattr(variable, "dtype", None)
    if handle is None or not hasattr(variable, "read_value") or not hasattr(dtype, "as_datatype_enum"):
        return None
    run, eager_context = parts
    inputs, attrs = [handle], ("dtype", dtype.as_datatype_enum)

    def read():
        view = run(eager_context()._handle, None, "ReadVariableOp", inputs, attrs, 1)[0]._numpy_internal()
        view.flags.writeable = False  # it shares the variable's memory until the next write
        return view

    # The entry goes with the variable (its id may then serve another object).
    _BOUND_READERS[key] = (weakref.ref(variable, lambda _: _BOUND_READERS.pop(key, None)), read)
    return read


_BOUND_READERS: dict[int, tuple] = {}


@functools.cache
def _eager_execution():
    """TensorFlow's C entry point that runs one op eagerly and the function giving the eager
    context it runs in, or None."""
    if keras.backend.backend() != "tensorflow":
        return None
    try:
        from tensorflow.python import pywrap_tfe
        from tensorflow.python.eager import context
        from tensorflow.python.framework.ops import EagerTensor
    except ImportError:  # pragma: no cover - another TensorFlow layout
        return None
    if not hasattr(EagerTensor, "_numpy_internal"):  # pragma: no cover - another TensorFlow
        return None
    context.context().ensure_initialized()
    return pywrap_tfe.TFE_Py_Execute, context.context


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
