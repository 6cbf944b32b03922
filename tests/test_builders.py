"""Model builders: pure Keras functions, usable with Keras and SciKeras directly."""

from __future__ import annotations

import keras
import numpy as np
import pytest
from skann import KerasRegressor

from skann.builders import build_classification_mlp, build_regression_mlp, hidden_layer_sizes


def test_hidden_layer_sizes():
    assert hidden_layer_sizes(2, 30) == [30, 30]
    assert hidden_layer_sizes(3, [5, 6, 7]) == [5, 6, 7]
    assert hidden_layer_sizes(0, 10) == []
    with pytest.raises(ValueError, match="n_hidden=1"):
        hidden_layer_sizes(1, (3, 4))
    with pytest.raises(ValueError, match="at least one neuron"):
        hidden_layer_sizes(2, 0)
    with pytest.raises(ValueError, match="int or a sequence"):
        hidden_layer_sizes(2, "30")
    with pytest.raises(ValueError, match="n_hidden must be an int"):
        hidden_layer_sizes(-1, 3)


def test_classification_mlp_with_plain_keras_saves_and_loads(tmp_path, fashion_sample):
    (X, y), _ = fashion_sample
    X = X[:256] / np.float32(255)
    keras.utils.set_random_seed(0)
    model = build_classification_mlp((28, 28), 10)
    model.compile(loss="sparse_categorical_crossentropy", optimizer="sgd", metrics=["accuracy"])
    model.fit(X, y[:256], epochs=1, verbose=0)
    assert model.count_params() == 266_610
    path = tmp_path / "mlp.keras"
    model.save(path)
    loaded = keras.models.load_model(path, safe_mode=True)
    np.testing.assert_allclose(loaded.predict_on_batch(X[:8]), model.predict_on_batch(X[:8]), atol=1e-6)


def test_regression_mlp_layers_and_normalization():
    model = build_regression_mlp(8, 2, n_hidden=2, n_neurons=[30, 10], output_activation="softplus")
    assert [layer.name for layer in model.layers] == ["normalization", "hidden1", "hidden2", "output"]
    assert model.output_shape == (None, 2)
    plain = build_regression_mlp(8, normalize=False, n_hidden=1)
    assert [layer.name for layer in plain.layers] == ["hidden1", "output"]


def test_builder_works_inside_the_wrapper(housing_sample):
    X, y = housing_sample
    reg = KerasRegressor(
        model=build_regression_mlp,
        model__n_features=8,
        model__normalize=False,
        loss="mse",
        optimizer="adam",
        epochs=1,
        verbose=0,
        random_state=0,
    )
    reg.fit(X[:500], y[:500])
    assert reg.predict(X[:5]).shape == (5,)
