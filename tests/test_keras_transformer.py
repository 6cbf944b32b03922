"""skann.KerasTransformer: a network's layer as a Pipeline step (embeddings, autoencoders)."""

from __future__ import annotations

import keras
import numpy as np
import pandas as pd
import pytest
from sklearn.base import clone
from sklearn.datasets import load_digits
from sklearn.linear_model import LogisticRegression
from sklearn.model_selection import GridSearchCV
from sklearn.pipeline import make_pipeline

import skann
from skann import KerasTransformer


def autoencoder(meta, code=8):
    return keras.Sequential([
        keras.Input((meta["n_features_in_"],)),
        keras.layers.Dense(code, activation="relu", name="code", kernel_initializer=keras.initializers.GlorotUniform(1)),
        keras.layers.Dense(meta["n_features_in_"], kernel_initializer=keras.initializers.GlorotUniform(2)),
    ])


def classifier(meta, width=16):
    inputs = keras.Input((meta["n_features_in_"],))
    embedding = keras.layers.Dense(width, activation="relu", name="embedding")(inputs)
    return keras.Model(inputs, keras.layers.Dense(10, activation="softmax")(embedding))


@pytest.fixture(scope="module")
def digits():
    X, y = load_digits(return_X_y=True)
    return (X / 16).astype(np.float32), y


def _autoencoder(**kwargs):
    settings = dict(layer="code", autoencoder=True, loss="mse", optimizer="adam", epochs=3, random_state=0)
    return KerasTransformer(autoencoder, **{**settings, **kwargs})


def test_autoencoder_bottleneck(digits):
    X, _ = digits
    est = _autoencoder()
    codes = est.fit_transform(X)
    assert codes.shape == (len(X), 8) and codes.dtype == np.float32
    # transform is the named layer of the fitted network, as Keras computes it
    inner = keras.Model(est.model_.inputs, est.model_.get_layer("code").output)
    np.testing.assert_allclose(codes, np.asarray(inner.predict_on_batch(X)), rtol=1e-5, atol=1e-6)
    np.testing.assert_array_equal(clone(est).fit(X).transform(X), codes)  # seeded: fit_transform == fit().transform
    assert est.get_feature_names_out().tolist() == [f"kerastransformer{i}" for i in range(8)]
    # the network's output and its loss
    assert est.predict(X[:5]).shape == (5, 64)
    mse = float(np.mean((est.predict(X) - X) ** 2))
    assert est.score(X) == pytest.approx(-mse, rel=1e-4)


def test_output_as_dataframe_and_early_stopping(digits):
    X, _ = digits
    frame = pd.DataFrame(X, columns=[f"pixel{i}" for i in range(64)])
    est = _autoencoder(early_stopping=True, epochs=4).set_output(transform="pandas")
    out = est.fit(frame).transform(frame.iloc[:4])
    assert isinstance(out, pd.DataFrame) and list(out.columns) == [f"kerastransformer{i}" for i in range(8)]
    assert len(est.history_["val_loss"]) == 4
    held_out = _autoencoder().fit(X[:1500], validation_data=(X[1500:], None))
    assert len(held_out.history_["val_loss"]) == 3
    # in a Pipeline, y reaches every step: the autoencoder ignores it
    labels = np.arange(len(X)) % 3
    np.testing.assert_array_equal(_autoencoder().fit(X, labels).transform(X[:5]), _autoencoder().fit(X).transform(X[:5]))


def test_embedding_of_a_classifier_in_a_searched_pipeline(digits):
    X, y = digits
    embed = KerasTransformer(
        classifier, layer="embedding", loss="sparse_categorical_crossentropy", optimizer="adam", epochs=10,
        random_state=0,
    )
    pipe = make_pipeline(embed, LogisticRegression(max_iter=500))
    search = GridSearchCV(pipe, {"kerastransformer__model__width": [8, 16]}, cv=3).fit(X, y)
    assert search.best_score_ > 0.85, search.cv_results_["mean_test_score"]
    assert search.best_estimator_[0].transform(X[:3]).shape == (3, search.best_params_["kerastransformer__model__width"])


def test_layer_none_is_the_output_and_a_wrong_layer_fails_before_training(digits):
    X, y = digits
    whole = KerasTransformer(classifier, loss="sparse_categorical_crossentropy", random_state=0).fit(X, y)
    np.testing.assert_allclose(whole.transform(X[:10]), whole.predict(X[:10]), rtol=1e-6)
    assert whole.get_feature_names_out().shape == (10,)
    wrong = KerasTransformer(classifier, layer="embeding", loss="sparse_categorical_crossentropy", epochs=50)
    with pytest.raises(ValueError, match=r"layer='embeding' is not a layer of the network; its layers are \[.*'embedding'"):
        wrong.fit(X, y)
    assert not hasattr(wrong, "model_") and not hasattr(wrong, "history_")  # nothing trained, nothing kept


def test_subclassed_network_cannot_name_a_layer(digits):
    X, _ = digits

    class Coder(keras.Model):
        def __init__(self, **kwargs):
            super().__init__(**kwargs)
            self.code = keras.layers.Dense(4, name="code")
            self.out = keras.layers.Dense(64)

        def call(self, x):
            return self.out(self.code(x))

    est = KerasTransformer(lambda: Coder(), layer="code", autoencoder=True, loss="mse", random_state=0)
    with pytest.raises(ValueError, match="functional or Sequential"):
        est.fit(X)
    out = KerasTransformer(lambda: Coder(), autoencoder=True, loss="mse", random_state=0).fit(X).transform(X[:2])
    assert out.shape == (2, 64)


def test_unfitted_and_sparse_autoencoder_errors(digits):
    import scipy.sparse as sp

    X, _ = digits
    with pytest.raises(skann.wrappers.NotFittedError):
        _autoencoder().transform(X)
    with pytest.raises(skann.wrappers.NotFittedError):
        _autoencoder().get_feature_names_out()
    with pytest.raises(ValueError, match="reproduce X, which needs X as a dense array"):
        _autoencoder().fit(sp.csr_matrix(X))
    with pytest.raises(ValueError, match=r"y is None: pass y, or set autoencoder=True"):
        _autoencoder(autoencoder=False).fit(X)
    with pytest.raises(ValueError, match=r"reproduce X, of shape \(64,\) per sample, but the network outputs \(10,\)"):
        KerasTransformer(classifier, autoencoder=True, loss="mse").fit(X)


def test_saved_and_loaded_in_safe_format(digits, tmp_path):
    X, _ = digits
    est = _autoencoder().fit(X)
    skann.save(est, tmp_path / "coder.skann")
    loaded = skann.load(tmp_path / "coder.skann")
    assert loaded.layer == "code"
    np.testing.assert_array_equal(loaded.transform(X), est.transform(X))
