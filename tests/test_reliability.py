"""Careless input: a diverging fit, values beyond float32, and prediction memory on big inputs."""

from __future__ import annotations

import json
import subprocess
import sys
import textwrap
import warnings

import keras
import numpy as np
import pytest
from click.testing import CliRunner
from sklearn.exceptions import FitFailedWarning
from sklearn.model_selection import GridSearchCV

import skann
from skann import DivergenceError, FashionMLPClassifier, HousingMLPRegressor, KerasRegressor, PerceptronBaseline

from .conftest import REPO


# ---------------------------------------------------------------- divergence
def _weights(est) -> list[np.ndarray]:
    return [keras.ops.convert_to_numpy(v) for v in [*est.model_.weights, *est.model_.optimizer.variables]]


def test_diverging_fit_raises_and_leaves_a_new_estimator_unfitted(housing_sample, fashion_sample):
    """The issue's two cases (unscaled housing with SGD at 10, Fashion at 100, the latter with
    early stopping, which kept the NaN weights): a clear error, and nothing fitted."""
    X, y = housing_sample
    (Xf, yf), _ = fashion_sample
    cases = [
        (HousingMLPRegressor(optimizer="sgd", learning_rate=10.0, epochs=5, early_stopping=False), X, y, "learning_rate=10"),
        (FashionMLPClassifier(learning_rate=100.0, epochs=5, early_stopping=True), Xf[:1000], yf[:1000], "learning_rate=100"),
        (PerceptronBaseline(eta0=1e30, max_iter=5), X * 1e280, y > 2, "eta0=1e[+]30"),
    ]
    for est, XX, yy, rate in cases:
        with pytest.raises(DivergenceError, match=rf"diverged at epoch 1: .*\({rate}\)\. Scale the inputs.*left as it was"):
            est.fit(XX, yy)
        assert not hasattr(est, "model_") and not hasattr(est, "history_")
        assert isinstance(DivergenceError("x"), ValueError)  # what scikit-learn's MLPs raise


def test_diverging_further_training_restores_weights_and_optimizer_state(housing_sample):
    """warm_start and partial_fit: the weights, optimizer state, history and epoch count are
    those from before the failed call."""
    X, y = housing_sample
    X, y = (X[:300] - X[:300].mean(axis=0)) / X[:300].std(axis=0), y[:300]
    reg = KerasRegressor(
        lambda meta: keras.Sequential([keras.Input((meta["n_features_in_"],)), keras.layers.Dense(8), keras.layers.Dense(1)]),
        optimizer="sgd", loss="mse", epochs=2, warm_start=True, random_state=0,
    ).fit(X, y)
    before, history, predictions = _weights(reg), dict(reg.history_), reg.predict(X[:5])
    for call in (lambda: reg.fit(X * 1e25, y), lambda: reg.partial_fit(X * 1e25, y)):
        with pytest.raises(DivergenceError, match="diverged at epoch 3"):
            call()
        for old, new in zip(before, _weights(reg)):
            np.testing.assert_array_equal(old, new)
        assert reg.history_ == history and reg.current_epoch == 2
        np.testing.assert_array_equal(reg.predict(X[:5]), predictions)


def test_search_scores_a_diverging_candidate_as_failed(housing_sample):
    """In a search, the diverging candidate fails (error_score) and the others are compared."""
    X, y = housing_sample
    search = GridSearchCV(
        HousingMLPRegressor(optimizer="sgd", epochs=2, early_stopping=False, n_neurons=8, random_state=0),
        {"learning_rate": [1e-3, 10.0]}, cv=2,
    )
    with warnings.catch_warnings(record=True) as caught:
        warnings.simplefilter("always")
        search.fit(X[:600], y[:600])
    assert any(issubclass(w.category, FitFailedWarning) and "DivergenceError" in str(w.message) for w in caught)
    scores = search.cv_results_["mean_test_score"]
    assert np.isnan(scores[1]) and np.isfinite(scores[0]) and search.best_params_ == {"learning_rate": 1e-3}


def test_cli_reports_divergence_in_one_line():
    from skann.cli import main

    result = CliRunner().invoke(main, ["--quiet", "fit", "housing", "-p", "optimizer=sgd", "-p", "learning_rate=10",
                                       "-p", "early_stopping=False", "-p", "epochs=3", "--out", "unused.skann", "--sample"])
    assert result.exit_code == 1, result.output
    lines = result.stderr.strip().splitlines()
    assert len(lines) == 1 and "diverged at epoch 1" in lines[0] and "lower learning_rate" in lines[0], lines
