"""Keras model-building functions: pure Keras, usable without skann's estimators.

Each function returns an *uncompiled* ``keras.Sequential`` model with named layers, so the
caller (an skann estimator, SciKeras, or plain Keras code) chooses optimizer and loss::

    model = build_classification_mlp((28, 28), n_outputs=10)
    model.compile(loss="sparse_categorical_crossentropy", optimizer="sgd", metrics=["accuracy"])
"""

from __future__ import annotations

import numbers
from collections.abc import Sequence

import keras

__all__ = ["build_classification_mlp", "build_regression_mlp", "hidden_layer_sizes"]


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


def _hidden_stack(sizes: list[int], activation) -> list[keras.layers.Layer]:
    return [
        keras.layers.Dense(size, activation=activation, name=f"hidden{i + 1}")
        for i, size in enumerate(sizes)
    ]


def build_classification_mlp(
    input_shape: Sequence[int],
    n_outputs: int,
    *,
    n_hidden: int = 2,
    n_neurons: int | Sequence[int] = (300, 100),
    activation="relu",
    output_activation: str = "softmax",
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

    Returns
    -------
    keras.Sequential
        Layers named ``flatten``, ``hidden1`` ... ``hiddenN``, ``output``.
    """
    sizes = hidden_layer_sizes(n_hidden, n_neurons)
    return keras.Sequential(
        [
            keras.Input(shape=tuple(input_shape), name="input"),
            keras.layers.Flatten(name="flatten"),
            *_hidden_stack(sizes, activation),
            keras.layers.Dense(n_outputs, activation=output_activation, name="output"),
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

    Returns
    -------
    keras.Sequential
    """
    sizes = hidden_layer_sizes(n_hidden, n_neurons)
    layers: list = [keras.Input(shape=(n_features,), name="input")]
    if normalize:
        layers.append(keras.layers.Normalization(name="normalization"))
    layers += _hidden_stack(sizes, activation)
    layers.append(keras.layers.Dense(n_outputs, activation=output_activation, name="output"))
    return keras.Sequential(layers, name="regression_mlp")
