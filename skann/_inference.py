"""A NumPy forward pass for the Keras models skann builds.

Keras' ``predict_on_batch`` costs about a millisecond per call whatever the batch size (a
TensorFlow function call plus conversions); the same dense network evaluated with NumPy
takes tens of microseconds for one row. :func:`numpy_forward` compiles a model into a NumPy
function when every layer in it is one we can evaluate exactly (Dense with a standard
activation, Normalization, Flatten, Concatenate, Dropout, Activation, all in float32 or all
in float64), and
returns None otherwise, so that callers fall back to Keras. Weights are read from the model
at every call, so the NumPy path can never serve stale weights.
"""

from __future__ import annotations

import skann._backend  # noqa: F401  (first: quiet TensorFlow import on its backend, thread limits)
from collections.abc import Callable

import keras
import numpy as np
from scipy.special import expit

from skann._keras_compat import backend_variable, dense_kernel, functional_graph, run_through_graph
from skann._tf_compat import bound_variable_reader

_SELU_ALPHA = np.float32(1.6732632423543772)
_SELU_SCALE = np.float32(1.0507009873554805)


def _softmax(x: np.ndarray) -> np.ndarray:
    e = np.exp(x - x.max(axis=-1, keepdims=True))
    return e / e.sum(axis=-1, keepdims=True)


# Keras activation functions (with their default arguments) -> NumPy equivalents.
_ACTIVATIONS: dict[Callable, Callable[[np.ndarray], np.ndarray]] = {
    keras.activations.linear: lambda x: x,
    keras.activations.relu: lambda x: np.maximum(x, np.float32(0)),
    keras.activations.sigmoid: lambda x: expit(x),
    keras.activations.softmax: _softmax,
    keras.activations.tanh: np.tanh,
    keras.activations.elu: lambda x: np.where(x > 0, x, np.expm1(x)),
    keras.activations.selu: lambda x: _SELU_SCALE * np.where(x > 0, x, _SELU_ALPHA * np.expm1(x)),
    keras.activations.softplus: lambda x: np.logaddexp(np.float32(0), x),
}


def weight_reader(value) -> Callable[[], np.ndarray]:
    """A function of no arguments that returns the current value of a Keras variable (or a
    constant tensor) as an array of its dtype, bound to it once: every call reads anew.

    With TensorFlow this is a zero-copy read-only view of a fresh read (TensorFlow copies on
    a later write, so the view never changes under us); ``.numpy()`` would copy, 0.1 ms for a
    784x300 kernel. Anything else takes the plain route; an array that shares a tensor's
    memory (PyTorch's on the CPU) is read-only too.
    """
    if isinstance(value, keras.Variable):
        backing = backend_variable(value)
        read = bound_variable_reader(backing) if backing is not None else None
        if read is not None:

            def read_bound():
                if backend_variable(value) is not backing:  # never seen; then the general route
                    return _current_value(value)
                return read()

            return read_bound
    return lambda: _current_value(value)


def weight_value(value) -> np.ndarray:
    """Current value of a Keras variable (or a constant tensor) as an array of its dtype
    (:func:`weight_reader`, read once)."""
    return weight_reader(value)()


def _current_value(value) -> np.ndarray:
    if isinstance(value, keras.Variable):
        value = value.value
    tensor = value.read_value() if hasattr(value, "read_value") else value
    numpy_view = getattr(tensor, "_numpy", None)
    detach = getattr(tensor, "detach", None)  # PyTorch: a parameter that requires grad
    if numpy_view is None and detach is None:
        return np.asarray(tensor)  # (JAX's arrays come read-only)
    # TensorFlow's view, or PyTorch's array on the CPU, shares the tensor's memory.
    view = numpy_view() if numpy_view is not None else detach().cpu().numpy()
    view.flags.writeable = False
    return view


def _dense(layer) -> Callable | None:
    if getattr(layer, "lora_enabled", False) or getattr(layer, "quantization_mode", None):
        return None
    activation = _ACTIVATIONS.get(layer.activation)
    if activation is None:
        return None
    kernel = weight_reader(dense_kernel(layer))
    bias = None if layer.bias is None else weight_reader(layer.bias)

    def call(x, **_):
        out = x @ kernel()
        if bias is not None:
            out += bias()
        return activation(out)

    return call


def _normalization(layer) -> Callable | None:
    if layer.invert or layer.mean is None:
        return None
    dtype = np.dtype(layer.dtype_policy.compute_dtype)
    epsilon = dtype.type(keras.config.epsilon())
    mean, variance = weight_reader(layer.mean), weight_reader(layer.variance)

    def call(x, **_):
        scale = np.maximum(np.sqrt(variance()), epsilon)
        return (np.asarray(x, dtype) - mean()) / scale

    return call


def _flatten(layer) -> Callable | None:
    if layer.data_format != "channels_last":
        return None
    return lambda x, **_: np.reshape(x, (len(x), -1))


def _concatenate(layer) -> Callable | None:
    return lambda xs, **_: np.concatenate(xs, axis=layer.axis)


def _activation(layer) -> Callable | None:
    activation = _ACTIVATIONS.get(layer.activation)
    return None if activation is None else (lambda x, **_: activation(x))


_LAYERS: dict[type, Callable] = {
    keras.layers.Dense: _dense,
    keras.layers.Normalization: _normalization,
    keras.layers.Flatten: _flatten,
    keras.layers.Concatenate: _concatenate,
    keras.layers.Dropout: lambda layer: (lambda x, **_: x),
    keras.layers.Activation: _activation,
}


def _as_input(x, dtype) -> np.ndarray:
    x = np.asarray(x, dtype=dtype)
    return x.reshape(-1, 1) if x.ndim == 1 else x


def numpy_forward(model: keras.Model) -> Callable | None:
    """Compile ``model`` into a NumPy function of its inputs, or None if any part is unsupported.

    The function takes what the model takes (an array, or a list of arrays for several
    inputs) and returns what ``model.predict_on_batch`` returns, in the model's dtype.
    """
    graph = functional_graph(model)
    if graph is None:
        return None
    calls = {}
    # (Keras builds ``graph.layers`` anew at every access: once here.)
    layers = [layer for layer in graph.layers if not isinstance(layer, keras.layers.InputLayer)]
    policies = {layer.dtype_policy.name for layer in layers}
    if len(policies) != 1 or not policies <= {"float32", "float64"}:
        return None
    dtype = np.dtype(policies.pop())
    for layer in layers:
        make = _LAYERS.get(type(layer))
        if make is None:
            return None
        call = make(layer)
        if call is None:
            return None
        calls[id(layer)] = call

    if type(model) is keras.Sequential:
        chain = [calls[id(layer)] for layer in model.layers]

        def forward_chain(inputs):
            # A chain of layers: no graph walk (a third of the time of a 1-row prediction).
            x = _as_input(inputs, dtype)
            for call in chain:
                x = call(x)
            return x

        return forward_chain

    def forward(inputs):
        # As Keras does: arrays of the model's dtype, a 1-D input is one column, and a model
        # whose outputs are a list of one gives that one array.
        inputs = keras.tree.map_structure(lambda x: _as_input(x, dtype), inputs)
        if isinstance(inputs, tuple):
            inputs = list(inputs)
        outputs = run_through_graph(graph, inputs, lambda layer: calls[id(layer)])
        if isinstance(outputs, (list, tuple)) and len(outputs) == 1:
            return outputs[0]
        return outputs

    return forward
