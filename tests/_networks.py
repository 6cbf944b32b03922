"""Small networks the data-input tests share (initial weights from explicit seeds)."""

from __future__ import annotations

import keras


def seeded_mlp(meta, hidden=16):
    """A Dense network for any X shape (flattened) and target: softmax over the classes for a
    classifier, one linear unit per output for a regressor."""
    n_out = meta.get("n_classes_") or meta["n_outputs_"]
    return keras.Sequential([
        keras.Input(meta["X_shape_"][1:]),
        keras.layers.Flatten(),
        keras.layers.Dense(hidden, activation="relu", kernel_initializer=keras.initializers.GlorotUniform(1)),
        keras.layers.Dense(
            n_out, activation="softmax" if "n_classes_" in meta else None,
            kernel_initializer=keras.initializers.GlorotUniform(2),
        ),
    ])
