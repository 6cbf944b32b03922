"""Keras model-building functions: pure Keras, usable without skann's estimators.

Each function returns an *uncompiled* ``keras.Sequential`` model with named layers, so the
caller (an skann estimator, SciKeras, or plain Keras code) chooses optimizer and loss::

    model = build_classification_mlp((28, 28), n_outputs=10)
    model.compile(loss="sparse_categorical_crossentropy", optimizer="sgd", metrics=["accuracy"])
"""

from __future__ import annotations

import skann._backend  # noqa: F401  (first: quiet TensorFlow import, thread limits)
import numbers
import random
from collections.abc import Sequence

import keras

__all__ = [
    "WideAndDeepModel",
    "build_classification_mlp",
    "build_perceptron",
    "build_regression_mlp",
    "build_wide_deep",
    "hidden_layer_sizes",
]


def hidden_layer_sizes(n_hidden: int, n_neurons: int | Sequence[int]) -> list[int]:
    """Expand ``(n_hidden, n_neurons)`` into one size per hidden layer.

    ``n_neurons`` is either one int used for every layer or a sequence with exactly
    ``n_hidden`` sizes.
    """
    if not isinstance(n_hidden, numbers.Integral) or isinstance(n_hidden, bool) or n_hidden < 0:
        raise ValueError(f"n_hidden must be an int >= 0; got {n_hidden!r}.")
    if isinstance(n_neurons, numbers.Integral) and not isinstance(n_neurons, bool):
        sizes = [int(n_neurons)] * int(n_hidden)
    elif isinstance(n_neurons, Sequence) and not isinstance(n_neurons, str):
        sizes = list(n_neurons)
        if len(sizes) != n_hidden:
            raise ValueError(
                f"n_neurons gives {len(sizes)} layer size(s) {tuple(sizes)} but n_hidden={n_hidden}; "
                f"give one int for all layers or exactly {n_hidden} sizes."
            )
        if not all(isinstance(s, numbers.Integral) and not isinstance(s, bool) for s in sizes):
            raise ValueError(f"n_neurons must hold ints; got {tuple(sizes)!r}.")
        sizes = [int(s) for s in sizes]
    else:
        raise ValueError(f"n_neurons must be an int or a sequence of ints; got {n_neurons!r}.")
    if any(s < 1 for s in sizes):
        raise ValueError(f"every hidden layer needs at least one neuron; got n_neurons={n_neurons!r}.")
    return sizes


def _dense(units: int, name: str, rng: random.Random | None, **kwargs) -> keras.layers.Dense:
    """A Dense layer whose initial weights come from ``rng`` (Keras' default without one).

    Keras seeds an unseeded initializer from Python's global ``random`` module, which other
    threads may draw from at any time (a Dask worker's event loop does). Drawing the seeds
    from a private generator keeps a seeded fit reproducible in any thread; the seeds are the
    ones Keras would draw after ``keras.utils.set_random_seed(seed)``, so the weights are too.
    """
    if rng is not None:
        kwargs["kernel_initializer"] = keras.initializers.GlorotUniform(seed=rng.randint(1, int(1e9)))
    return keras.layers.Dense(units, name=name, **kwargs)


def _rng(seed: int | None) -> random.Random | None:
    return None if seed is None else random.Random(seed)


def _hidden_stack(sizes: list[int], activation, rng: random.Random | None = None) -> list[keras.layers.Layer]:
    return [_dense(size, f"hidden{i + 1}", rng, activation=activation) for i, size in enumerate(sizes)]


def build_classification_mlp(
    input_shape: Sequence[int],
    n_outputs: int,
    *,
    n_hidden: int = 2,
    n_neurons: int | Sequence[int] = (300, 100),
    activation="relu",
    output_activation: str = "softmax",
    seed: int | None = None,
) -> keras.Sequential:
    """The book's Fashion-MNIST classifier: Flatten -> Dense hidden layers -> output.

    Parameters
    ----------
    input_shape : sequence of int
        Shape of one sample, e.g. ``(28, 28)`` for images or ``(784,)`` for rows.
    n_outputs : int
        Output units: the number of classes (softmax), 1 for a binary target (sigmoid), or
        the number of labels for multilabel targets (sigmoid).
    n_hidden, n_neurons, activation
        Hidden stack; see :func:`hidden_layer_sizes`.
    output_activation : str, default="softmax"
    seed : int, default=None
        Seeds the initial weights (Keras' global seeding when None).

    Returns
    -------
    keras.Sequential
        Layers named ``flatten``, ``hidden1`` ... ``hiddenN``, ``output``.
    """
    sizes = hidden_layer_sizes(n_hidden, n_neurons)
    rng = _rng(seed)
    return keras.Sequential(
        [
            keras.Input(shape=tuple(input_shape), name="input"),
            keras.layers.Flatten(name="flatten"),
            *_hidden_stack(sizes, activation, rng),
            _dense(n_outputs, "output", rng, activation=output_activation),
        ],
        name="classification_mlp",
    )


def build_regression_mlp(
    n_features: int,
    n_outputs: int = 1,
    *,
    n_hidden: int = 3,
    n_neurons: int | Sequence[int] = 50,
    activation="relu",
    output_activation: str | None = None,
    normalize: bool = True,
    seed: int | None = None,
) -> keras.Sequential:
    """The book's California housing regressor: Normalization -> Dense hidden layers -> output.

    The ``Normalization`` layer (named ``normalization``) must be adapted to the training
    data before training: ``model.get_layer("normalization").adapt(X_train)``.

    Parameters
    ----------
    n_features : int
    n_outputs : int, default=1
        One linear output unit per target.
    n_hidden, n_neurons, activation
        Hidden stack; see :func:`hidden_layer_sizes`.
    output_activation : str or None, default=None
        None for any real value; "relu"/"softplus" for positive targets, "sigmoid"/"tanh"
        for bounded (scaled) targets, as in the book's table of regression MLPs.
    normalize : bool, default=True
        Put a ``Normalization`` layer first.
    seed : int, default=None
        Seeds the initial weights (Keras' global seeding when None).

    Returns
    -------
    keras.Sequential
    """
    sizes = hidden_layer_sizes(n_hidden, n_neurons)
    layers: list = [keras.Input(shape=(n_features,), name="input")]
    if normalize:
        layers.append(keras.layers.Normalization(name="normalization"))
    rng = _rng(seed)
    layers += _hidden_stack(sizes, activation, rng)
    layers.append(_dense(n_outputs, "output", rng, activation=output_activation))
    return keras.Sequential(layers, name="regression_mlp")


def build_wide_deep(
    n_wide: int,
    n_deep: int,
    n_outputs: int = 1,
    *,
    n_hidden: int = 2,
    n_neurons: int | Sequence[int] = 30,
    activation="relu",
    aux_output: bool = False,
    seed: int | None = None,
) -> keras.Model:
    """The book's Wide & Deep network (Cheng et al., 2016), functional API.

    Two inputs: ``input_wide`` goes (normalized) straight to the output layer,
    ``input_deep`` goes (normalized) through the hidden stack; the two are concatenated
    before the ``output`` layer. With ``aux_output=True`` a second output ``aux_output``
    sits on top of the deep stack (a regularizer, as in the book).

    The two ``Normalization`` layers (``normalization_wide``, ``normalization_deep``) must be
    adapted to the training data before training. ``seed`` seeds the initial weights.

    Returns
    -------
    keras.Model
        Inputs ``[input_wide, input_deep]``; outputs ``output`` (and ``aux_output``).
    """
    sizes = hidden_layer_sizes(n_hidden, n_neurons)
    rng = _rng(seed)
    input_wide = keras.Input(shape=(n_wide,), name="input_wide")
    input_deep = keras.Input(shape=(n_deep,), name="input_deep")
    norm_wide = keras.layers.Normalization(name="normalization_wide")(input_wide)
    hidden = keras.layers.Normalization(name="normalization_deep")(input_deep)
    for layer in _hidden_stack(sizes, activation, rng):
        hidden = layer(hidden)
    concat = keras.layers.Concatenate(name="concat")([norm_wide, hidden])
    output = _dense(n_outputs, "output", rng)(concat)
    outputs = [output]
    if aux_output:
        outputs.append(_dense(n_outputs, "aux_output", rng)(hidden))
    return keras.Model(inputs=[input_wide, input_deep], outputs=outputs, name="wide_deep")


@keras.saving.register_keras_serializable(package="skann")
class WideAndDeepModel(keras.Model):
    """The same Wide & Deep network written with the subclassing API, as in the book.

    Called on ``(X_wide, X_deep)``; returns ``main`` or ``(main, aux)`` when ``aux_output``.
    Registered with Keras (package ``skann``), so it saves and loads like the functional one.
    """

    def __init__(
        self,
        n_outputs: int = 1,
        n_hidden: int = 2,
        n_neurons: int | Sequence[int] = 30,
        activation="relu",
        aux_output: bool = False,
        seed: int | None = None,
        **kwargs,
    ):
        kwargs.setdefault("name", "wide_and_deep_model")
        super().__init__(**kwargs)
        self.n_outputs = n_outputs
        self.n_hidden = n_hidden
        self.n_neurons = n_neurons if isinstance(n_neurons, numbers.Integral) else list(n_neurons)
        self.activation = activation
        self.aux_output = aux_output
        self.seed = seed
        rng = _rng(seed)
        self.norm_layer_wide = keras.layers.Normalization(name="normalization_wide")
        self.norm_layer_deep = keras.layers.Normalization(name="normalization_deep")
        self.hidden_layers = _hidden_stack(hidden_layer_sizes(n_hidden, n_neurons), activation, rng)
        self.concat = keras.layers.Concatenate(name="concat")
        self.main_output = _dense(n_outputs, "output", rng)
        self.aux_output_layer = _dense(n_outputs, "aux_output", rng) if aux_output else None

    def call(self, inputs):
        input_wide, input_deep = inputs
        norm_wide = self.norm_layer_wide(input_wide)
        hidden = self.norm_layer_deep(input_deep)
        for layer in self.hidden_layers:
            hidden = layer(hidden)
        main = self.main_output(self.concat([norm_wide, hidden]))
        if self.aux_output_layer is None:
            return main
        return main, self.aux_output_layer(hidden)

    def get_config(self):
        return {
            **super().get_config(),
            "n_outputs": self.n_outputs,
            "n_hidden": self.n_hidden,
            "n_neurons": self.n_neurons,
            "activation": self.activation,
            "aux_output": self.aux_output,
            "seed": self.seed,
        }


def build_perceptron(
    n_features: int, n_outputs: int, *, fit_intercept: bool = True, dtype: str = "float64"
) -> keras.Sequential:
    """Rosenblatt's perceptron: one layer of threshold logic units.

    A linear ``Dense`` layer (named ``tlu``) computes the scores ``XW + b``; the Heaviside
    step is applied at prediction time (score > 0), one unit per class for one-vs-rest.
    Weights start at zero and are float64 by default, as in scikit-learn's ``Perceptron``.
    """
    return keras.Sequential(
        [
            keras.Input(shape=(n_features,), name="input", dtype=dtype),
            keras.layers.Dense(
                n_outputs,
                use_bias=fit_intercept,
                kernel_initializer="zeros",
                bias_initializer="zeros",
                dtype=dtype,
                name="tlu",
            ),
        ],
        name="perceptron",
    )
