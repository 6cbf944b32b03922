"""skann.callbacks on their own, in plain Keras fits (the estimators' use is tested with them)."""

from __future__ import annotations

import os

import keras
import numpy as np
import pytest

from skann.callbacks import DivergenceError, DivergenceGuard, TensorBoardRun


def _regression(learning_rate: float) -> tuple[keras.Model, np.ndarray, np.ndarray]:
    rng = np.random.default_rng(0)
    X = rng.normal(size=(64, 3)).astype("float32") * 1e3
    y = X.sum(axis=1)
    seeded = {"kernel_initializer": keras.initializers.GlorotUniform(seed=0)}  # the same network every run
    model = keras.Sequential(
        [keras.Input((3,)), keras.layers.Dense(8, activation="relu", **seeded), keras.layers.Dense(1, **seeded)]
    )
    model.compile(optimizer=keras.optimizers.SGD(learning_rate), loss="mse")
    return model, X, y


def test_divergence_guard_stops_a_plain_keras_fit_and_names_the_learning_rate():
    model, X, y = _regression(1e3)
    with pytest.raises(DivergenceError, match=r"MyNet diverged at epoch 1: the loss became (nan|inf) \(learning_rate=1000\)"):
        model.fit(X, y, epochs=5, verbose=0, callbacks=[DivergenceGuard("MyNet")])
    assert issubclass(DivergenceError, ValueError)


def test_divergence_guard_names_the_given_step_size_and_passes_finite_fits():
    model, X, y = _regression(1e3)
    with pytest.raises(DivergenceError, match=r"\(eta0=2\).* lower eta0"):
        model.fit(X, y, epochs=5, verbose=0, callbacks=[DivergenceGuard(step_size=("eta0", "2"))])
    model, X, y = _regression(1e-9)
    history = model.fit(X, y, epochs=2, verbose=0, callbacks=[DivergenceGuard()])
    assert len(history.history["loss"]) == 2


def test_tensorboard_run_makes_a_run_folder_per_fit_or_continues_one(tmp_path):
    pytest.importorskip("tensorboard")
    first, second = TensorBoardRun(tmp_path), TensorBoardRun(tmp_path)
    assert first.run_dir != second.run_dir  # two fits in the same second: two folders
    assert sorted(os.listdir(tmp_path)) == sorted(os.path.basename(r.run_dir) for r in (first, second))
    assert all(os.path.basename(r.run_dir).startswith("run_") for r in (first, second))
    again = TensorBoardRun(tmp_path, run_dir=first.run_dir)  # continuing a run makes no folder
    assert again.log_dir == first.run_dir and len(os.listdir(tmp_path)) == 2
    model, X, y = _regression(1e-6)
    model.fit(X, y, epochs=2, verbose=0, callbacks=[first])
    assert any(name.startswith("events") for _, _, files in os.walk(first.run_dir) for name in files)


def test_hold_out_is_stratified_seeded_and_says_when_too_small():
    from skann.callbacks import HoldOutEarlyStopping

    X = np.arange(200, dtype=float).reshape(100, 2)
    y = np.repeat([0, 1, 2, 3], 25)
    w = np.linspace(0.5, 1.5, 100)
    stopper = HoldOutEarlyStopping(0.2, patience=3, random_state=0)
    X_tr, y_tr, w_tr, (X_val, y_val, w_val) = stopper.split(X, y, w, classifier=True)
    assert len(X_val) == 20 and len(X_tr) == 80
    np.testing.assert_array_equal(np.bincount(y_val), [5, 5, 5, 5])  # stratified
    assert sorted(X_tr[:, 0].tolist() + X_val[:, 0].tolist()) == X[:, 0].tolist()  # a partition
    np.testing.assert_array_equal(w_val, w[(X_val[:, 0] / 2).astype(int)])  # weights follow their rows
    again = HoldOutEarlyStopping(0.2, random_state=0).split(X, y, classifier=True)[3]
    np.testing.assert_array_equal(again[0], X_val)
    assert stopper.restore_best_weights and stopper.patience == 3 and stopper.monitor == "val_loss"
    with pytest.raises(ValueError, match="validation_fraction=0.99 of 5 samples leaves none"):
        HoldOutEarlyStopping(0.99).split(X[:5], y[:5])


def test_hold_out_early_stopping_restores_the_best_weights_in_a_keras_fit():
    from skann.callbacks import HoldOutEarlyStopping

    model, X, y = _regression(1e-3)
    X = X / 1e3
    stopper = HoldOutEarlyStopping(0.25, patience=2, random_state=0)
    X_tr, y_tr, _, validation = stopper.split(X, y)
    history = model.fit(X_tr, y_tr, validation_data=validation, epochs=200, verbose=0, callbacks=[stopper])
    losses = history.history["val_loss"]
    assert len(losses) < 200 and losses[-1] > min(losses)  # it stopped, after worse epochs
    assert model.evaluate(*validation, verbose=0) == pytest.approx(min(losses), rel=1e-5)  # the best restored
