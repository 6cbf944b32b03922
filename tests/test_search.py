"""skann estimators in scikit-learn's searches, the search helpers and the LR finder."""

from __future__ import annotations

import subprocess
import sys
import textwrap
import warnings

import numpy as np
import pytest
from scipy.stats import loguniform
from sklearn.base import is_classifier
from sklearn.exceptions import FitFailedWarning
from sklearn.experimental import enable_halving_search_cv  # noqa: F401
from sklearn.model_selection import (
    GridSearchCV,
    HalvingGridSearchCV,
    HalvingRandomSearchCV,
    RandomizedSearchCV,
    StratifiedKFold,
)
from sklearn.pipeline import make_pipeline
from sklearn.preprocessing import StandardScaler

from .conftest import tensorflow_only, tf_threads_probe
from skann import FashionMLPClassifier, HousingMLPRegressor, PerceptronBaseline, WideDeepRegressor
from skann.search import epochs_parameter, find_learning_rate, halving_search, search_space


def _case(name, housing_sample, blobs):
    """(estimator, grid of 2 candidates, X, y, scoring) for each skann estimator."""
    Xh, yh = housing_sample
    Xh, yh = Xh[:240], yh[:240]
    fast = dict(random_state=0)
    if name == "fashion":
        X, y = blobs
        return (FashionMLPClassifier(n_neurons=8, n_hidden=1, epochs=3, learning_rate=0.05, scale_pixels=False, **fast),
                {"n_neurons": [4, 8]}, X, y, ["accuracy", "f1_macro"])
    if name == "housing":
        return (HousingMLPRegressor(n_neurons=8, n_hidden=1, epochs=3, early_stopping=False, **fast),
                {"learning_rate": [1e-3, 1e-2]}, Xh, yh, ["r2", "neg_root_mean_squared_error"])
    if name == "wide_deep":
        return (WideDeepRegressor(n_neurons=8, n_hidden=1, epochs=3, early_stopping=False, **fast),
                {"aux_weight": [0.1, 0.3]}, Xh, yh, ["r2", "neg_root_mean_squared_error"])
    X, y = blobs
    return (PerceptronBaseline(max_iter=4, **fast), {"eta0": [0.1, 1.0]}, X, y, ["accuracy", "f1_macro"])


# Every estimator in a plain search (two metrics, refit on one) and a halving one; every
# search class with two estimators.
PAIRS = [
    ("fashion", GridSearchCV), ("fashion", HalvingRandomSearchCV),
    ("housing", RandomizedSearchCV), ("housing", HalvingGridSearchCV),
    ("wide_deep", GridSearchCV), ("wide_deep", HalvingRandomSearchCV),
    ("perceptron", RandomizedSearchCV), ("perceptron", HalvingGridSearchCV),
]


@pytest.mark.parametrize("name, search_cls", PAIRS, ids=[f"{n}-{c.__name__}" for n, c in PAIRS])
def test_every_search_with_multiple_metrics_and_refit(name, search_cls, housing_sample, blobs):
    est, grid, X, y, scoring = _case(name, housing_sample, blobs)
    if search_cls.__name__.startswith("Halving"):
        # Halving searches take one score; epochs are the resource each round grows.
        kwargs = dict(resource=epochs_parameter(est), min_resources=2, max_resources=4, factor=2)
        scoring = scoring[0]
        refit = True
    else:
        kwargs = {}
        refit = scoring[0]
    space = "param_grid" if "Grid" in search_cls.__name__ else "param_distributions"
    extra = {"n_iter": 2} if search_cls is RandomizedSearchCV else {}
    if search_cls is HalvingRandomSearchCV:
        extra = {"n_candidates": 2}
    search = search_cls(est, **{space: grid}, scoring=scoring, refit=refit, cv=2, **kwargs, **extra)
    search.fit(X, y)
    results = search.cv_results_
    assert len(results["params"]) >= 2
    metrics = scoring if isinstance(scoring, list) else ["score"]
    for metric in metrics:
        scores = results[f"mean_test_{metric}"]
        assert np.all(np.isfinite(scores)), (metric, scores)
        assert results[f"split0_test_{metric}"].shape == scores.shape
    chosen = {k: v for k, v in search.best_params_.items() if k in grid}
    assert all(v in grid[k] for k, v in chosen.items())
    # The refit estimator is a fitted clone with the best parameters.
    best = search.best_estimator_
    assert best.get_params()[next(iter(grid))] == search.best_params_[next(iter(grid))]
    assert best.predict(X[:5]).shape[0] == 5
    assert est.__sklearn_is_fitted__() is False  # the search's estimator itself is untouched


@pytest.mark.parametrize("name", ["fashion", "housing", "wide_deep", "perceptron"])
def test_search_over_a_pipeline_with_prefixed_parameters(name, housing_sample, blobs):
    est, grid, X, y, scoring = _case(name, housing_sample, blobs)
    pipe = make_pipeline(StandardScaler(), est)
    step = pipe.steps[-1][0]
    search = RandomizedSearchCV(
        pipe, {f"{step}__{k}": v for k, v in grid.items()}, n_iter=2, cv=2,
        scoring=scoring, refit=scoring[0], random_state=0,
    ).fit(X, y)
    assert search.best_estimator_.predict(X[:3]).shape[0] == 3
    assert set(search.best_params_) == {f"{step}__{k}" for k in grid}
    assert np.all(np.isfinite(search.cv_results_[f"mean_test_{scoring[0]}"]))


def test_classifier_search_uses_stratified_folds(blobs):
    from sklearn.model_selection import check_cv

    est = FashionMLPClassifier()
    assert isinstance(check_cv(3, blobs[1], classifier=is_classifier(est)), StratifiedKFold)


def test_error_score_nan_keeps_the_search_going_and_raise_reports_the_cause(housing_sample):
    X, y = housing_sample
    X, y = X[:200], y[:200]
    est = HousingMLPRegressor(n_hidden=1, epochs=2, early_stopping=False, random_state=0)
    grid = {"n_neurons": [8, [4, 4, 4]]}  # three sizes for one hidden layer: invalid
    with warnings.catch_warnings(record=True) as caught:
        warnings.simplefilter("always")
        search = GridSearchCV(est, grid, cv=2, error_score=np.nan).fit(X, y)
    assert any(issubclass(w.category, FitFailedWarning) for w in caught)
    scores = search.cv_results_["mean_test_score"]
    assert np.isfinite(scores[0]) and np.isnan(scores[1])
    assert search.best_params_ == {"n_neurons": 8}
    with pytest.raises(ValueError, match="n_neurons"):
        GridSearchCV(est, grid, cv=2, error_score="raise").fit(X, y)


# ---------------------------------------------------------------------- search spaces
@pytest.mark.parametrize(
    "est", [FashionMLPClassifier(), HousingMLPRegressor(), WideDeepRegressor(), PerceptronBaseline()],
    ids=lambda e: type(e).__name__,
)
def test_search_space_samples_are_valid_parameters(est):
    from sklearn.model_selection import ParameterSampler

    space = search_space(est)
    assert set(space) <= set(est.get_params())
    for params in ParameterSampler(space, n_iter=30, random_state=0):
        est.set_params(**params)
        est._validate_params()  # every sampled value passes the estimator's own validation
    if not isinstance(est, PerceptronBaseline):
        samples = list(ParameterSampler(space, n_iter=200, random_state=0))
        assert {p["n_hidden"] for p in samples} == {0, 1, 2, 3}
        assert min(p["n_neurons"] for p in samples) >= 1 and max(p["n_neurons"] for p in samples) <= 100
        rates = [p["learning_rate"] for p in samples]
        assert 3e-4 <= min(rates) and max(rates) <= 3e-2
        assert isinstance(space["learning_rate"].dist, type(loguniform(1, 2).dist))
        assert {p["optimizer"] for p in samples} == {"sgd", "adam"}


def test_search_space_and_resource_carry_the_pipeline_prefix():
    pipe = make_pipeline(StandardScaler(), HousingMLPRegressor())
    assert all(k.startswith("housingmlpregressor__") for k in search_space(pipe))
    assert epochs_parameter(pipe) == "housingmlpregressor__epochs"
    assert epochs_parameter(PerceptronBaseline()) == "max_iter"
    with pytest.raises(TypeError, match="skann estimator"):
        search_space(StandardScaler())


def test_halving_over_epochs_trains_survivors_longer(housing_sample):
    X, y = housing_sample
    X, y = X[:600], y[:600]
    with pytest.warns(FutureWarning, match="HyperbandSearchCV"):  # deprecated, still working
        search = halving_search(
            HousingMLPRegressor(n_hidden=1, early_stopping=False, random_state=0),
            {"n_neurons": [2, 8, 32, 64], "learning_rate": loguniform(1e-3, 1e-2)},
            max_epochs=4, factor=2, cv=2, random_state=0,
        )
    search.fit(X, y)
    assert list(search.n_resources_) == [1, 2, 4]
    assert list(search.n_candidates_) == [4, 2, 1]
    assert search.best_estimator_.epochs == 4
    assert search.best_estimator_.n_iter_ == 4
    last_round = search.cv_results_["iter"] == 2
    assert np.isfinite(search.cv_results_["mean_test_score"][last_round]).all()


def test_halving_search_validates_its_epochs():
    with pytest.raises(ValueError, match="min_epochs"), pytest.warns(FutureWarning):
        halving_search(HousingMLPRegressor(), max_epochs=5, min_epochs=6)


# ---------------------------------------------------------------------- learning-rate finder
def test_learning_rate_finder_curve_and_suggestion(housing_sample, tmp_path):
    X, y = housing_sample
    est = HousingMLPRegressor(optimizer="sgd", random_state=0)
    before = est.get_params()
    result = find_learning_rate(est, X[:4000], y[:4000], min_lr=1e-5, max_lr=10, n_steps=300)
    # The estimator is unchanged and still unfitted.
    assert est.get_params() == before and not est.__sklearn_is_fitted__()
    n = len(result.learning_rates)
    assert 10 < n <= 300 and len(result.losses) == n == len(result.smoothed_losses)
    ratios = result.learning_rates[1:] / result.learning_rates[:-1]
    np.testing.assert_allclose(ratios, (10 / 1e-5) ** (1 / 299), rtol=1e-9)
    assert result.learning_rates[0] == pytest.approx(1e-5)
    # SGD at learning rate 10 diverges: the loss shot up and the run stopped there.
    assert result.stopped_early
    best = int(np.argmin(result.smoothed_losses))
    assert result.suggested_learning_rate == pytest.approx(result.learning_rates[best] / 10)
    assert result.losses[-1] > 4 * result.losses.min()
    assert 1e-4 < result.suggested_learning_rate < 1.0
    fig = result.plot()
    fig.savefig(tmp_path / "lr.png")
    assert (tmp_path / "lr.png").read_bytes()[:8] == b"\x89PNG\r\n\x1a\n"


def test_learning_rate_finder_leaves_a_fitted_estimator_alone(blobs):
    X, y = blobs
    clf = FashionMLPClassifier(n_neurons=8, epochs=2, random_state=0).fit(X, y)
    weights = [w.copy() for w in clf.model_.get_weights()]
    result = find_learning_rate(clf, X, y, n_steps=40)
    assert len(result.learning_rates) <= 40
    for a, b in zip(weights, clf.model_.get_weights()):
        np.testing.assert_array_equal(a, b)
    per = find_learning_rate(PerceptronBaseline(random_state=0), X, y, n_steps=30)
    assert len(per.losses) >= 2


def test_learning_rate_finder_rejects_bad_arguments(blobs):
    X, y = blobs
    with pytest.raises(ValueError, match="min_lr"):
        find_learning_rate(FashionMLPClassifier(), X, y, min_lr=1.0, max_lr=0.1)
    with pytest.raises(TypeError, match="Pipeline"):
        find_learning_rate(make_pipeline(StandardScaler(), FashionMLPClassifier()), X, y)


# ---------------------------------------------------------------------- parallel (loky)
@tensorflow_only
def test_loky_workers_limit_tensorflow_threads_to_their_share():
    import os

    from joblib import Parallel, delayed

    with_limit = Parallel(n_jobs=2)(delayed(tf_threads_probe())() for _ in range(2))
    assert with_limit == [max(1, os.cpu_count() // 2)] * 2


@tensorflow_only
def test_thread_limit_from_the_environment_in_a_fresh_process():
    code = textwrap.dedent(
        """
        import sys, skann, tensorflow as tf
        print(tf.config.threading.get_intra_op_parallelism_threads(),
              tf.config.threading.get_inter_op_parallelism_threads(),
              "dask" in sys.modules or "distributed" in sys.modules)
        """
    )
    import os

    env = {k: v for k, v in os.environ.items() if k not in ("OMP_NUM_THREADS", "SKANN_NUM_THREADS")}
    out = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, check=True,
                         env={**env, "SKANN_NUM_THREADS": "3", "OMP_NUM_THREADS": "1"})
    assert out.stdout.split() == ["3", "2", "False"], out.stderr  # SKANN_NUM_THREADS wins
    out = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, check=True, env=env)
    assert out.stdout.split() == ["0", "0", "False"]  # no limit given: TensorFlow's defaults
    assert out.stderr == ""


def test_parallel_search_gives_the_sequential_results(housing_sample):
    X, y = housing_sample
    X, y = X[:400], y[:400]
    est = HousingMLPRegressor(n_hidden=1, n_neurons=16, epochs=3, early_stopping=False, random_state=0)
    grid = {"learning_rate": [1e-3, 3e-2]}
    serial = GridSearchCV(est, grid, cv=2, n_jobs=1).fit(X, y)
    parallel = GridSearchCV(est, grid, cv=2, n_jobs=2).fit(X, y)
    assert parallel.best_params_ == serial.best_params_
    # Workers run TensorFlow with fewer threads, which may change float rounding only.
    for key in ("mean_test_score", "split0_test_score", "split1_test_score"):
        np.testing.assert_allclose(parallel.cv_results_[key], serial.cv_results_[key], rtol=1e-6)
