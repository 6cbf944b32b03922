"""FashionMLPClassifier and HousingMLPRegressor: sklearn integration, training behaviour, errors."""

from __future__ import annotations

import os
import subprocess
import sys
import textwrap

import keras
import numpy as np
import pytest
import scipy.sparse as sp
from sklearn.base import clone, is_classifier, is_regressor
from sklearn.exceptions import NotFittedError
from sklearn.model_selection import GridSearchCV, StratifiedKFold, check_cv, cross_val_score
from sklearn.pipeline import make_pipeline
from sklearn.utils import get_tags

from skann import FashionMLPClassifier, HousingMLPRegressor, ImageFlattener, PixelScaler
from skann.datasets import FASHION_CLASS_NAMES

SMALL = dict(n_hidden=1, n_neurons=16, epochs=5, random_state=0)


def small_clf(**kw):
    return FashionMLPClassifier(**{**SMALL, "optimizer": "adam", "learning_rate": 0.01, **kw})


def blob_clf(**kw):
    """For the float blobs (not pixels): no pixel scaling."""
    return small_clf(**{"scale_pixels": False, **kw})


def small_reg(**kw):
    return HousingMLPRegressor(**{**SMALL, "early_stopping": False, **kw})


@pytest.fixture(scope="module")
def fashion_small(fashion_sample):
    (X, y), (Xt, yt) = fashion_sample
    return X[:600], y[:600], Xt[:200], yt[:200]


@pytest.fixture(scope="module")
def housing_small(housing_sample):
    X, y = housing_sample
    return X[:1000], y[:1000], X[1000:1300], y[1000:1300]


@pytest.fixture(scope="module")
def fitted_clf(fashion_small):
    X, y, _, _ = fashion_small
    return small_clf().fit(X, y)


# ---------------------------------------------------------------- what scikit-learn sees
def test_estimator_types_and_tags():
    clf, reg = FashionMLPClassifier(), HousingMLPRegressor()
    assert is_classifier(clf) and not is_regressor(clf)
    assert is_regressor(reg) and not is_classifier(reg)
    assert clf._estimator_type == "classifier" and reg._estimator_type == "regressor"
    for est in (clf, reg):
        tags = get_tags(est)
        assert tags.input_tags.sparse is False and tags.input_tags.allow_nan is False
        assert tags.target_tags.required is True
    assert get_tags(clf).input_tags.three_d_array is True
    assert get_tags(reg).target_tags.multi_output is True


def test_cv_is_stratified_for_the_classifier(blobs):
    X, y = blobs
    order = np.argsort(y, kind="stable")  # sorted labels: plain KFold would hold out whole classes
    X, y = X[order], y[order]
    assert isinstance(check_cv(3, y, classifier=is_classifier(blob_clf())), StratifiedKFold)
    search = GridSearchCV(blob_clf(epochs=20), {"n_neurons": [8, 16]}, cv=3).fit(X, y)
    # With KFold each test fold would be a class never seen in training: accuracy 0.
    assert search.cv_results_["mean_test_score"].min() > 0.8
    assert search.best_estimator_.n_neurons in (8, 16)


def test_flat_params_clone_and_set_params():
    clf = FashionMLPClassifier(n_hidden=3, n_neurons=[10, 20, 30], optimizer__momentum=0.9)
    params = clf.get_params()
    assert params["n_hidden"] == 3 and params["n_neurons"] == [10, 20, 30]
    assert params["optimizer__momentum"] == 0.9
    assert "model" not in params and "build_fn" not in params
    cloned = clone(clf)
    assert cloned.get_params() == params and cloned.n_neurons is not clf.n_neurons
    clf.set_params(learning_rate=0.1, fit__validation_freq=2)
    assert clf.learning_rate == 0.1 and clf.get_params()["fit__validation_freq"] == 2
    with pytest.raises(ValueError, match="Invalid parameter n_layers"):
        clf.set_params(n_layers=2)
    assert repr(FashionMLPClassifier(epochs=3)) == "FashionMLPClassifier(epochs=3)"


def test_routed_optimizer_params_reach_the_optimizer(blobs):
    X, y = blobs
    clf = FashionMLPClassifier(n_hidden=1, n_neurons=8, epochs=1, scale_pixels=False, optimizer="sgd", optimizer__momentum=0.9, optimizer__nesterov=True)
    clf.fit(X, y)
    assert clf.model_.optimizer.momentum == 0.9 and clf.model_.optimizer.nesterov is True
    assert float(clf.model_.optimizer.learning_rate) == pytest.approx(0.01)


def test_clone_of_fitted_is_unfitted(fitted_clf):
    cloned = clone(fitted_clf)
    assert not hasattr(cloned, "model_") and not hasattr(cloned, "classes_")
    with pytest.raises(NotFittedError):
        cloned.predict(np.zeros((1, 28, 28), dtype=np.uint8))


# ---------------------------------------------------------------- the book's defaults
def test_fashion_defaults_build_the_books_model(fashion_small):
    X, y, _, _ = fashion_small
    clf = FashionMLPClassifier(epochs=1, random_state=0).fit(X[:64], y[:64])
    model = clf.model_
    assert [layer.name for layer in model.layers] == ["flatten", "hidden1", "hidden2", "output"]
    assert model.input_shape == (None, 28, 28)
    assert [model.get_layer(n).units for n in ("hidden1", "hidden2", "output")] == [300, 100, 10]
    assert model.get_layer("output").activation.__name__ == "softmax"
    assert model.count_params() == 266_610  # the book's summary
    assert model.loss == "sparse_categorical_crossentropy"
    assert isinstance(model.optimizer, keras.optimizers.SGD)
    assert float(model.optimizer.learning_rate) == pytest.approx(0.01)
    defaults = FashionMLPClassifier()
    assert (defaults.batch_size, defaults.epochs, defaults.early_stopping) == (32, 30, False)


def test_housing_defaults_build_the_books_model(housing_small):
    X, y, _, _ = housing_small
    reg = HousingMLPRegressor(epochs=1, random_state=0).fit(X, y)
    model = reg.model_
    assert [layer.name for layer in model.layers] == ["normalization", "hidden1", "hidden2", "hidden3", "output"]
    assert [model.get_layer(f"hidden{i}").units for i in (1, 2, 3)] == [50, 50, 50]
    assert model.get_layer("output").units == 1
    assert isinstance(model.optimizer, keras.optimizers.Adam)
    assert float(model.optimizer.learning_rate) == pytest.approx(1e-3)
    assert "root_mean_squared_error" in reg.history_
    # The Normalization layer was adapted to the training part of X inside fit.
    norm = model.get_layer("normalization")
    train_mean = np.asarray(norm.mean).reshape(-1)
    assert np.all(np.abs(train_mean - X.mean(axis=0)) < 0.1 * np.abs(X).mean(axis=0) + 1e-3)


# ---------------------------------------------------------------- inputs and scaling
def test_images_rows_and_pipeline_with_pixel_scaler_agree(fashion_small):
    X, y, Xt, _ = fashion_small
    on_images = small_clf().fit(X, y)
    proba = on_images.predict_proba(Xt)
    assert on_images.n_features_in_ == 784 and on_images.sample_shape_ == (28, 28)
    # Rows are accepted at predict time by a model fitted on images.
    np.testing.assert_allclose(on_images.predict_proba(Xt.reshape(len(Xt), -1)), proba, atol=1e-6)
    # Inside a pipeline with PixelScaler the classifier must not scale a second time.
    pipe = make_pipeline(ImageFlattener(), PixelScaler(), small_clf()).fit(X, y)
    np.testing.assert_allclose(pipe.predict_proba(Xt), proba, atol=1e-5)
    # Floats already in [0, 1] are the same as uint8 pixels.
    on_floats = small_clf().fit(X / np.float32(255), y)
    np.testing.assert_allclose(on_floats.predict_proba(Xt), proba, atol=1e-5)


def test_float_pixels_in_0_255_warn(fashion_small):
    X, y, _, _ = fashion_small
    with pytest.warns(UserWarning, match="used unscaled"):
        small_clf(epochs=1).fit(X[:64].astype(np.float32), y[:64])
    forced = small_clf(epochs=1, scale_pixels=True).fit(X[:64].astype(np.float32), y[:64])
    assert forced.n_iter_ == 1


def test_string_labels_and_probabilities(fashion_small):
    X, y, Xt, _ = fashion_small
    names = np.asarray(FASHION_CLASS_NAMES)[y]
    clf = small_clf().fit(X, names)
    assert clf.classes_.tolist() == sorted(FASHION_CLASS_NAMES)
    pred = clf.predict(Xt[:10])
    assert set(pred) <= set(FASHION_CLASS_NAMES)
    proba = clf.predict_proba(Xt[:10])
    assert proba.shape == (10, 10)
    np.testing.assert_allclose(proba.sum(axis=1), 1.0, rtol=1e-5)
    assert clf.predict_proba(Xt[:1]).shape == (1, 10)
    np.testing.assert_array_equal(pred, clf.classes_[proba.argmax(axis=1)])


def test_binary_target_uses_one_sigmoid_unit(blobs):
    X, y = blobs
    yb = np.where(y == 0, "no", "yes")
    clf = blob_clf(epochs=10).fit(X, yb)
    out = clf.model_.get_layer("output")
    assert out.units == 1 and out.activation.__name__ == "sigmoid"
    assert clf.model_.loss == "binary_crossentropy"
    proba = clf.predict_proba(X)
    assert proba.shape == (len(X), 2)
    np.testing.assert_allclose(proba.sum(axis=1), 1.0, rtol=1e-6)
    assert clf.score(X, yb) > 0.9


def test_multilabel_target_uses_sigmoid_outputs(blobs):
    X, y = blobs
    Y = np.column_stack([y == 0, y != 2, y == 1]).astype(int)
    clf = blob_clf(epochs=15).fit(X, Y)
    out = clf.model_.get_layer("output")
    assert out.units == 3 and out.activation.__name__ == "sigmoid"
    assert clf.model_.loss == "binary_crossentropy"
    pred = clf.predict(X)
    assert pred.shape == Y.shape and set(np.unique(pred)) <= {0, 1}
    assert (pred == Y).mean() > 0.85


def test_dataframe_feature_names_are_checked(housing_small):
    pd = pytest.importorskip("pandas")
    from skann.datasets import CALIFORNIA_FEATURE_NAMES

    X, y, Xt, _ = housing_small
    df = pd.DataFrame(X, columns=CALIFORNIA_FEATURE_NAMES)
    reg = small_reg(epochs=1).fit(df, y)
    assert reg.feature_names_in_.tolist() == list(CALIFORNIA_FEATURE_NAMES)
    test_df = pd.DataFrame(Xt, columns=CALIFORNIA_FEATURE_NAMES)
    with pytest.warns(UserWarning, match="does not have valid feature names"):
        from_array = reg.predict(Xt)
    np.testing.assert_allclose(reg.predict(test_df), from_array, atol=1e-6)
    with pytest.raises(ValueError, match="feature names"):
        reg.predict(test_df[list(reversed(CALIFORNIA_FEATURE_NAMES))])


# ---------------------------------------------------------------- training behaviour
def test_random_state_reproducible(housing_small):
    X, y, Xt, _ = housing_small
    a = small_reg(random_state=7).fit(X, y).predict(Xt)
    b = small_reg(random_state=7).fit(X, y).predict(Xt)
    c = small_reg(random_state=8).fit(X, y).predict(Xt)
    np.testing.assert_array_equal(a, b)
    assert np.abs(a - c).max() > 1e-4
    state = np.random.get_state()[1].copy()
    small_reg(epochs=1, random_state=7).fit(X, y)
    np.testing.assert_array_equal(np.random.get_state()[1], state)  # global state untouched


def test_random_state_as_randomstate_is_reproducible(blobs):
    X, y = blobs
    rs = np.random.RandomState(3)
    a = blob_clf(random_state=rs).fit(X, y).predict_proba(X)
    b = blob_clf(random_state=rs).fit(X, y).predict_proba(X)
    np.testing.assert_array_equal(a, b)


def test_history_and_early_stopping_restore_best_weights(housing_small):
    X, y, Xv, yv = housing_small
    reg = small_reg(epochs=200, early_stopping=True, patience=3, learning_rate=0.05)
    reg.fit(X, y, validation_data=(Xv, yv))
    assert reg.n_iter_ < 200, "early stopping never triggered"
    hist = reg.history_
    assert set(hist) == {"loss", "root_mean_squared_error", "val_loss", "val_root_mean_squared_error"}
    assert all(len(v) == reg.n_iter_ for v in hist.values())
    # The weights kept are those of the best validation epoch.
    best = min(hist["val_loss"])
    assert np.mean((reg.predict(Xv) - yv) ** 2) == pytest.approx(best, rel=1e-4)
    assert hist["val_loss"][-1] > best


def test_early_stopping_holds_out_a_stratified_fraction(fashion_small):
    X, y, _, _ = fashion_small
    seen = {}

    class CountVal(keras.callbacks.Callback):
        def on_test_batch_end(self, batch, logs=None):
            seen["val_batches"] = seen.get("val_batches", 0) + 1

        def on_train_batch_end(self, batch, logs=None):
            seen["train_batches"] = seen.get("train_batches", 0) + 1

    clf = small_clf(epochs=1, early_stopping=True, validation_fraction=0.2, callbacks=[CountVal()])
    clf.fit(X, y)
    assert "val_loss" in clf.history_ and "val_accuracy" in clf.history_
    assert seen["train_batches"] == int(np.ceil(480 / 32))  # 600 - 20 % held out
    with pytest.raises(ValueError, match="validation_fraction"):
        small_clf(early_stopping=True, validation_fraction=0.99).fit(X[:20], y[:20])


def test_validation_data_goes_through_input_handling(fashion_small):
    X, y, Xt, yt = fashion_small
    names = np.asarray(FASHION_CLASS_NAMES)
    clf = small_clf(epochs=2).fit(X, names[y], validation_data=(Xt, names[yt]))
    assert clf.history_["val_accuracy"][-1] == pytest.approx(clf.score(Xt, names[yt]), abs=1e-6)
    with pytest.raises(ValueError, match="784 features"):
        small_clf(epochs=1).fit(X, y, validation_data=(Xt[:, :20], yt))


def test_user_callbacks_checkpoint_and_epoch_counter(tmp_path, housing_small):
    X, y, _, _ = housing_small
    path = tmp_path / "best.keras"
    epochs = []

    class Recorder(keras.callbacks.Callback):
        def on_epoch_end(self, epoch, logs=None):
            epochs.append(epoch)

    reg = small_reg(epochs=3, callbacks=[keras.callbacks.ModelCheckpoint(path), Recorder()]).fit(X, y)
    assert epochs == [0, 1, 2]
    restored = keras.models.load_model(path)
    np.testing.assert_allclose(restored.predict_on_batch(X[:5].astype(np.float32)).ravel(), reg.predict(X[:5]), atol=1e-5)


def test_sample_weight_and_class_weight_change_the_fit(blobs):
    X, y = blobs
    base = blob_clf().fit(X, y).predict_proba(X)
    weighted = blob_clf().fit(X, y, sample_weight=np.where(y == 0, 5.0, 1.0)).predict_proba(X)
    assert np.abs(base - weighted).max() > 1e-3
    cw = blob_clf(class_weight={0: 5.0, 1: 1.0, 2: 1.0}).fit(X, y).predict_proba(X)
    np.testing.assert_allclose(cw, weighted, atol=1e-6)  # class_weight is sample_weight per class
    balanced = blob_clf(class_weight="balanced").fit(X, y)
    assert balanced.score(X, y, sample_weight=np.ones(len(y))) == balanced.score(X, y)
    with pytest.raises(ValueError, match="zero"):
        blob_clf().fit(X, y, sample_weight=np.zeros(len(y)))


def test_partial_fit_and_warm_start_continue_training(blobs, housing_small):
    X, y = blobs
    clf = blob_clf(epochs=2)
    clf.partial_fit(X[:60], y[:60], classes=[0, 1, 2])
    weights = [w.copy() for w in clf.model_.get_weights()]
    clf.partial_fit(X[60:], y[60:])
    assert clf.n_iter_ == 2 and len(clf.history_["loss"]) == 2
    assert any(np.abs(a - b).max() > 0 for a, b in zip(weights, clf.model_.get_weights()))
    assert clf.model_.optimizer.iterations.numpy() == 4  # optimizer state continued

    Xh, yh, _, _ = housing_small
    reg = small_reg(epochs=2, warm_start=True).fit(Xh, yh)
    model = reg.model_
    reg.fit(Xh, yh)
    assert reg.model_ is model and reg.n_iter_ == 4
    cold = small_reg(epochs=2).fit(Xh, yh)
    first = cold.model_
    cold.fit(Xh, yh)
    assert cold.model_ is not first and cold.n_iter_ == 2


def test_multioutput_regression_and_options(housing_small):
    X, y, Xt, _ = housing_small
    Y = np.column_stack([y, 2 * y])
    reg = small_reg(epochs=2, loss="huber", output_activation="softplus").fit(X, Y)
    assert reg.model_.get_layer("output").units == 2
    pred = reg.predict(Xt)
    assert pred.shape == (len(Xt), 2) and pred.dtype == np.float64 and (pred > 0).all()
    assert reg.n_outputs_ == 2
    assert reg.predict(Xt[:1]).shape == (1, 2)
    assert small_reg(epochs=1).fit(X, y).predict(Xt[:1]).shape == (1,)
    assert isinstance(cross_val_score(small_reg(epochs=1), X, y, cv=2)[0], float)


def test_hidden_layer_sizes_per_layer(blobs):
    X, y = blobs
    clf = blob_clf(n_hidden=3, n_neurons=(20, 10, 5), epochs=1).fit(X, y)
    assert [clf.model_.get_layer(f"hidden{i}").units for i in (1, 2, 3)] == [20, 10, 5]
    linear = blob_clf(n_hidden=0, epochs=1).fit(X, y)
    assert [layer.name for layer in linear.model_.layers] == ["flatten", "output"]


# ---------------------------------------------------------------- errors
@pytest.mark.parametrize(
    "params, match",
    [
        ({"n_hidden": -1}, "'n_hidden' parameter"),
        ({"n_neurons": 0}, "'n_neurons' parameter"),
        ({"n_hidden": 3, "n_neurons": (300, 100)}, r"n_neurons gives 2 layer size\(s\) .* n_hidden=3"),
        ({"learning_rate": 0.0}, "'learning_rate' parameter"),
        ({"optimizer": "nonsense"}, "Could not interpret optimizer 'nonsense'"),
        ({"epochs": 0}, "'epochs' parameter"),
        ({"validation_fraction": 1.5}, "'validation_fraction' parameter"),
        ({"scale_pixels": "yes"}, "'scale_pixels' parameter"),
        ({"callbacks": ["not a callback"]}, "keras.callbacks.Callback"),
        ({"model__units": 3}, r"has no parameter\(s\) \['model__units'\]"),
        ({"n_layers": 3}, r"has no parameter\(s\) \['n_layers'\]"),
    ],
)
def test_invalid_hyperparameters_fail_at_fit_with_a_clear_error(params, match, blobs):
    X, y = blobs
    clf = blob_clf(**params)  # never at construction
    with pytest.raises((ValueError, TypeError), match=match):
        clf.fit(X, y)
    assert not hasattr(clf, "model_")


def test_regressor_invalid_options(housing_small):
    X, y, _, _ = housing_small
    with pytest.raises(ValueError, match="'loss' parameter"):
        small_reg(loss="hinge").fit(X, y)
    with pytest.raises(ValueError, match="'output_activation' parameter"):
        small_reg(output_activation="softmax").fit(X, y)


@pytest.mark.parametrize(
    "make_X, make_y, match",
    [
        (lambda X: np.where(np.arange(X.size).reshape(X.shape) == 3, np.nan, X), None, "NaN"),
        (lambda X: np.where(np.arange(X.size).reshape(X.shape) == 3, np.inf, X), None, "infinity"),
        (lambda X: X[:0], lambda y: y[:0], "0 sample"),
        (lambda X: X, lambda y: y[:-1], "inconsistent numbers of samples"),
        (lambda X: X.astype(str).astype(object) + "x", None, "could not convert"),
        (lambda X: sp.csr_matrix(X), None, "Sparse data was passed .* dense data is required"),
        (lambda X: X[:, 0], None, "Expected 2D array"),
        (lambda X: X, lambda y: np.zeros(len(y)), "at least 2 classes"),
        (lambda X: X, lambda y: np.linspace(0, 1, len(y)), "Unknown label type: continuous"),
        (lambda X: X, lambda y: None, "requires y to be passed"),
    ],
)
def test_bad_training_input_gets_a_clear_error(make_X, make_y, match, blobs):
    X, y = blobs
    X = X.astype(np.float64)
    clf = blob_clf(epochs=1)
    bad_y = y if make_y is None else make_y(y)
    with pytest.raises((ValueError, TypeError), match=match):
        clf.fit(make_X(X), bad_y)
    assert not hasattr(clf, "model_") and not hasattr(clf, "classes_")


def test_regressor_refuses_images_and_nan_target(housing_small):
    X, y, _, _ = housing_small
    with pytest.raises(ValueError, match="dim 3"):
        small_reg().fit(X.reshape(len(X), 4, 2), y)
    with pytest.raises(ValueError, match="NaN"):
        small_reg().fit(X, np.where(np.arange(len(y)) == 5, np.nan, y))


def test_bad_predict_input(fitted_clf, fashion_small):
    _, _, Xt, _ = fashion_small
    with pytest.raises(NotFittedError):
        FashionMLPClassifier().predict(Xt)
    with pytest.raises(NotFittedError):
        HousingMLPRegressor().predict(np.zeros((2, 8)))
    with pytest.raises(ValueError, match="784 features"):
        fitted_clf.predict(Xt[:, :27])
    with pytest.raises(ValueError, match="NaN"):
        fitted_clf.predict(np.full((1, 28, 28), np.nan))
    with pytest.raises(TypeError, match="Sparse data"):
        fitted_clf.predict(sp.csr_matrix(Xt.reshape(len(Xt), -1)))
    with pytest.raises(ValueError, match="0 sample"):
        fitted_clf.predict(Xt[:0])
    with pytest.raises(ValueError, match="unknown categories"):
        fitted_clf.partial_fit(Xt[:5], np.full(5, 99))
    assert fitted_clf.n_iter_ == 5  # the failed partial_fit changed nothing


def test_failed_refit_keeps_the_previous_model(blobs):
    X, y = blobs
    clf = blob_clf(epochs=1).fit(X, y)
    model, proba = clf.model_, clf.predict_proba(X)
    with pytest.raises(ValueError):
        clf.fit(np.full_like(X, np.nan), y)
    assert clf.model_ is model
    np.testing.assert_array_equal(clf.predict_proba(X), proba)

    class Boom(keras.callbacks.Callback):
        def on_epoch_end(self, epoch, logs=None):
            raise RuntimeError("interrupted")

    fresh = blob_clf(epochs=3, callbacks=[Boom()])
    with pytest.raises(RuntimeError, match="interrupted"):
        fresh.fit(X, y)
    assert not hasattr(fresh, "model_") and not hasattr(fresh, "history_")


# ---------------------------------------------------------------- quiet by default
def _user_env() -> dict:
    """The environment of a user who has not configured TensorFlow logging."""
    return {k: v for k, v in os.environ.items() if not k.startswith(("TF_", "SKANN_TF"))}


def test_fit_and_predict_print_nothing_in_a_fresh_process():
    code = textwrap.dedent(
        """
        import numpy as np
        from skann import FashionMLPClassifier, HousingMLPRegressor, PerceptronBaseline, WideDeepRegressor
        rng = np.random.RandomState(0)
        X = rng.randint(0, 255, size=(64, 28, 28)).astype(np.uint8)
        y = rng.randint(0, 3, size=64)
        clf = FashionMLPClassifier(n_hidden=1, n_neurons=8, epochs=2, random_state=0).fit(X, y)
        for n in (1, 3, 5, 7, 64):  # varied shapes: no retracing warnings either
            clf.predict(X[:n]); clf.predict_proba(X[:n])
        reg = HousingMLPRegressor(epochs=2, random_state=0).fit(rng.normal(size=(64, 8)), rng.normal(size=64))
        reg.predict(rng.normal(size=(3, 8)))
        for api in ("functional", "subclass"):
            wd = WideDeepRegressor(api=api, epochs=2, random_state=0).fit(rng.normal(size=(64, 8)), rng.normal(size=64))
            wd.predict(rng.normal(size=(2, 8))); wd.predict_aux(rng.normal(size=(5, 8)))
        per = PerceptronBaseline(max_iter=3, random_state=0).fit(rng.normal(size=(64, 4)), rng.randint(0, 3, 64))
        per.predict(rng.normal(size=(2, 4))); per.decision_function(rng.normal(size=(2, 4)))
        """
    )
    result = subprocess.run(
        [sys.executable, "-c", code], capture_output=True, text=True, timeout=300, env=_user_env()
    )
    assert result.returncode == 0, result.stderr
    assert result.stdout == ""
    assert result.stderr == ""


def test_verbose_shows_keras_progress():
    code = textwrap.dedent(
        """
        import numpy as np
        from skann import HousingMLPRegressor
        rng = np.random.RandomState(0)
        HousingMLPRegressor(epochs=2, verbose=2, early_stopping=False).fit(rng.normal(size=(64, 8)), rng.normal(size=64))
        """
    )
    result = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, timeout=300)
    assert result.returncode == 0, result.stderr
    assert "Epoch 2/2" in result.stdout and "loss" in result.stdout


def test_a_book_estimator_says_what_it_lacks_when_its_class_is_defined():
    from skann import KerasRegressor
    from skann._book import BookNetwork

    with pytest.raises(TypeError, match=r"Broken is a book estimator without build_network .*_get_compile_kwargs"):

        class Broken(BookNetwork, KerasRegressor):
            pass

    class Complete(BookNetwork, KerasRegressor):  # its compile settings from _loss and _metrics
        def build_network(self):
            raise NotImplementedError

        def _loss(self):
            return "mse"

        def _metrics(self):
            return []

    assert Complete().REQUIRES.keys() == {"build_network", "_get_compile_kwargs"}
