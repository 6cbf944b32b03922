"""PerceptronBaseline: the learning rule (parity with scikit-learn), the book's examples, API."""

from __future__ import annotations

import numpy as np
import pytest
from sklearn.datasets import load_iris
from sklearn.linear_model import Perceptron
from sklearn.model_selection import GridSearchCV
from sklearn.pipeline import make_pipeline

from skann import FashionMLPClassifier, ImageFlattener, PerceptronBaseline, PixelScaler

XOR_X = np.array([[0, 0], [0, 1], [1, 0], [1, 1]], dtype=float)
XOR_Y = np.array([0, 1, 1, 0])


@pytest.fixture(scope="module")
def iris_setosa():
    iris = load_iris(as_frame=True)
    X = iris.data[["petal length (cm)", "petal width (cm)"]].values
    return X, (iris.target == 0).values


def test_books_iris_example_matches_sklearn_exactly(iris_setosa):
    X, y = iris_setosa
    # Without shuffling both see the samples in the same order: the perceptron rule must
    # then give scikit-learn's weights exactly.
    ours = PerceptronBaseline(shuffle=False).fit(X, y)
    ref = Perceptron(shuffle=False).fit(X, y)
    np.testing.assert_allclose(ours.coef_, ref.coef_, atol=1e-5)
    np.testing.assert_allclose(ours.intercept_, ref.intercept_, atol=1e-5)
    assert ours.score(X, y) == 1.0
    np.testing.assert_array_equal(ours.predict([[2, 0.5], [3, 1]]), [True, False])
    assert ours.history_["mistakes"][-1] == 0.0  # stopped on an epoch without mistakes
    assert ours.n_iter_ < 1000


def test_one_vs_rest_matches_sklearn(iris_setosa):
    iris = load_iris()
    ours = PerceptronBaseline(shuffle=False, max_iter=15, tol=None).fit(iris.data, iris.target)
    ref = Perceptron(shuffle=False, max_iter=15, tol=None).fit(iris.data, iris.target)
    np.testing.assert_allclose(ours.coef_, ref.coef_, atol=1e-4)
    np.testing.assert_allclose(ours.intercept_, ref.intercept_, atol=1e-4)
    np.testing.assert_array_equal(ours.predict(iris.data), ref.predict(iris.data))
    assert ours.n_iter_ == 15
    assert ours.decision_function(iris.data[:4]).shape == (4, 3)


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


def test_tol_stops_training_on_non_separable_data():
    rng = np.random.RandomState(0)
    X = rng.normal(size=(200, 2))
    y = (X[:, 0] + 0.8 * rng.normal(size=200) > 0).astype(int)  # overlapping classes
    clf = PerceptronBaseline(random_state=0, max_iter=500).fit(X, y)
    assert clf.n_iter_ < 500
    assert 0.6 < clf.score(X, y) < 1.0
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
