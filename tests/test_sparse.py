"""Sparse X (SciPy CSR/CSC): trained a densified batch at a time, equal to the dense input."""

from __future__ import annotations

import json
import textwrap

import keras
import numpy as np
import pytest
import scipy.sparse as sp
from sklearn.feature_extraction.text import TfidfVectorizer
from sklearn.model_selection import GridSearchCV
from sklearn.pipeline import make_pipeline
from sklearn.preprocessing import FunctionTransformer

import skann
from skann import HousingMLPRegressor, KerasClassifier, KerasRegressor

from benchmarks.harness import peak_rss_mb

from ._networks import seeded_mlp as mlp


@pytest.fixture(scope="module")
def data():
    X = sp.random(240, 60, density=0.08, format="csr", random_state=0, dtype=np.float64)
    score = X[:, :10].sum(axis=1).A1 - X[:, 10:20].sum(axis=1).A1
    y = np.digitize(score, np.quantile(score, [1 / 3, 2 / 3]))
    return X, y


def _clf(**kwargs):
    settings = dict(loss="sparse_categorical_crossentropy", optimizer="adam", epochs=3, batch_size=16, random_state=0)
    return KerasClassifier(mlp, **{**settings, **kwargs})


@pytest.mark.parametrize("fmt", ["csr", "csc"])
def test_sparse_equals_dense(data, fmt):
    X, y = data
    weights = np.linspace(0.0, 2.0, len(y))  # the first sample is dropped (weight 0)
    sparse = _clf(early_stopping=True, validation_scoring="accuracy").fit(X.asformat(fmt), y, sample_weight=weights)
    dense = _clf(early_stopping=True, validation_scoring="accuracy").fit(X.toarray(), y, sample_weight=weights)
    for a, b in zip(sparse.model_.get_weights(), dense.model_.get_weights()):
        np.testing.assert_allclose(a, b, rtol=1e-5, atol=1e-6)
    assert sparse.history_.keys() == dense.history_.keys() >= {"loss", "val_loss", "val_accuracy_score"}
    np.testing.assert_allclose(sparse.history_["val_loss"], dense.history_["val_loss"], rtol=1e-5)
    np.testing.assert_allclose(sparse.predict_proba(X.asformat(fmt)), dense.predict_proba(X.toarray()), rtol=1e-5, atol=1e-6)
    assert sparse.score(X, y) == dense.score(X.toarray(), y)


def test_sparse_through_keras_loop_equals_dense(data):
    """A callback acting on every batch sends the fit through ``Model.fit`` (densified batches
    from a PyDataset there); unshuffled, it sees the batches the dense input gives."""

    from .test_fast_paths import BatchCounter as EveryBatch

    X, y = data
    fits = []
    for given in (X, X.toarray()):
        counter = EveryBatch()
        est = _clf(shuffle=False, callbacks=[counter]).fit(given, y, validation_data=(given[:40], y[:40]))
        assert counter.batches == 3 * 15  # 240 rows, batches of 16, 3 epochs
        fits.append(est)
    for a, b in zip(fits[0].model_.get_weights(), fits[1].model_.get_weights()):
        np.testing.assert_allclose(a, b, rtol=1e-5, atol=1e-6)
    np.testing.assert_allclose(fits[0].history_["val_loss"], fits[1].history_["val_loss"], rtol=1e-5)


def test_sparse_regressor_partial_fit_and_prediction_chunks(data, monkeypatch):
    X, _ = data
    y = np.c_[X[:, :5].sum(axis=1).A1, X[:, 5:9].sum(axis=1).A1]
    monkeypatch.setattr(skann._rows, "DENSE_CHUNK_BYTES", 60 * 4 * 7)  # 7 rows per densified chunk
    reg = KerasRegressor(mlp, loss="mse", optimizer="adam", random_state=0, batch_size=32)
    reg.partial_fit(X, y).partial_fit(X, y)
    dense = KerasRegressor(mlp, loss="mse", optimizer="adam", random_state=0, batch_size=32)
    dense.partial_fit(X.toarray(), y).partial_fit(X.toarray(), y)
    assert reg.current_epoch == 2 and reg.predict(X).shape == (240, 2)
    np.testing.assert_allclose(reg.predict(X), dense.predict(X.toarray()), rtol=1e-5, atol=1e-6)


def test_sparse_text_pipeline_in_grid_search():
    rng = np.random.default_rng(0)
    topics = [["goal", "match", "team", "score", "league"], ["stock", "market", "price", "bank", "trade"]]
    filler = [f"w{i}" for i in range(300)]
    labels = rng.integers(0, 2, 180)
    docs = [" ".join(list(rng.choice(topics[t], 4)) + list(rng.choice(filler, 8))) for t in labels]
    pipe = make_pipeline(TfidfVectorizer(), _clf(epochs=20, optimizer__learning_rate=0.03))
    search = GridSearchCV(pipe, {"kerasclassifier__model__hidden": [4, 8]}, cv=3).fit(docs, labels)
    assert search.best_score_ > 0.9, search.best_score_
    assert search.predict(["goal team league w1", "bank stock price w2"]).tolist() == [0, 1]


def test_sparse_refusals_say_what_to_do(data):
    X, y = data
    with pytest.raises(ValueError, match="validation_split"):
        _clf(validation_split=0.2).fit(X, y)
    split = FunctionTransformer(lambda X: [X[:, :30], X[:, 30:]])

    class TwoInputs(KerasClassifier):
        @property
        def feature_encoder(self):
            return split

    with pytest.raises(ValueError, match="one input"):
        TwoInputs(mlp, loss="sparse_categorical_crossentropy").fit(X, y)
    with pytest.raises(TypeError, match="[Ss]parse"):  # the chapter's networks take dense features
        HousingMLPRegressor(epochs=1).fit(X, y.astype(float))
    huge = X.astype(np.float64).tolil()
    huge[3, 7] = 1e39
    with pytest.raises(ValueError, match=r"beyond float32's range .* column\(s\) \[7\]"):
        _clf().fit(huge.tocsr(), y)


def test_sparse_model_saves_and_loads(data, tmp_path):
    X, y = data
    est = _clf().fit(X, y)
    skann.save(est, tmp_path / "m.skann")
    loaded = skann.load(tmp_path / "m.skann")
    np.testing.assert_array_equal(loaded.predict_proba(X), est.predict_proba(X))


def test_tfidf_with_100000_features_never_densified():
    """A 20,000 x 100,000 TF-IDF matrix (7.5 GB as dense float32) trains and predicts in a
    fresh process whose peak memory stays a small fraction of that."""
    code = textwrap.dedent(
        """
        import json
        import numpy as np, keras
        from sklearn.feature_extraction.text import TfidfVectorizer
        from skann import KerasClassifier

        rng = np.random.default_rng(0)
        n_docs, vocabulary = 20_000, 100_000
        words = np.array([f"w{i}" for i in range(vocabulary)])
        labels = rng.integers(0, 2, n_docs)
        ranks = np.minimum(rng.zipf(1.2, size=(n_docs, 60)), vocabulary) - 1  # synthetic text
        ranks[labels == 1, :5] = rng.integers(0, 50, size=(int(labels.sum()), 5)) * 2 + 1
        X = TfidfVectorizer(token_pattern=r"\\S+", vocabulary=words).fit_transform(" ".join(words[r]) for r in ranks)

        def build(meta):
            return keras.Sequential([keras.Input((meta["n_features_in_"],)), keras.layers.Dense(16, activation="relu"),
                                     keras.layers.Dense(2, activation="softmax")])

        clf = KerasClassifier(build, loss="sparse_categorical_crossentropy", optimizer="adam", epochs=1,
                              batch_size=64, random_state=0).fit(X, labels)
        print(json.dumps({"shape": X.shape, "accuracy": clf.score(X, labels)}))
        """
    )
    peak_mb, out = peak_rss_mb(code, timeout=600)  # the process's own peak (VmHWM)
    report = json.loads(out.strip().splitlines()[-1])
    dense_mb = report["shape"][0] * report["shape"][1] * 4 / 2**20
    assert report["shape"] == [20_000, 100_000]
    assert peak_mb < dense_mb / 4, (peak_mb, report)  # measured: 0.7-1.1 GB against 7.5 GB
    assert report["accuracy"] > 0.8, report
