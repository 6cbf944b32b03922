"""PerceptronBaseline: the learning rule (parity with scikit-learn), the book's examples, API."""

from __future__ import annotations

import numpy as np
import pytest
from sklearn.datasets import load_iris
from sklearn.linear_model import Perceptron
from sklearn.model_selection import GridSearchCV
from sklearn.pipeline import make_pipeline

from skann import FashionMLPClassifier, ImageFlattener, PerceptronBaseline, PixelScaler

from .conftest import BACKEND, requires_float64

XOR_X = np.array([[0, 0], [0, 1], [1, 0], [1, 1]], dtype=float)
XOR_Y = np.array([0, 1, 1, 0])


@pytest.fixture(scope="module")
def iris_setosa():
    iris = load_iris(as_frame=True)
    X = iris.data[["petal length (cm)", "petal width (cm)"]].values
    return X, (iris.target == 0).values


def assert_same_as_sklearn(X, y, sample_weight=None, **params):
    """Weight for weight, epoch count and predictions: PerceptronBaseline == Perceptron."""
    ours = PerceptronBaseline(**params).fit(X, y, sample_weight=sample_weight)
    ref = Perceptron(**params).fit(X, y, sample_weight=sample_weight)
    np.testing.assert_allclose(ours.coef_, ref.coef_, rtol=1e-12, atol=1e-12)
    np.testing.assert_allclose(ours.intercept_, ref.intercept_, rtol=1e-12, atol=1e-12)
    assert ours.n_iter_ == ref.n_iter_
    np.testing.assert_array_equal(ours.predict(X), ref.predict(X))
    return ours, ref


@requires_float64
def test_books_iris_example_gives_the_books_answer(iris_setosa):
    X, y = iris_setosa
    ours, _ = assert_same_as_sklearn(X, y, random_state=42)  # the book's call, shuffled
    np.testing.assert_array_equal(ours.predict([[2, 0.5], [3, 1]]), [True, False])
    assert ours.score(X, y) == 1.0
    assert ours.coef_.dtype == np.float64  # as scikit-learn, float64 for float64 input


def test_shuffle_order_is_sklearns():
    from sklearn.utils._seq_dataset import ArrayDataset64  # scikit-learn's own SGD dataset

    from skann.perceptron import sgd_shuffle_permutation

    for n, seed in [(37, 12345), (150, 0), (1000, 2**31 - 2)]:
        data = ArrayDataset64(np.arange(n, dtype=float)[:, None], np.zeros(n), np.ones(n), 1)
        order = np.arange(n)
        permutation = sgd_shuffle_permutation(n, seed)
        for _ in range(3):  # the same permutation, applied again at every epoch
            data._shuffle_py(seed)
            order = order[permutation]
            seen = [int(data._next_py()[-1]) for _ in range(n)]
            np.testing.assert_array_equal(seen, order)


@requires_float64
@pytest.mark.parametrize("seed", [0, 42])
def test_binary_and_one_vs_rest_match_sklearn_with_shuffling(seed):
    from sklearn.datasets import load_breast_cancer, load_wine, make_classification
    from sklearn.preprocessing import StandardScaler

    iris = load_iris()
    assert_same_as_sklearn(iris.data, iris.target, random_state=seed)  # one-vs-rest, 3 units
    assert_same_as_sklearn(iris.data, iris.target, random_state=seed, early_stopping=True)
    ours, _ = assert_same_as_sklearn(iris.data.astype(np.float32), iris.target, random_state=seed)
    assert ours.coef_.dtype == np.float32  # float32 input is learned in float32, as scikit-learn does
    wine = load_wine()
    assert_same_as_sklearn(StandardScaler().fit_transform(wine.data), wine.target, random_state=seed, eta0=0.5)
    cancer = load_breast_cancer()
    X = StandardScaler().fit_transform(cancer.data)
    assert_same_as_sklearn(X, cancer.target, random_state=seed, n_iter_no_change=3, tol=1e-2)
    X, y = make_classification(300, 6, n_informative=4, n_classes=4, n_clusters_per_class=1, random_state=seed)
    assert_same_as_sklearn(X, y, random_state=seed, max_iter=7, tol=None)
    assert_same_as_sklearn(X, y, random_state=seed, class_weight="balanced", fit_intercept=False)
    weights = np.random.RandomState(seed).uniform(0.2, 3.0, size=len(y))
    assert_same_as_sklearn(X, y, sample_weight=weights, random_state=seed)
    assert_same_as_sklearn(X, y > 1, random_state=seed, class_weight={False: 1.0, True: 3.0}, early_stopping=True)


@requires_float64
def test_one_vs_rest_without_shuffling_matches_sklearn():
    iris = load_iris()
    ours, _ = assert_same_as_sklearn(iris.data, iris.target, shuffle=False, max_iter=15, tol=None)
    assert ours.n_iter_ == 15
    assert ours.decision_function(iris.data[:4]).shape == (4, 3)


@requires_float64
def test_warm_start_and_partial_fit_match_sklearn(iris_setosa):
    iris = load_iris()
    ours = PerceptronBaseline(random_state=0, warm_start=True, max_iter=3, tol=None)
    ref = Perceptron(random_state=0, warm_start=True, max_iter=3, tol=None)
    for _ in range(2):
        ours.fit(iris.data, iris.target)
        ref.fit(iris.data, iris.target)
        np.testing.assert_allclose(ours.coef_, ref.coef_, rtol=1e-12)
    assert ours.n_iter_ == ref.n_iter_ == 3  # per call, as scikit-learn counts
    ours, ref = PerceptronBaseline(random_state=0), Perceptron(random_state=0)
    for _ in range(3):
        ours.partial_fit(iris.data, iris.target, classes=[0, 1, 2])
        ref.partial_fit(iris.data, iris.target, classes=[0, 1, 2])
    np.testing.assert_allclose(ours.coef_, ref.coef_, rtol=1e-12)
    np.testing.assert_allclose(ours.intercept_, ref.intercept_, rtol=1e-12)


def test_float32_learning_matches_sklearn_on_every_backend():
    # float32 input is learned in float32 by both, on every backend (JAX without x64 too):
    # the one-vs-rest schedule gives scikit-learn's weights exactly.
    from sklearn.datasets import make_classification

    from skann.engine import compiled_cache

    compiled_cache.clear()
    iris = load_iris()
    X, y = make_classification(300, 6, n_informative=4, n_classes=4, n_clusters_per_class=1, random_state=0)
    cases = [
        (iris.data, iris.target, {"max_iter": 7, "tol": None}),  # one-vs-rest, 3 units
        (X, y > 1, {"max_iter": 9, "tol": None, "early_stopping": True}),  # hold-out skipped in the order
        (X, y, {"max_iter": 4, "tol": None, "shuffle": False}),
    ]
    for data, target, params in cases:
        data = data.astype(np.float32)
        for seed in (0, 42):
            ours = PerceptronBaseline(random_state=seed, **params).fit(data, target)
            ref = Perceptron(random_state=seed, **params).fit(data, target)
            assert ours.coef_.dtype == ref.coef_.dtype == np.float32
            np.testing.assert_array_equal(ours.coef_, ref.coef_)
            np.testing.assert_array_equal(ours.intercept_, ref.intercept_)
            assert ours.n_iter_ == ref.n_iter_
    ours, ref = PerceptronBaseline(random_state=0), Perceptron(random_state=0)
    for _ in range(3):  # each call starts the orders again, as scikit-learn's does
        ours.partial_fit(X.astype(np.float32), y, classes=[0, 1, 2, 3])
        ref.partial_fit(X.astype(np.float32), y, classes=[0, 1, 2, 3])
    np.testing.assert_array_equal(ours.coef_, ref.coef_)
    if BACKEND in ("jax", "tensorflow"):  # trained by the engine's fused loop, not Keras' own
        programs = [name for entry in compiled_cache._entries.values() for name in map(str, entry.seen)]
        assert programs and all("OneVsRestSteps" in name for name in programs)


@requires_float64
def test_keras_loop_trains_the_schedule_as_the_fused_loop_does():
    """A per-batch callback sends the perceptron through Keras' own loop (its schedule as a
    tf.data pipeline), not the fused loop: scikit-learn's weights all the same."""
    from .test_fast_paths import BatchCounter

    iris = load_iris()
    counter = BatchCounter()
    params = dict(random_state=0, max_iter=4, tol=None)
    ours = PerceptronBaseline(callbacks=[counter], **params).fit(iris.data, iris.target)
    ref = Perceptron(**params).fit(iris.data, iris.target)
    assert counter.batches == 4 * len(iris.data)  # one step per sample and epoch, each seen
    np.testing.assert_allclose(ours.coef_, ref.coef_, rtol=1e-12, atol=1e-12)
    np.testing.assert_allclose(ours.intercept_, ref.intercept_, rtol=1e-12, atol=1e-12)


def test_one_vs_rest_orders_skip_the_held_out_samples():
    from skann.perceptron import OneVsRestSteps, sgd_shuffle_permutation

    n, units = 11, 2
    train = np.ones(n, dtype=bool)
    train[[3, 7]] = False
    codes = np.ones((n, units), dtype=np.float32)
    feed = OneVsRestSteps(np.zeros((n, 1), np.float32), codes, codes, train, [5, 9])
    perms = [sgd_shuffle_permutation(n, s) for s in (5, 9)]
    for epochs in (1, 2, 3, 1):  # compounding permutations; asking again starts over
        for unit in range(units):
            position = np.arange(n)
            for _ in range(epochs):
                position = position[perms[unit]]
            expected = [row for row in position if train[row]]
            np.testing.assert_array_equal(feed.orders(epochs)[:, unit], expected)
    loop, n_loop, last = feed.epoch(0, 16)
    assert loop.shape == (16, units) and n_loop == 8 and last.shape == (units,)


def test_shuffled_training_separates_setosa_for_every_seed(iris_setosa):
    X, y = iris_setosa
    for seed in range(5):
        clf = PerceptronBaseline(random_state=seed).fit(X, y)
        assert clf.score(X, y) == 1.0
    a = PerceptronBaseline(random_state=3).fit(X, y).coef_
    np.testing.assert_array_equal(a, PerceptronBaseline(random_state=3).fit(X, y).coef_)


def test_no_probabilities_but_decision_function(iris_setosa):
    X, y = iris_setosa
    clf = PerceptronBaseline(random_state=0).fit(X, y)
    assert not hasattr(clf, "predict_proba")
    assert not hasattr(PerceptronBaseline(), "predict_proba")
    scores = clf.decision_function(X)
    assert scores.shape == (len(X),)
    np.testing.assert_array_equal(clf.predict(X), clf.classes_[(scores > 0).astype(int)])


def test_xor_perceptron_fails_where_an_mlp_succeeds():
    per = PerceptronBaseline(random_state=0).fit(XOR_X, XOR_Y)
    assert per.score(XOR_X, XOR_Y) <= 0.75
    mlp = FashionMLPClassifier(
        n_hidden=1, n_neurons=8, activation="tanh", optimizer="adam", learning_rate=0.1,
        epochs=100, batch_size=4, scale_pixels=False, random_state=0,
    ).fit(XOR_X, XOR_Y)
    assert mlp.score(XOR_X, XOR_Y) == 1.0


@requires_float64
def test_tol_stops_training_on_non_separable_data():
    rng = np.random.RandomState(0)
    X = rng.normal(size=(200, 2))
    y = (X[:, 0] + 0.8 * rng.normal(size=200) > 0).astype(int)  # overlapping classes
    clf, ref = assert_same_as_sklearn(X, y, random_state=0, max_iter=500)
    assert clf.n_iter_ < 500  # stopped by tol, as scikit-learn's does
    assert clf.score(X, y) == ref.score(X, y) < 1.0
    capped = PerceptronBaseline(random_state=0, max_iter=4, tol=None).fit(X, y)
    assert capped.n_iter_ == 4


def test_fashion_pipeline_and_search(fashion_sample, iris_setosa):
    (X, y), (Xt, yt) = fashion_sample
    pipe = make_pipeline(ImageFlattener(), PixelScaler(), PerceptronBaseline(max_iter=3, random_state=0))
    pipe.fit(X[:1000], y[:1000])
    assert pipe.score(Xt, yt) > 0.6
    X_iris, y_iris = iris_setosa
    search = GridSearchCV(PerceptronBaseline(random_state=0), {"eta0": [0.1, 1.0]}, cv=3)
    search.fit(X_iris, y_iris)
    assert search.best_score_ == 1.0 and search.best_params_["eta0"] in (0.1, 1.0)


def test_invalid_params():
    with pytest.raises(ValueError, match="'eta0' parameter"):
        PerceptronBaseline(eta0=0).fit(XOR_X, XOR_Y)
    with pytest.raises(ValueError, match="'max_iter' parameter"):
        PerceptronBaseline(max_iter=0).fit(XOR_X, XOR_Y)
