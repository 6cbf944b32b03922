"""skann.KerasClassifier / KerasRegressor around users' own Keras models."""

from __future__ import annotations

import os
import pickle
import re
import subprocess
import sys
import textwrap

import joblib
import keras
import numpy as np
import pytest
from sklearn.base import clone
from sklearn.model_selection import GridSearchCV, cross_val_score
from sklearn.pipeline import make_pipeline
from sklearn.preprocessing import FunctionTransformer, StandardScaler

import sklearn

import skann
from skann import KerasClassifier, KerasRegressor
from skann.persistence import UnsafeObjectError


def mlp(meta, hidden=16, compile_kwargs=None):
    """A user's builder: Dense layers sized from what fit saw."""
    return keras.Sequential([
        keras.Input((meta["n_features_in_"],)),
        keras.layers.Dense(hidden, activation="relu"),
        keras.layers.Dropout(0.1),
        keras.layers.Dense(meta["n_classes_"], activation="softmax"),
    ])


def cnn(meta, filters=4):
    """A small CNN on images (n, h, w, 1)."""
    return keras.Sequential([
        keras.Input(meta["X_shape_"][1:]),
        keras.layers.Conv2D(filters, 3, activation="relu"),
        keras.layers.MaxPooling2D(),
        keras.layers.Flatten(),
        keras.layers.Dense(meta["n_classes_"], activation="softmax"),
    ])


@keras.saving.register_keras_serializable(package="skann_tests")
class Scale(keras.layers.Layer):
    """A registered custom layer."""

    def __init__(self, factor=2.0, **kwargs):
        super().__init__(**kwargs)
        self.factor = factor

    def call(self, x):
        return x * self.factor

    def get_config(self):
        return {**super().get_config(), "factor": self.factor}


class Unregistered(keras.layers.Layer):
    def call(self, x):
        return x


def _regressor_with(layer, meta):
    return keras.Sequential([keras.Input((meta["n_features_in_"],)), layer, keras.layers.Dense(meta["n_outputs_"])])


def scaled_regressor(meta):
    """A regressor with a registered custom layer (module level, so that it pickles)."""
    return _regressor_with(Scale(), meta)


def unregistered_regressor(meta):
    return _regressor_with(Unregistered(), meta)


CLF = dict(loss="sparse_categorical_crossentropy", optimizer="adam", epochs=3, random_state=0)


@pytest.fixture(scope="module")
def fitted(blobs):
    X, y = blobs
    return KerasClassifier(mlp, model__hidden=8, **CLF).fit(X, y)


def test_builder_gets_routed_and_plain_params_and_meta(blobs):
    X, y = blobs
    seen = {}

    def build(meta, compile_kwargs, hidden, width=3):
        seen.update(meta=meta, compile_kwargs=compile_kwargs, hidden=hidden, width=width)
        return mlp(meta, hidden)

    clf = KerasClassifier(build, hidden=5, model__width=7, **CLF).fit(X, y)
    assert seen["hidden"] == 5 and seen["width"] == 7
    assert seen["meta"]["n_features_in_"] == 4 and seen["meta"]["n_classes_"] == 3
    assert seen["meta"]["target_type_"] == "multiclass"
    assert isinstance(seen["compile_kwargs"]["optimizer"], keras.optimizers.Adam)
    assert clf.model_.layers[0].units == 5
    assert clf.predict_proba(X[:3]).shape == (3, 3)
    np.testing.assert_allclose(clf.predict_proba(X[:3]).sum(axis=1), 1, rtol=1e-5)


def test_model_instance_is_copied_per_fit_and_never_trained(blobs):
    X, y = blobs
    user = mlp({"n_features_in_": 4, "n_classes_": 3}, 8)
    user.compile(optimizer="adam", loss="sparse_categorical_crossentropy")
    before = [w.copy() for w in user.get_weights()]
    clf = KerasClassifier(user, epochs=2, random_state=0).fit(X, y)
    assert clf.model_ is not user
    for a, b in zip(before, user.get_weights()):
        np.testing.assert_array_equal(a, b)  # the user's model is untouched
    refit = clone(clf).fit(X, y)
    for a, b in zip(clf.model_.get_weights(), refit.model_.get_weights()):
        np.testing.assert_allclose(a, b, rtol=1e-6, atol=1e-6)  # every fit starts from the same weights
    # initialize wraps the instance itself, for inference with a trained model
    assert KerasClassifier(user).initialize(X, y).model_ is user


def test_tags_follow_the_model_and_cv_is_stratified(blobs):
    from sklearn.base import is_classifier, is_regressor

    assert is_classifier(KerasClassifier(mlp)) and is_regressor(KerasRegressor(mlp))
    image_model = cnn({"X_shape_": (None, 8, 8, 1), "n_classes_": 3})
    tags = KerasClassifier(image_model).__sklearn_tags__()
    assert tags.input_tags.three_d_array and not tags.input_tags.two_d_array
    dense_model = mlp({"n_features_in_": 4, "n_classes_": 3})
    tags = KerasClassifier(dense_model).__sklearn_tags__()
    assert tags.input_tags.two_d_array and not tags.input_tags.three_d_array
    X, y = blobs
    order = np.argsort(y)  # sorted labels: unstratified folds would each miss a class
    clf = KerasClassifier(mlp, **{**CLF, "epochs": 20}, optimizer__learning_rate=0.05)
    scores = cross_val_score(clf, X[order], y[order], cv=3)
    assert scores.min() > 0.5


def test_cnn_on_images_in_a_grid_search(fashion_sample):
    (X_train, y_train), _ = fashion_sample
    X = X_train[:300, :, :, None].astype("float32") / 255.0
    y = y_train[:300]
    search = GridSearchCV(
        KerasClassifier(cnn, **CLF), {"model__filters": [2, 4]}, cv=2
    ).fit(X, y)
    assert search.best_estimator_.model_.layers[0].filters in (2, 4)
    assert search.predict(X[:5]).shape == (5,)
    assert search.best_estimator_.n_features_in_ == 28  # rows of the images


def test_multi_input_through_a_feature_encoder_and_multi_output_regression(housing_sample):
    X, y = housing_sample
    X, y = X[:400], y[:400]

    def two_inputs(meta):
        wide, deep = keras.Input((2,), name="wide"), keras.Input((6,), name="deep")
        hidden = keras.layers.Dense(8, activation="relu")(deep)
        out = keras.layers.Dense(meta["n_outputs_"])(keras.layers.Concatenate()([wide, hidden]))
        return keras.Model([wide, deep], out)

    class TwoInputRegressor(KerasRegressor):
        @property
        def feature_encoder(self):
            return FunctionTransformer(lambda X: [X[:, :2], X[:, 2:]])

    Y = np.column_stack([y, 2 * y])
    reg = TwoInputRegressor(two_inputs, loss="mse", optimizer="adam", epochs=2, random_state=0)
    pipe = make_pipeline(StandardScaler(), reg).fit(X, Y)
    pred = pipe.predict(X[:7])
    assert pred.shape == (7, 2) and pred.dtype == np.float64
    keras_pred = reg.model_.predict([StandardScaler().fit(X).transform(X[:7])[:, :2],
                                     StandardScaler().fit(X).transform(X[:7])[:, 2:]], verbose=0)
    np.testing.assert_allclose(pred, keras_pred, rtol=1e-5, atol=1e-5)


def test_partial_fit_initialize_history_and_current_epoch(blobs):
    X, y = blobs
    clf = KerasClassifier(mlp, metrics=["accuracy"], **CLF)
    for k in range(1, 4):
        clf.partial_fit(X, y)
        assert clf.current_epoch == k == len(clf.history_["loss"]) == clf.n_iter_
    model = clf.model_
    clf.set_params(warm_start=True).fit(X, y)
    assert clf.model_ is model and clf.current_epoch == 6  # warm_start continues, as sklearn's MLPs
    clf.set_params(warm_start=False).fit(X, y)
    assert clf.model_ is not model and clf.current_epoch == 3
    assert set(clf.history_) == {"loss", "accuracy"}


def test_initial_epoch_numbers_the_fits_epochs_as_scikeras_did(blobs):
    X, y = blobs
    seen = []
    schedule = keras.callbacks.LearningRateScheduler(lambda epoch, rate: seen.append(epoch) or rate)
    clf = KerasClassifier(mlp, callbacks=[schedule], **CLF).fit(X, y, initial_epoch=5)
    assert seen == [5, 6, 7] and clf.current_epoch == 3  # `epochs` epochs, numbered from 5
    seen.clear()
    clf.set_params(warm_start=True).fit(X, y, epochs=2)
    assert seen == [3, 4] and clf.current_epoch == 5  # continuing: from the epochs trained so far
    for bad in (-1, 1.5, True, "2"):
        with pytest.raises(ValueError, match=rf"initial_epoch must be an int >= 0 .*got {re.escape(repr(bad))}"):
            KerasClassifier(mlp, **CLF).fit(X, y, initial_epoch=bad)
    with pytest.raises(TypeError, match="Invalid argument `initial_epoch` to `partial_fit`"):
        clf.partial_fit(X, y, initial_epoch=1)


def test_random_state_reproducible_and_global_state_untouched(blobs):
    X, y = blobs
    state = np.random.get_state()[1].copy()
    a = KerasClassifier(mlp, **CLF).fit(X, y).predict_proba(X)
    b = KerasClassifier(mlp, **CLF).fit(X, y).predict_proba(X)
    np.testing.assert_array_equal(a, b)
    np.testing.assert_array_equal(state, np.random.get_state()[1])


def test_a_failed_fit_leaves_the_estimator_as_it_was(fitted, blobs):
    X, y = blobs
    clf = pickle.loads(pickle.dumps(fitted))
    before = {k: v for k, v in vars(clf).items()}
    weights = clf.model_.get_weights()

    class Boom(keras.callbacks.Callback):
        def on_epoch_end(self, epoch, logs=None):
            raise RuntimeError("boom")

    clf.set_params(fit__callbacks=[Boom()])
    with pytest.raises(RuntimeError, match="boom"):
        clf.partial_fit(X, y)
    del clf.fit__callbacks
    assert vars(clf).keys() == before.keys() and clf.current_epoch == fitted.current_epoch
    for a, b in zip(weights, clf.model_.get_weights()):
        np.testing.assert_array_equal(a, b)


def test_clear_errors_for_bad_models_and_parameters(blobs):
    X, y = blobs
    with pytest.raises(ValueError, match="Could not interpret loss identifier 'sparse_crossentropy'"):
        KerasClassifier(mlp, loss="sparse_crossentropy").fit(X, y)
    with pytest.raises(ValueError, match="provide a loss"):
        KerasClassifier(mlp).fit(X, y)
    with pytest.raises(TypeError, match="unexpected keyword argument 'hiden'"):
        KerasClassifier(mlp, hiden=3, **CLF).fit(X, y)
    with pytest.raises(TypeError, match="not a keras.Model"):
        KerasClassifier(lambda: "not a model", **CLF).fit(X, y)
    with pytest.raises(ValueError, match="NaN"):
        KerasClassifier(mlp, **CLF).fit(np.full_like(X, np.nan), y)
    assert not hasattr(KerasClassifier(mlp), "model_")
    # A structured (record) array: NumPy's cast error from deep inside, before.
    records = np.zeros(len(X), dtype=[(f"f{i}", "<f8") for i in range(X.shape[1])])
    with pytest.raises(ValueError, match=r"X is a structured NumPy array \(fields f0, f1.*structured_to_unstructured"):
        KerasClassifier(mlp, **CLF).fit(records, y)
    with pytest.raises(ValueError, match=r"y is a structured NumPy array \(fields label\)"):
        KerasClassifier(mlp, **CLF).fit(X, np.zeros(len(X), dtype=[("label", "<i8")]))
    fitted = KerasClassifier(mlp, **CLF).fit(X, y)
    with pytest.raises(ValueError, match="X is a structured NumPy array"):
        fitted.predict(records)
    # X=None: "object of type 'NoneType' has no len()" and AttributeErrors, before.
    calls = [lambda e: e.predict(None), lambda e: e.score(None, y), lambda e: e.partial_fit(None, y),
             lambda e: e.fit(None, y), lambda e: KerasClassifier(mlp, **CLF).initialize(None, y)]
    for call in calls:
        with pytest.raises(ValueError, match=r"X is None: pass the samples"):
            call(fitted)


def test_every_public_method_and_attribute_works(fitted, blobs, fashion_sample, housing_sample):
    """Each public name of every skann estimator class, on a fitted instance: nothing inherited
    that raises (SciKeras' initialize did, on the book estimators)."""
    from skann import FashionMLPClassifier, HousingMLPRegressor, PerceptronBaseline, WideDeepRegressor

    X, y = blobs
    (Xf, yf), _ = fashion_sample
    Xh, yh = housing_sample
    cases = [
        (fitted, X, y),
        (KerasRegressor(scaled_regressor, loss="mse", epochs=1).fit(Xh[:200], yh[:200]), Xh[:200], yh[:200]),
        (FashionMLPClassifier(n_neurons=(8, 8), epochs=1).fit(Xf[:200], yf[:200]), Xf[:200], yf[:200]),
        (HousingMLPRegressor(n_neurons=8, epochs=2).fit(Xh[:200], yh[:200]), Xh[:200], yh[:200]),
        (WideDeepRegressor(n_neurons=8, epochs=2).fit(Xh[:200], yh[:200]), Xh[:200], yh[:200]),
        (PerceptronBaseline(max_iter=3).fit(X, y), X, y),
    ]
    calls = {
        "fit": lambda e, X, y: e.fit(X, y), "partial_fit": lambda e, X, y: e.partial_fit(X, y),
        "initialize": lambda e, X, y: e.initialize(X, y), "predict": lambda e, X, y: e.predict(X),
        "predict_proba": lambda e, X, y: e.predict_proba(X), "score": lambda e, X, y: e.score(X, y),
        "decision_function": lambda e, X, y: e.decision_function(X), "predict_aux": lambda e, X, y: e.predict_aux(X),
        "scorer": lambda e, X, y: e.scorer(e.predict(X), e.predict(X)),
        "get_params": lambda e, X, y: e.get_params(), "set_params": lambda e, X, y: e.set_params(),
        "get_metadata_routing": lambda e, X, y: e.get_metadata_routing(),
        "set_fit_request": lambda e, X, y: _routed(e.set_fit_request),
        "set_partial_fit_request": lambda e, X, y: _routed(e.set_partial_fit_request),
        "set_score_request": lambda e, X, y: _routed(e.set_score_request),
        # the extension points for subclasses
        "build_network": lambda e, X, y: e.build_network(),
        "encode_features": lambda e, X, y: e.encode_features(np.asarray(X)),
        "scales_pixels": lambda e, X, y: e.scales_pixels(np.uint8),
        "encode_targets": lambda e, X, y: e.encode_targets(np.asarray(y)),
        "split_fit_data": lambda e, X, y: e.split_fit_data(np.asarray(X), np.asarray(y), None, None),
        "default_callbacks": lambda e, X, y: e.default_callbacks(False),
        "epoch_feed": lambda e, X, y: _epoch_feed_of(e, X, y),
        "early_stopping_callbacks": lambda e, X, y: e.early_stopping_callbacks(False),
    }
    mutating = ("fit", "partial_fit", "initialize", "set_params")
    for est, X_, y_ in cases:
        names = [n for n in dir(est) if not n.startswith("_")]
        for name in names:
            value = getattr(est, name)  # every public attribute and property can be read
            if callable(value) and not isinstance(value, (np.ndarray, keras.Model)) and name not in est.get_params():
                assert name in calls, f"{type(est).__name__}.{name} is not exercised by this test"
                calls[name](pickle.loads(pickle.dumps(est)) if name in mutating else est, X_, y_)


def _epoch_feed_of(est, X, y):
    from skann.engine import Feed

    X, y = est._validate_data(X, y)
    feed = est.epoch_feed(est.encode_features(X), est.encode_targets(y), {"callbacks": [], "initial_epoch": 0})
    assert isinstance(feed, Feed) and feed.steps_per_epoch > 0
    loop_rows, n_loop, last_rows = feed.epoch(0, 1024)
    assert loop_rows.dtype == np.int32 and 0 <= n_loop <= len(loop_rows) and len(last_rows) > 0


def _routed(set_request):
    with sklearn.config_context(enable_metadata_routing=True):
        return set_request(sample_weight=True)


def test_metadata_routing_sends_sample_weight_through_a_search(blobs):
    X, y = blobs
    weights = np.where(y == 0, 0.0, 1.0)  # class 0 weighs nothing: it is never learnt
    with sklearn.config_context(enable_metadata_routing=True):
        # Long enough to learn (3 epochs leave the output layer near its random start).
        settings = {**CLF, "epochs": 40, "optimizer__learning_rate": 0.01}
        clf = KerasClassifier(mlp, **settings).set_fit_request(sample_weight=True).set_score_request(sample_weight=False)
        search = GridSearchCV(clf, {"model__hidden": [8]}, cv=2).fit(X, y, sample_weight=weights)
    assert 0 not in search.best_estimator_.predict(X[y == 0])


def test_joblib_and_safe_format_for_user_models(tmp_path, housing_sample):
    X, y = housing_sample
    X, y = X[:300], y[:300]
    reg = KerasRegressor(scaled_regressor, loss="mse", optimizer="adam", epochs=2, random_state=0).fit(X, y)
    expected = reg.predict(X[:5])
    joblib.dump(reg, tmp_path / "reg.joblib")
    np.testing.assert_allclose(joblib.load(tmp_path / "reg.joblib").predict(X[:5]), expected, rtol=1e-6)
    skann.save(reg, tmp_path / "reg.skann")
    loaded = skann.load(tmp_path / "reg.skann")
    np.testing.assert_allclose(loaded.predict(X[:5]), expected, rtol=1e-6)
    assert loaded.model is None  # the file stores no code: the builder is not in it
    loaded.partial_fit(X, y)  # trains further from the loaded state
    assert loaded.current_epoch == 3
    with pytest.raises(ValueError, match="pass model="):
        loaded.fit(X, y)

    unregistered = KerasRegressor(unregistered_regressor, loss="mse", epochs=1).fit(X, y)
    skann.save(unregistered, tmp_path / "unregistered.skann")
    with pytest.raises(UnsafeObjectError, match="register_keras_serializable"):
        skann.load(tmp_path / "unregistered.skann")


def test_search_helpers_work_with_user_models(blobs):
    from skann.search import HyperbandSearchCV, epochs_parameter, find_learning_rate

    X, y = blobs
    clf = KerasClassifier(mlp, **CLF)
    assert epochs_parameter(make_pipeline(StandardScaler(), clf)) == "kerasclassifier__epochs"
    search = HyperbandSearchCV(clf, {"model__hidden": [4, 8, 16]}, max_epochs=4, factor=2, n_brackets=1, cv=2,
                               random_state=0)
    search.fit(X, y)
    assert set(search.cv_results_["n_epochs"]) == {1, 2, 4} and search.best_params_["model__hidden"] in (4, 8, 16)
    assert search.best_estimator_.current_epoch == 4 and search.total_epochs_ == 2 * (4 + 2 * 1 + 2)
    result = find_learning_rate(clf, X, y, n_steps=20)
    assert len(result.learning_rates) >= 2 and result.suggested_learning_rate > 0


PICKLE_SCRIPT = textwrap.dedent(
    """
    import pickle, sys
    if sys.argv[1] == "with":
        import skann  # noqa: F401
    import keras
    class Net(keras.Model):
        def __init__(self, **kwargs):
            super().__init__(**kwargs)
            self.dense = keras.layers.Dense(2)
        def call(self, x):
            return self.dense(x)
    net = Net()
    net(keras.ops.zeros((1, 3)))
    print(keras.Model.__reduce__.__qualname__, type(net).__reduce__.__qualname__)
    try:
        print(len(pickle.dumps(net)) > 0)
    except Exception as exc:
        print(type(exc).__name__)
    """
)


def test_importing_skann_does_not_change_how_keras_models_pickle():
    outputs = []
    for mode in ("without", "with"):
        done = subprocess.run(
            [sys.executable, "-c", PICKLE_SCRIPT, mode], capture_output=True, text=True, timeout=240,
            env={**os.environ, "TF_CPP_MIN_LOG_LEVEL": "3"},
        )
        assert done.returncode == 0, done.stderr
        outputs.append(done.stdout.strip().splitlines())
    assert outputs[0] == outputs[1]
    assert outputs[0][0].startswith("KerasSaveable.__reduce__")


class _EpochCounter(keras.callbacks.Callback):
    def __init__(self):
        super().__init__()
        self.epochs = 0

    def on_epoch_end(self, epoch, logs=None):
        self.epochs += 1


def test_public_extension_points_and_scikeras_private_names(blobs):
    X, y = blobs
    counter = _EpochCounter()
    seen = {}

    class Public(KerasClassifier):
        def build_network(self):
            seen["built"] = "build_network"
            return mlp(self._get_metadata(), hidden=4)

        def encode_features(self, X):
            seen["features"] = X.shape
            return super().encode_features(X)

        def encode_targets(self, y):
            seen.setdefault("targets", []).append(len(y))
            return super().encode_targets(y)

        def split_fit_data(self, X, y, sample_weight, validation_data):
            return super().split_fit_data(X[:100], y[:100], sample_weight, (X[100:], y[100:]))

        def default_callbacks(self, has_validation):
            return super().default_callbacks(has_validation) + [counter]

    clf = Public(**CLF).fit(X, y)
    assert seen["built"] == "build_network" and clf.model_.layers[0].units == 4
    assert seen["targets"] == [100, 20] and counter.epochs == CLF["epochs"]  # training, then hold-out
    assert "val_loss" in clf.history_

    class ScikerasStyle(KerasClassifier):  # SciKeras' private names still work
        def _build_keras_model(self):
            return mlp(self._get_metadata(), hidden=5)

    assert ScikerasStyle(**CLF).fit(X, y).model_.layers[0].units == 5


def test_early_stopping_on_a_user_network_is_the_book_estimators(housing_sample):
    # The same network as HousingMLPRegressor's (its builder, its seed, its Normalization
    # adapted to the same training rows), early stopping on the same seeded hold-out: the
    # same epochs and the same weights.
    from skann import HousingMLPRegressor
    from skann.builders import build_regression_mlp
    from skann.callbacks import HoldOutEarlyStopping

    X, y = housing_sample
    X, y = X[:600].astype(np.float32), y[:600]
    settings = dict(epochs=40, random_state=0, early_stopping=True, validation_fraction=0.2)
    book = HousingMLPRegressor(n_hidden=1, n_neurons=8, learning_rate=0.03, patience=2, **settings).fit(X, y)
    X_train = HoldOutEarlyStopping(0.2, random_state=0).split(X, y)[0]

    def network(meta):
        model = build_regression_mlp(meta["n_features_in_"], 1, n_hidden=1, n_neurons=8, seed=0)
        model.get_layer("normalization").adapt(X_train)
        return model

    user = KerasRegressor(
        network, loss="mse", optimizer="adam", optimizer__learning_rate=0.03, batch_size=32,
        metrics=[keras.metrics.RootMeanSquaredError()], n_iter_no_change=2, **settings,
    ).fit(X, y)
    assert book.current_epoch < 40 and user.current_epoch == book.current_epoch  # it stopped, at the same epoch
    np.testing.assert_allclose(user.history_["val_loss"], book.history_["val_loss"], rtol=1e-5)
    for a, b in zip(user.model_.get_weights(), book.model_.get_weights()):
        np.testing.assert_allclose(a, b, rtol=1e-5, atol=1e-6)  # the best epoch's weights, restored


def test_early_stopping_holds_out_a_stratified_seeded_fraction(blobs):
    X, y = blobs
    clf = KerasClassifier(mlp, **{**CLF, "epochs": 5}, early_stopping=True, validation_fraction=0.25, n_iter_no_change=1)
    seen = {}

    class Sizes(keras.callbacks.Callback):
        def on_train_begin(self, logs=None):
            seen["params"] = dict(self.params)

    clf.set_params(callbacks=[Sizes()]).fit(X, y)
    assert "val_loss" in clf.history_ and clf.current_epoch <= 5
    assert seen["params"]["steps"] == int(np.ceil((len(X) - int(np.ceil(0.25 * len(X)))) / 32))  # trained on 75%
    with pytest.raises(ValueError, match="early_stopping holds out validation_fraction=0.25 .* validation_split=0.2"):
        clf.set_params(validation_split=0.2).fit(X, y)
    with pytest.raises(ValueError, match="validation_fraction"):
        KerasClassifier(mlp, **CLF, early_stopping=True, validation_fraction=1.5).fit(X, y)


def test_validation_scoring_records_scikit_learn_scores_per_epoch(blobs, housing_sample):
    from sklearn.metrics import accuracy_score, balanced_accuracy_score

    X, y = blobs
    X_train, y_train, X_val, y_val = X[:90], y[:90], X[90:], y[90:]

    def balanced(est, X, y):
        return balanced_accuracy_score(y, est.predict(X))

    clf = KerasClassifier(mlp, **CLF, validation_scoring=["accuracy", balanced])
    clf.fit(X_train, y_train, validation_data=(X_val, y_val))
    assert len(clf.history_["val_accuracy_score"]) == len(clf.history_["val_balanced_score"]) == clf.current_epoch == 3
    # The last epoch's score is the fitted estimator's: the network's weights at that epoch.
    assert clf.history_["val_accuracy_score"][-1] == accuracy_score(y_val, clf.predict(X_val))
    assert not hasattr(clf, "_scored_validation")  # the held-out data is not kept
    # Your callbacks see the scores: early stopping on one.
    stop = keras.callbacks.EarlyStopping(monitor="val_accuracy_score", mode="max", patience=1, baseline=1.01)
    clf.set_params(callbacks=[stop], epochs=10).fit(X_train, y_train, validation_data=(X_val, y_val))
    # No score reaches 1.01: it stops once the score stops improving (without the score in the
    # logs it would warn and run all 10 epochs).
    assert 1 < clf.current_epoch < 10 and stop.stopped_epoch == clf.current_epoch - 1
    # A regressor on its early-stopping hold-out.
    Xh, yh = housing_sample
    reg = KerasRegressor(
        scaled_regressor, loss="mse", epochs=3, early_stopping=True, validation_scoring="neg_root_mean_squared_error"
    ).fit(Xh[:300], yh[:300])
    scores = reg.history_["val_neg_root_mean_squared_error_score"]
    assert len(scores) == reg.current_epoch and all(s < 0 for s in scores)
    with pytest.raises(ValueError, match="validation_scoring scores held-out data: set early_stopping=True"):
        KerasClassifier(mlp, **CLF, validation_scoring="accuracy").fit(X, y)
    with pytest.raises(ValueError, match="not a valid scoring value"):
        KerasClassifier(mlp, **CLF, validation_scoring="acuracy").fit(X_train, y_train, validation_data=(X_val, y_val))


def _one_input_regressor(meta):
    inputs = keras.Input((meta["n_features_in_"],))
    return keras.Model(inputs, keras.layers.Dense(1)(inputs))


def test_a_batch_size_of_minus_one_needs_the_network_input_to_have_a_shape():
    """``predict__batch_size=-1`` (SciKeras' "all rows in one batch") counts the rows of what
    the network is given: a feature encoder that makes a list of inputs is refused clearly."""

    class ListInput(KerasRegressor):
        @property
        def feature_encoder(self):
            return FunctionTransformer(lambda x: [x])

    X = np.random.RandomState(0).normal(size=(40, 1)).astype(np.float32)
    y = X[:, 0]
    est = ListInput(_one_input_regressor, loss="mse", epochs=1, predict__batch_size=-1, random_state=0).fit(X, y)
    with pytest.raises(ValueError, match="requires that `X` implement `shape`"):
        est.predict(X)
    plain = KerasRegressor(_one_input_regressor, loss="mse", epochs=1, predict__batch_size=-1, random_state=0).fit(X, y)
    np.testing.assert_allclose(plain.predict(X), plain.set_params(predict__batch_size=7).predict(X), rtol=1e-6)
