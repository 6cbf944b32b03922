"""Data as Keras users have it: a PyDataset, a tf.data.Dataset or a generator of batches."""

from __future__ import annotations

import keras
import numpy as np
import pytest
from sklearn.datasets import load_digits
from sklearn.model_selection import GridSearchCV

from skann import FashionMLPClassifier, KerasClassifier, KerasRegressor, KerasTransformer

from ._networks import seeded_mlp as mlp


class Batches(keras.utils.PyDataset):
    """Batches of 32 rows in order; counts the epochs Keras tells it about."""

    def __init__(self, X, y=None, weights=None, batch_size=32, **kwargs):
        super().__init__(**kwargs)
        self.X, self.y, self.weights, self.batch_size = X, y, weights, batch_size
        self.epochs_ended = 0

    def __len__(self):
        return -(-len(self.X) // self.batch_size)

    def __getitem__(self, i):
        rows = slice(i * self.batch_size, (i + 1) * self.batch_size)
        if self.y is None:
            return self.X[rows]
        if self.weights is None:
            return self.X[rows], self.y[rows]
        return self.X[rows], self.y[rows], self.weights[rows]

    def on_epoch_end(self):
        self.epochs_ended += 1


def generated(X, y, epochs=1, batch_size=32):
    for _ in range(epochs):
        for start in range(0, len(X), batch_size):
            yield X[start : start + batch_size], y[start : start + batch_size]


def tf_batches(X, y, batch_size=32):
    tf = pytest.importorskip("tensorflow")
    return tf.data.Dataset.from_tensor_slices((X, y)).batch(batch_size)


@pytest.fixture(scope="module")
def digits():
    X, y = load_digits(return_X_y=True)
    return (X / 16).astype(np.float32), y


def _clf(**kwargs):
    settings = dict(loss="sparse_categorical_crossentropy", optimizer="adam", epochs=3, random_state=0, shuffle=False)
    return KerasClassifier(mlp, **{**settings, **kwargs})


@pytest.fixture(scope="module")
def in_memory(digits):
    """The fit the streams must reproduce: the same batches, in order."""
    X, y = digits
    return _clf().fit(X, y)


@pytest.mark.parametrize("kind", ["PyDataset", "PyDataset with 2 threads", "tf.data", "generator"])
def test_stream_fit_equals_the_in_memory_fit(digits, in_memory, kind):
    X, y = digits
    make = {
        "PyDataset": lambda: Batches(X, y),
        "PyDataset with 2 threads": lambda: Batches(X, y, workers=2),
        "tf.data": lambda: tf_batches(X, y),
        "generator": lambda: generated(X, y, epochs=3),
    }[kind]
    extra = dict(classes=np.arange(10), steps_per_epoch=57) if kind == "generator" else {}
    est = _clf().fit(make(), **extra)
    for a, b in zip(est.model_.get_weights(), in_memory.model_.get_weights()):
        np.testing.assert_allclose(a, b, rtol=1e-5, atol=1e-6)
    np.testing.assert_allclose(est.history_["loss"], in_memory.history_["loss"], rtol=1e-4)
    assert est.n_features_in_ == 64 and est.X_shape_ == (None, 64) and est.classes_.tolist() == list(range(10))
    # prediction and scoring over a stream: its x, and its y for the score
    predict_stream = (lambda: generated(X, y)) if kind == "generator" else make
    np.testing.assert_allclose(est.predict_proba(predict_stream()), in_memory.predict_proba(X), rtol=1e-5, atol=1e-6)
    assert est.score(predict_stream()) == pytest.approx(in_memory.score(X, y))


def test_pydataset_epochs_weights_partial_fit_and_regression(digits):
    X, y = digits
    data = Batches(X, y, weights=np.where(y == 3, 2.0, 1.0))
    est = _clf().fit(data)
    assert data.epochs_ended >= 3  # the dataset's own epoch hooks still run (its shuffling, say)
    weighted = _clf().fit(X, y, sample_weight=np.where(y == 3, 2.0, 1.0))
    assert est.score(X, y) == pytest.approx(weighted.score(X, y), abs=0.02)  # (skann rescales array weights)
    stepwise = _clf(epochs=1).partial_fit(Batches(X[:900], y[:900]), classes=np.arange(10))
    stepwise.partial_fit(Batches(X[:900], y[:900]))
    assert stepwise.current_epoch == 2 and stepwise.classes_.tolist() == list(range(10))
    reg = KerasRegressor(mlp, loss="mse", optimizer="adam", epochs=2, random_state=0).fit(Batches(X, y.astype(float)))
    assert reg.predict(Batches(X[:50])).shape == (50,)
    def ten_classes(meta):
        return mlp({**meta, "n_classes_": 10})

    coder = KerasTransformer(ten_classes, loss="sparse_categorical_crossentropy", random_state=0).fit(Batches(X, y))
    np.testing.assert_allclose(coder.transform(Batches(X[:40])), coder.transform(X[:40]), rtol=1e-6)
    assert coder.score(Batches(X, y)) < 0


def test_validation_with_a_stream(digits):
    X, y = digits
    train, held = Batches(X[:1500], y[:1500]), (X[1500:], y[1500:])
    est = _clf(early_stopping=True, validation_scoring="accuracy").fit(train, validation_data=held)
    assert {"val_loss", "val_accuracy_score"} <= est.history_.keys()
    streamed = _clf().fit(train, validation_data=Batches(*held))
    assert len(streamed.history_["val_loss"]) == 3
    arrays = _clf().fit(X[:1500], y[:1500], validation_data=held)
    np.testing.assert_allclose(streamed.history_["val_loss"], arrays.history_["val_loss"], rtol=1e-4)


def test_what_a_stream_cannot_do_says_so(digits):
    X, y = digits
    with pytest.raises(ValueError, match="batches, which carry the targets"):
        _clf().fit(Batches(X, y), y)
    with pytest.raises(ValueError, match="cannot be split into training and validation rows"):
        _clf(early_stopping=True).fit(Batches(X, y))
    with pytest.raises(ValueError, match="a generator is read once: pass classes="):
        _clf().fit(generated(X, y))
    with pytest.raises(ValueError, match="with epochs=3, give steps_per_epoch"):
        _clf().fit(generated(X, y), classes=np.arange(10))
    with pytest.raises(ValueError, match="class_weight='balanced'"):
        _clf(class_weight="balanced").fit(Batches(X, y))
    with pytest.raises(ValueError, match=r"batches must be \(x, y\)"):
        _clf().fit(Batches(X))
    with pytest.raises(TypeError, match="takes X in memory"):
        FashionMLPClassifier(epochs=1).fit(Batches(X, y))
    with pytest.raises(TypeError):  # scikit-learn's own refusal: no CV over a stream (use a SliceDataset)
        GridSearchCV(_clf(), {"epochs": [1, 2]}, cv=2).fit(generated(X, y), y)


@pytest.mark.parametrize("kind", ["PyDataset", "generator"])
def test_a_bad_batch_mid_stream_is_reported_and_nothing_is_kept(digits, kind):
    X, y = digits
    bad = X.copy()
    bad[100, 5] = np.nan
    est = _clf(epochs=1)
    data = Batches(bad, y) if kind == "PyDataset" else generated(bad, y)
    with pytest.raises(ValueError, match="Input (X )?contains NaN"):
        est.fit(data, classes=np.arange(10))
    assert not hasattr(est, "model_") and not hasattr(est, "history_")
    fitted = _clf().fit(X, y)
    before = fitted.model_.get_weights()
    with pytest.raises(ValueError, match="has 60 features, but KerasClassifier is expecting 64"):
        fitted.set_params(warm_start=True).fit(Batches(np.hstack([X[:, :60]] * 1), y))
    for a, b in zip(fitted.model_.get_weights(), before):
        np.testing.assert_array_equal(a, b)
