"""skann's converters for skl2onnx: a skann estimator's input handling, network and output
decoding as ONNX operators, written from the Keras model's configuration and weights."""

from __future__ import annotations

import numpy as np
from onnx import TensorProto, numpy_helper
from skl2onnx import update_registered_converter
from skl2onnx.common.data_types import (
    DoubleTensorType, FloatTensorType, Int64TensorType, StringTensorType,
)

import keras
from sklearn.preprocessing import FunctionTransformer

from skann._inference import weight_value
from skann._keras_compat import dense_kernel, functional_graph, run_through_graph
from skann.keras_transformer import KerasTransformer
from skann.transformers import FeatureSplitter, ImageFlattener, ImageReshaper, PixelScaler

__all__ = ["estimators_in", "register_converters", "skann_parts"]

_ONNX_TYPES = {np.dtype(np.float32): TensorProto.FLOAT, np.dtype(np.float64): TensorProto.DOUBLE}
_TENSOR_TYPES = {np.dtype(np.float32): FloatTensorType, np.dtype(np.float64): DoubleTensorType}


def estimators_in(model) -> list:
    """``model`` and every estimator inside it (through parameters, such as a Pipeline's steps,
    and fitted attributes, such as a ColumnTransformer's transformers_)."""
    from sklearn.base import BaseEstimator

    from skann.wrappers import BaseWrapper

    found, stack = [], [model]
    while stack:
        obj = stack.pop()
        if isinstance(obj, (list, tuple)):
            stack.extend(obj)
        elif isinstance(obj, BaseEstimator):
            found.append(obj)
            if not isinstance(obj, BaseWrapper):
                stack.extend(obj.get_params(deep=False).values())
                stack.extend(v for k, v in vars(obj).items() if k.endswith("_"))
    return found


def skann_parts(estimators) -> list:
    """The estimators skann converts itself: its estimators (a user's subclass too) and the
    image transformers; skl2onnx converts the rest."""
    from skann.wrappers import BaseWrapper

    return [est for est in estimators if isinstance(est, BaseWrapper) or type(est) in _IMAGE_STEPS]


def register_converters(parts) -> None:
    """Register the class of each of skann's ``parts`` with skl2onnx."""
    from sklearn.base import is_classifier

    for cls, est in {type(est): est for est in parts}.items():
        if cls in _IMAGE_STEPS:
            update_registered_converter(cls, f"Skann{cls.__name__}", _image_shapes, _convert_image_step)
            continue
        classifier = is_classifier(est)
        shapes = _classifier_shapes if classifier else _transformer_shapes if issubclass(cls, KerasTransformer) else _regressor_shapes
        update_registered_converter(
            cls, f"Skann{cls.__name__}", shapes, _convert,
            options={"zipmap": [False, True, "columns"]} if classifier else None,
        )


def _network_dtype(est) -> np.dtype:
    policies = {layer.dtype_policy.compute_dtype for layer in est.model_.layers if not isinstance(layer, keras.layers.InputLayer)}
    if len(policies) != 1 or not policies <= {"float32", "float64"}:
        raise ValueError(f"skann.to_onnx writes networks computing in float32 or float64 throughout; this one uses {sorted(policies)}.")
    return np.dtype(policies.pop())


def _classifier_shapes(operator) -> None:
    est = operator.raw_operator
    n = operator.inputs[0].get_first_dimension()
    labels = StringTensorType([n]) if est.classes_.dtype.kind in "OUS" else Int64TensorType([n])
    operator.outputs[0].type = labels
    operator.outputs[1].type = _TENSOR_TYPES[_network_dtype(est)]([n, _n_probabilities(est)])


def _n_probabilities(est) -> int:
    """Columns of the second output: a class's probability each, or a perceptron's scores."""
    from skann.perceptron import PerceptronBaseline

    return est.model_.outputs[0].shape[-1] if isinstance(est, PerceptronBaseline) else len(est.classes_)


def _regressor_shapes(operator) -> None:
    est = operator.raw_operator
    operator.outputs[0].type = _TENSOR_TYPES[_network_dtype(est)]([operator.inputs[0].get_first_dimension(), est.n_outputs_])


def _transformer_shapes(operator) -> None:
    est = operator.raw_operator
    operator.outputs[0].type = _TENSOR_TYPES[_network_dtype(est)]([operator.inputs[0].get_first_dimension(), est._n_features_out])


class _Writer:
    """Adds ONNX nodes and constants to skl2onnx's graph, each under a unique name."""

    def __init__(self, scope, container, dtype: np.dtype):
        self.scope, self.container, self.dtype = scope, container, dtype

    def const(self, value, hint: str, dtype=None) -> str:
        array = np.asarray(value, dtype=dtype or self.dtype)
        name = self.scope.get_unique_variable_name(hint)
        if array.dtype.kind in "OUS":
            self.container.add_initializer(name, TensorProto.STRING, list(array.shape), [str(v).encode() for v in array.ravel()])
        else:
            self.container.add_initializer(name, None, list(array.shape), numpy_helper.from_array(array))
        return name

    def op(self, op_type: str, inputs: list[str], hint: str, output: str | None = None, **attrs) -> str:
        output = output or self.scope.get_unique_variable_name(hint)
        self.container.add_node(op_type, inputs, [output], name=self.scope.get_unique_operator_name(op_type), **attrs)
        return output


def _convert(scope, operator, container) -> None:
    est = operator.raw_operator
    dtype = _network_dtype(est)
    w = _Writer(scope, container, dtype)
    inputs = _encoded_features(est, w, operator.inputs[0])
    if isinstance(est, KerasTransformer):  # its layer's output, one row per sample
        outputs = _network(est._output_model(est.model_), w, inputs)
        if len(outputs) != 1:
            raise ValueError(f"skann.to_onnx writes a KerasTransformer with one output; layer={est.layer!r} gives {len(outputs)}.")
        w.op("Flatten", outputs, "features", output=operator.outputs[0].full_name, axis=1)
        return
    outputs = _network(est.model_, w, inputs)
    out = outputs[0]  # a model's first output is its prediction (Wide & Deep's second is auxiliary)
    if len(operator.outputs) == 1:  # a regressor
        w.op("Identity", [out], "variable", output=operator.outputs[0].full_name)
        return
    _decoded_classes(est, w, out, operator.outputs[0].full_name, operator.outputs[1].full_name)


# skann's own encode_features: each casts to the network's dtype, then (Fashion) scales pixels
# and reshapes rows to images, and applies the feature encoder (identity, or Wide & Deep's split).
_KNOWN_ENCODE_FEATURES = frozenset({
    "BaseWrapper.encode_features", "BookNetwork.encode_features", "FashionMLPClassifier.encode_features",
    "WideDeepRegressor.encode_features", "PerceptronBaseline.encode_features",
})


def _encoded_features(est, w: _Writer, variable) -> list[str]:
    """The network's inputs from the estimator's input, as ``encode_features`` makes them."""
    from skann.estimators import FashionMLPClassifier

    x = variable.full_name
    if type(est).encode_features.__qualname__ not in _KNOWN_ENCODE_FEATURES:
        raise ValueError(f"skann.to_onnx cannot write {type(est).__name__}.encode_features, which it overrides.")
    input_dtype = _numpy_dtype(variable.type)
    x = w.op("Cast", [x], "x", to=_ONNX_TYPES[w.dtype])
    if isinstance(est, FashionMLPClassifier):
        if est.scales_pixels(input_dtype):
            x = w.op("Div", [x, w.const(255.0, "pixel_max")], "scaled")
        if est.sample_shape_ is not None:
            x = w.op("Reshape", [x, w.const([0, *est.sample_shape_], "shape", np.int64)], "images")
    encoder = est.feature_encoder_
    if isinstance(encoder, FeatureSplitter):
        return [w.op("Gather", [x, w.const(idx, "columns", np.int64)], "part", axis=1) for idx in (encoder.wide_indices_, encoder.deep_indices_)]
    if type(encoder) is not FunctionTransformer or encoder.func is not None:  # the identity
        raise ValueError(f"skann.to_onnx cannot write the feature encoder {type(encoder).__name__} of {type(est).__name__}.")
    return [x]


def _numpy_dtype(tensor_type) -> np.dtype:
    from onnx.helper import tensor_dtype_to_np_dtype

    return np.dtype(tensor_dtype_to_np_dtype(tensor_type.to_onnx_type().tensor_type.elem_type))


def _decoded_classes(est, w: _Writer, out: str, label_name: str, proba_name: str) -> None:
    """Probabilities (a perceptron: scores) and labels from the network's output, as the
    estimator's ``predict_proba`` / ``predict`` decode them."""
    from skann.perceptron import PerceptronBaseline
    from skann.wrappers import ClassifierLabelEncoder

    if est.target_type_ not in ("binary", "multiclass"):
        raise ValueError(f"skann.to_onnx writes classifiers of class labels; this one was fitted on a {est.target_type_} target.")
    perceptron = isinstance(est, PerceptronBaseline)
    if not perceptron and type(est.target_encoder_) is not ClassifierLabelEncoder:
        raise ValueError(f"skann.to_onnx cannot write the target encoder {type(est.target_encoder_).__name__}.")
    units = est.model_.outputs[0].shape[-1]
    if units == 1:  # one unit: a sigmoid's p (probabilities 1 - p, p) or a perceptron's score
        if perceptron:  # Heaviside: the second class where the score is > 0
            w.op("Identity", [out], "scores", output=proba_name)
            positive = w.op("Greater", [out, w.const([[0.0]], "zero")], "positive")
            index = w.op("Cast", [w.op("Squeeze", [positive, w.const([1], "axis", np.int64)], "positive")], "index", to=TensorProto.INT64)
            w.op("Gather", [_labels(est, w), index], "label", output=label_name, axis=0)
            return
        w.op("Concat", [w.op("Sub", [w.const([[1.0]], "one"), out], "p0"), out], "proba", output=proba_name, axis=1)
    else:
        w.op("Identity", [out], "proba", output=proba_name)
    index = w.op("ArgMax", [proba_name], "index", axis=1, keepdims=0)
    w.op("Gather", [_labels(est, w), index], "label", output=label_name, axis=0)


def _labels(est, w: _Writer) -> str:
    """The classes as an ONNX constant: strings, or int64 (the label types skl2onnx uses)."""
    classes = est.classes_
    if classes.dtype.kind in "OUS":
        return w.const(classes.astype(str).astype(object), "classes", object)
    return w.const(classes, "classes", np.int64)


# ---------------------------------------------------------------- the network
def _network(model, w: _Writer, inputs: list[str]) -> list[str]:
    """ONNX tensors of the model's outputs from tensors of its inputs: every layer written
    by its writer, in the order Keras' own graph runs them."""
    graph = functional_graph(model)
    if graph is None:
        raise ValueError(f"skann.to_onnx writes Sequential and functional networks; {type(model).__name__} is subclassed.")
    writers = {}
    for layer in graph.layers:
        if isinstance(layer, keras.layers.InputLayer):
            continue
        write = _LAYERS.get(type(layer).__name__) if type(layer).__module__.startswith("keras") else None
        if write is None:
            raise ValueError(
                f"skann.to_onnx cannot write the layer {layer.name!r} ({type(layer).__name__}); it writes "
                + ", ".join(name for name in _LAYERS) + "."
            )
        writers[id(layer)] = _bound(write, layer, w)
    if type(model) is keras.Sequential:
        x = inputs[0]
        for layer in model.layers:
            x = writers[id(layer)](x)
        return [x]
    outputs = run_through_graph(graph, inputs, lambda layer: writers[id(layer)])
    return list(outputs) if isinstance(outputs, (list, tuple)) else [outputs]


def _bound(write, layer, w: _Writer):
    return lambda x, **_: write(layer, w, x)


def _activation(w: _Writer, x: str, activation, where: str) -> str:
    a = keras.activations
    simple = {a.relu: "Relu", a.sigmoid: "Sigmoid", a.tanh: "Tanh", a.softplus: "Softplus"}
    if activation is a.linear:
        return x
    if activation in simple:
        return w.op(simple[activation], [x], "act")
    if activation is a.softmax:
        return w.op("Softmax", [x], "softmax", axis=-1)
    if activation is a.elu:
        return w.op("Elu", [x], "elu", alpha=1.0)
    if activation is a.selu:
        return w.op("Selu", [x], "selu", alpha=1.6732632423543772, gamma=1.0507009873554805)
    raise ValueError(f"skann.to_onnx cannot write the activation {getattr(activation, '__name__', activation)!r} of {where}.")


def _dense(layer, w: _Writer, x: str) -> str:
    if getattr(layer, "lora_enabled", False) or getattr(layer, "quantization_mode", None):
        raise ValueError(f"skann.to_onnx cannot write the LoRA or quantized Dense layer {layer.name!r}.")
    out = w.op("MatMul", [x, w.const(weight_value(dense_kernel(layer)), "kernel")], "dense")
    if layer.bias is not None:
        out = w.op("Add", [out, w.const(weight_value(layer.bias), "bias")], "dense")
    return _activation(w, out, layer.activation, f"layer {layer.name!r}")


def _normalization(layer, w: _Writer, x: str) -> str:
    if layer.invert:
        raise ValueError(f"skann.to_onnx cannot write the inverting Normalization layer {layer.name!r}.")
    scale = np.maximum(np.sqrt(weight_value(layer.variance)), w.dtype.type(keras.config.epsilon()))
    centred = w.op("Sub", [x, w.const(weight_value(layer.mean), "mean")], "centred")
    return w.op("Div", [centred, w.const(scale, "scale")], "normalized")


def _batch_normalization(layer, w: _Writer, x: str) -> str:
    if layer.axis not in (-1, len(layer.input.shape) - 1):
        raise ValueError(f"skann.to_onnx writes BatchNormalization over the last axis; {layer.name!r} normalizes axis {layer.axis}.")
    inv = 1.0 / np.sqrt(weight_value(layer.moving_variance) + layer.epsilon)
    scale = inv * (weight_value(layer.gamma) if layer.scale else 1.0)
    shift = (weight_value(layer.beta) if layer.center else 0.0) - weight_value(layer.moving_mean) * scale
    return w.op("Add", [w.op("Mul", [x, w.const(scale, "bn_scale")], "bn"), w.const(shift, "bn_shift")], "bn")


def _channels_last(layer) -> None:
    if getattr(layer, "data_format", "channels_last") != "channels_last":
        raise ValueError(f"skann.to_onnx writes channels_last layers; {layer.name!r} is {layer.data_format}.")


def _nchw(w: _Writer, x: str) -> str:
    return w.op("Transpose", [x], "nchw", perm=[0, 3, 1, 2])


def _nhwc(w: _Writer, x: str) -> str:
    return w.op("Transpose", [x], "nhwc", perm=[0, 2, 3, 1])


def _padding(layer) -> dict:
    return {"auto_pad": "SAME_UPPER" if layer.padding == "same" else "VALID"}


def _conv2d(layer, w: _Writer, x: str) -> str:
    _channels_last(layer)
    if layer.groups != 1:
        raise ValueError(f"skann.to_onnx cannot write the grouped convolution {layer.name!r}.")
    kernel = np.transpose(weight_value(layer.kernel), (3, 2, 0, 1))  # (h, w, in, out) -> (out, in, h, w)
    inputs = [_nchw(w, x), w.const(kernel, "conv_kernel")]
    if layer.use_bias:
        inputs.append(w.const(weight_value(layer.bias), "conv_bias"))
    out = w.op("Conv", inputs, "conv", kernel_shape=list(layer.kernel_size), strides=list(layer.strides),
               dilations=list(layer.dilation_rate), **_padding(layer))
    return _activation(w, _nhwc(w, out), layer.activation, f"layer {layer.name!r}")


def _pooling(op_type: str):
    def write(layer, w: _Writer, x: str) -> str:
        _channels_last(layer)
        out = w.op(op_type, [_nchw(w, x)], "pool", kernel_shape=list(layer.pool_size), strides=list(layer.strides), **_padding(layer))
        return _nhwc(w, out)

    return write


def _global_pooling(op_type: str):
    def write(layer, w: _Writer, x: str) -> str:
        _channels_last(layer)
        if layer.keepdims:
            raise ValueError(f"skann.to_onnx cannot write {layer.name!r} with keepdims=True.")
        return w.op("Flatten", [w.op(op_type, [_nchw(w, x)], "pool")], "pooled", axis=1)

    return write


def _flatten(layer, w: _Writer, x: str) -> str:
    _channels_last(layer)
    return w.op("Flatten", [x], "flat", axis=1)


def _rescaling(layer, w: _Writer, x: str) -> str:
    scaled = w.op("Mul", [x, w.const(layer.scale, "rescale")], "rescaled")
    return w.op("Add", [scaled, w.const(layer.offset, "offset")], "rescaled")


_LAYERS = {
    "Dense": _dense,
    "Activation": lambda layer, w, x: _activation(w, x, layer.activation, f"layer {layer.name!r}"),
    "Dropout": lambda layer, w, x: x,
    "Flatten": _flatten,
    "Reshape": lambda layer, w, x: w.op("Reshape", [x, w.const([0, *layer.target_shape], "shape", np.int64)], "reshaped"),
    "Concatenate": lambda layer, w, xs: w.op("Concat", list(xs), "concat", axis=layer.axis),
    "Normalization": _normalization,
    "Rescaling": _rescaling,
    "BatchNormalization": _batch_normalization,
    "Conv2D": _conv2d,
    "MaxPooling2D": _pooling("MaxPool"),
    "AveragePooling2D": _pooling("AveragePool"),
    "GlobalAveragePooling2D": _global_pooling("GlobalAveragePool"),
    "GlobalMaxPooling2D": _global_pooling("GlobalMaxPool"),
}


# ---------------------------------------------------------------- skann's image transformers
def _image_output(step, input_type):
    """(ONNX element type of the output, shape of one output sample) of an image step."""
    if isinstance(step, ImageFlattener):
        return input_type, [step.n_features_out_]
    if isinstance(step, ImageReshaper):
        return input_type, list(step._image_shape())
    return FloatTensorType, list(step.image_shape_)  # PixelScaler: float32 in [0, 1]


def _image_shapes(operator) -> None:
    tensor_type, shape = _image_output(operator.raw_operator, type(operator.inputs[0].type))
    operator.outputs[0].type = tensor_type([operator.inputs[0].get_first_dimension(), *shape])


def _convert_image_step(scope, operator, container) -> None:
    step, x, out = operator.raw_operator, operator.inputs[0].full_name, operator.outputs[0].full_name
    w = _Writer(scope, container, np.dtype(np.float32))
    if isinstance(step, ImageFlattener):
        w.op("Flatten", [x], "rows", output=out, axis=1)
    elif isinstance(step, ImageReshaper):
        w.op("Reshape", [x, w.const([0, *step._image_shape()], "shape", np.int64)], "images", output=out)
    else:  # PixelScaler
        w.op("Div", [w.op("Cast", [x], "pixels", to=TensorProto.FLOAT), w.const(255.0, "pixel_max")], "scaled", output=out)


_IMAGE_STEPS = (ImageFlattener, ImageReshaper, PixelScaler)
