"""The fast paths give the same answers as Keras: NumPy inference and multi-step execution."""

from __future__ import annotations

import math

import keras
import numpy as np
import pytest

from skann import FashionMLPClassifier, HousingMLPRegressor, PerceptronBaseline, WideDeepRegressor
from skann.callbacks import needs_every_batch as _needs_every_batch
from skann._inference import numpy_forward
from .conftest import BACKEND, tensorflow_only

not_torch = pytest.mark.skipif(BACKEND == "torch", reason="Keras' PyTorch backend runs one batch per call (no multi-step execution)")
from skann.builders import build_classification_mlp, build_regression_mlp, build_wide_deep


@pytest.fixture(scope="module")
def images(fashion_sample):
    (X_train, y_train), (X_test, _) = fashion_sample
    return X_train[:600], y_train[:600], X_test[:300]


@pytest.fixture(scope="module")
def housing(housing_sample):
    X, y = housing_sample
    return X[:1500], y[:1500], X[1500:2500]


def _keras_inputs(est, X):
    X, _ = est._validate_data(X, reset=False)
    return est.encode_features(X)


def _assert_numpy_path_matches_keras(est, X, output=0):
    forward = numpy_forward(est.model_)
    assert forward is not None, "the NumPy path should support this model"
    inputs = _keras_inputs(est, X)
    expected = est.model_.predict(inputs, verbose=0)
    got = forward(inputs)
    if isinstance(expected, list):
        expected, got = expected[output], got[output]
    np.testing.assert_allclose(got, expected, rtol=1e-5, atol=1e-5)
    return expected


def test_classifier_probabilities_equal_keras_predict(images):
    X, y, X_test = images
    clf = FashionMLPClassifier(n_neurons=(64, 32), epochs=2, random_state=0).fit(X, y)
    expected = _assert_numpy_path_matches_keras(clf, X_test)
    np.testing.assert_allclose(clf.predict_proba(X_test), expected, rtol=1e-5, atol=1e-5)
    np.testing.assert_array_equal(clf.predict(X_test), clf.classes_[expected.argmax(axis=1)])
    one = clf.predict_proba(X_test[:1])
    np.testing.assert_allclose(one, expected[:1], rtol=1e-5, atol=1e-5)


@pytest.mark.parametrize("activation", ["relu", "tanh", "sigmoid", "elu", "selu", "softplus"])
def test_regressor_equals_keras_for_each_supported_activation(housing, activation):
    X, y, X_test = housing
    reg = HousingMLPRegressor(
        activation=activation, epochs=2, early_stopping=False, random_state=0
    ).fit(X, y)
    expected = _assert_numpy_path_matches_keras(reg, X_test)
    np.testing.assert_allclose(reg.predict(X_test), expected.ravel(), rtol=1e-5, atol=1e-5)


def test_wide_deep_functional_main_and_aux_outputs_equal_keras(housing):
    X, y, X_test = housing
    reg = WideDeepRegressor(epochs=2, early_stopping=False, random_state=0).fit(X, y)
    main = _assert_numpy_path_matches_keras(reg, X_test, output=0)
    aux = _assert_numpy_path_matches_keras(reg, X_test, output=1)
    np.testing.assert_allclose(reg.predict(X_test), main.ravel(), rtol=1e-5, atol=1e-5)
    np.testing.assert_allclose(reg.predict_aux(X_test), aux.ravel(), rtol=1e-5, atol=1e-5)


def test_perceptron_scores_equal_keras(blobs):
    X, y = blobs
    per = PerceptronBaseline(max_iter=5, random_state=0).fit(X, y)
    expected = _assert_numpy_path_matches_keras(per, X)
    np.testing.assert_allclose(per.decision_function(X), expected, rtol=1e-5, atol=1e-5)


def test_subclassed_model_falls_back_to_keras(housing):
    X, y, X_test = housing
    reg = WideDeepRegressor(api="subclass", epochs=1, early_stopping=False, random_state=0).fit(X, y)
    assert numpy_forward(reg.model_) is None
    expected = reg.model_.predict(_keras_inputs(reg, X_test), verbose=0)[0]
    np.testing.assert_allclose(reg.predict(X_test), expected.ravel(), rtol=1e-5, atol=1e-5)


def test_unsupported_activation_falls_back_to_keras(images):
    X, y, X_test = images
    clf = FashionMLPClassifier(n_neurons=16, activation="gelu", epochs=1, random_state=0).fit(X, y)
    assert numpy_forward(clf.model_) is None
    expected = clf.model_.predict(_keras_inputs(clf, X_test), verbose=0)
    np.testing.assert_allclose(clf.predict_proba(X_test), expected, rtol=1e-5, atol=1e-5)


def test_unsupported_layers_and_dtypes_fall_back():
    class MyDense(keras.layers.Dense):
        pass

    custom = keras.Sequential([keras.Input((4,)), MyDense(3)])
    assert numpy_forward(custom) is None
    mixed = keras.Sequential([keras.Input((4,)), keras.layers.Dense(3, dtype="mixed_float16")])
    assert numpy_forward(mixed) is None
    lora = keras.Sequential([keras.Input((4,)), keras.layers.Dense(3)])
    lora.layers[0].enable_lora(2)
    assert numpy_forward(lora) is None
    channels_first = keras.Sequential(
        [keras.Input((2, 3, 3)), keras.layers.Flatten(data_format="channels_first"), keras.layers.Dense(2)]
    )
    assert numpy_forward(channels_first) is None
    # What the builders make is supported.
    assert numpy_forward(build_classification_mlp((28, 28), 10)) is not None
    assert numpy_forward(build_regression_mlp(8, 1, normalize=False)) is not None
    assert numpy_forward(build_wide_deep(5, 6, 1, aux_output=True)) is not None


def _halve_the_weights(reg, X, y):
    reg.model_.set_weights([w * 0.5 for w in reg.model_.get_weights()])


def _train_further_through_keras(reg, X, y):
    reg.model_.compile(optimizer=keras.optimizers.SGD(0.05), loss="mse")
    reg.model_.fit(_keras_inputs(reg, X[:200]), y[:200].reshape(-1, 1), epochs=1, verbose=0)


@pytest.mark.parametrize("change", [_halve_the_weights, _train_further_through_keras])
def test_weights_changed_after_fit_are_seen_at_once(housing, change):
    # The weights are read a prediction at a time (on TensorFlow through readers bound once
    # per variable and kept): writes by hand and inside Keras' own compiled training are seen.
    X, y, X_test = housing
    reg = HousingMLPRegressor(epochs=1, early_stopping=False, random_state=0).fit(X, y)
    before = reg.predict(X_test[:5])
    change(reg, X, y)
    after = reg.predict(X_test[:5])
    assert not np.allclose(before, after)
    expected = reg.model_.predict(_keras_inputs(reg, X_test[:5]), verbose=0).ravel()
    np.testing.assert_allclose(after, expected, rtol=1e-5, atol=1e-5)


def test_weight_values_are_read_only_and_leave_the_weights_alone():
    # The arrays may share the variable's memory (TensorFlow's read, PyTorch's CPU tensor):
    # writing into one must fail, not change the network.
    from skann._inference import weight_value

    variable = keras.Variable(np.arange(6, dtype="float32").reshape(2, 3))
    constant = keras.ops.convert_to_tensor(np.ones((2, 2), dtype="float32"))
    for value in (weight_value(variable), weight_value(constant)):
        assert not value.flags.writeable
        with pytest.raises(ValueError, match="read-only"):
            value[0, 0] = 99.0
    np.testing.assert_array_equal(keras.ops.convert_to_numpy(variable), np.arange(6).reshape(2, 3))


@tensorflow_only
def test_bound_variable_readers_go_with_their_variables():
    import gc

    import tensorflow as tf

    from skann import _tf_compat

    variable = tf.Variable(np.arange(6, dtype="float32").reshape(2, 3))
    read = _tf_compat.bound_variable_reader(variable)
    first = read()
    assert _tf_compat.bound_variable_reader(variable) is read  # bound once
    variable.assign_add(tf.ones((2, 3)))
    np.testing.assert_array_equal(read(), np.arange(6).reshape(2, 3) + 1)
    np.testing.assert_array_equal(first, np.arange(6).reshape(2, 3))  # the earlier view unchanged
    assert not first.flags.writeable
    key = id(variable)
    assert key in _tf_compat._BOUND_READERS
    del variable, read
    gc.collect()
    assert key not in _tf_compat._BOUND_READERS


def test_predictions_are_chunked_and_identical_across_chunks(housing, monkeypatch):
    import skann.wrappers

    X, y, X_test = housing
    reg = HousingMLPRegressor(epochs=1, early_stopping=False, random_state=0).fit(X, y)
    whole = reg.predict(X_test)
    monkeypatch.setattr(skann.wrappers, "PREDICT_CHUNK", 7)
    # BLAS picks other kernels for other row counts: equal up to float32 rounding.
    np.testing.assert_allclose(reg.predict(X_test), whole, rtol=1e-6, atol=1e-6)


# ---------------------------------------------------------------- steps_per_execution
@pytest.fixture
def keras_fit_loop(monkeypatch):
    """Keras' own fit loop (as with per-batch callbacks or a progress bar): not the engine's."""
    import skann.engine

    monkeypatch.setattr(skann.engine, "FUSED_LOOP", False)
class BatchCounter(keras.callbacks.Callback):
    def __init__(self):
        super().__init__()
        self.batches = 0

    def on_train_batch_end(self, batch, logs=None):
        self.batches += 1


def test_auto_uses_multi_step_execution_only_for_fits_long_enough_to_pay_for_it():
    est = HousingMLPRegressor()
    if BACKEND == "torch":  # never more than one there, and a clear error when asked for more
        assert est._steps_per_execution(1000) == PerceptronBaseline()._steps_per_execution(5000) == 1
        with pytest.raises(ValueError, match="runs one batch per call"):
            HousingMLPRegressor(steps_per_execution=8)._steps_per_execution(10)
        return
    assert est._steps_per_execution(999) == 1  # tracing the multi-step loop costs more
    assert est._steps_per_execution(1000) == 64
    assert PerceptronBaseline()._steps_per_execution(5000) == 256
    assert HousingMLPRegressor(steps_per_execution=8)._steps_per_execution(10) == 8


@tensorflow_only
@pytest.mark.usefixtures("keras_fit_loop")
def test_multi_step_execution_learns_exactly_the_same(images):
    X, y, X_test = images
    settings = dict(n_neurons=(32, 16), epochs=3, random_state=0)
    one = FashionMLPClassifier(steps_per_execution=1, **settings).fit(X, y)
    many = FashionMLPClassifier(steps_per_execution=64, **settings).fit(X, y)
    auto = FashionMLPClassifier(**settings).fit(X, y)  # 57 batches: single steps
    assert (one.model_.steps_per_execution, many.model_.steps_per_execution) == (1, 64)
    assert auto.model_.steps_per_execution == 1
    for a, b in zip(one.model_.get_weights(), many.model_.get_weights()):
        np.testing.assert_allclose(a, b, rtol=1e-5, atol=1e-6)
    np.testing.assert_allclose(one.history_["loss"], many.history_["loss"], rtol=1e-5)


def test_per_batch_callbacks_see_every_batch_under_auto(housing):
    X, y, _ = housing
    counter = BatchCounter()
    # 30 batches x 40 epochs: long enough for multi-step execution, were it not for the callback
    reg = HousingMLPRegressor(epochs=40, batch_size=50, early_stopping=False, callbacks=[counter])
    reg.fit(X, y)
    assert reg.model_.steps_per_execution == 1
    assert counter.batches == 40 * math.ceil(len(X) / 50)


@not_torch
def test_explicit_steps_per_execution_calls_batch_hooks_once_per_execution(housing):
    X, y, _ = housing
    counter = BatchCounter()
    reg = HousingMLPRegressor(
        epochs=1, batch_size=50, early_stopping=False, callbacks=[counter], steps_per_execution=8
    ).fit(X, y)
    batches = math.ceil(len(X) / 50)
    # Keras' loop over skann's NumPy batches (one sequence for the whole fit) runs whole
    # executions within an epoch: 8 is rounded down to a divisor of the epoch's batches.
    expected = 8 if BACKEND == "tensorflow" else max(d for d in range(1, 9) if batches % d == 0)
    assert reg.model_.steps_per_execution == expected
    assert counter.batches == math.ceil(batches / expected)


@tensorflow_only
@pytest.mark.usefixtures("keras_fit_loop")
def test_epoch_level_keras_callbacks_keep_multi_step_execution(housing, tmp_path):
    X, y, _ = housing
    assert not _needs_every_batch(keras.callbacks.TensorBoard(tmp_path / "logs"))
    assert _needs_every_batch(keras.callbacks.TensorBoard(tmp_path / "logs", update_freq=10))
    assert _needs_every_batch(keras.callbacks.LambdaCallback(on_train_batch_end=lambda b, logs: None))
    callbacks = [
        keras.callbacks.ModelCheckpoint(tmp_path / "m.keras"),
        keras.callbacks.EarlyStopping(monitor="loss"),
        keras.callbacks.LambdaCallback(on_epoch_end=lambda epoch, logs: None),
    ]
    reg = HousingMLPRegressor(epochs=25, early_stopping=False, callbacks=callbacks).fit(X, y)
    assert reg.model_.steps_per_execution == 64  # 47 batches x 25 epochs
    every_batch = [keras.callbacks.ModelCheckpoint(tmp_path / "b.keras", save_freq=10)]
    reg.set_params(callbacks=every_batch).fit(X, y)
    assert reg.model_.steps_per_execution == 1


@tensorflow_only
@pytest.mark.usefixtures("keras_fit_loop")
def test_training_further_with_a_per_batch_callback_switches_to_single_steps(housing):
    X, y, _ = housing
    reg = HousingMLPRegressor(epochs=40, batch_size=50, early_stopping=False, random_state=0).fit(X, y)
    assert reg.model_.steps_per_execution == 64
    counter = BatchCounter()
    reg.set_params(callbacks=[counter]).partial_fit(X, y)
    assert reg.model_.steps_per_execution == 1
    assert counter.batches == math.ceil(len(X) / 50)
    reg.set_params(callbacks=None, warm_start=True, epochs=40).fit(X, y)
    assert reg.model_.steps_per_execution == 64  # back to multi-step for a long fit


@tensorflow_only
def test_the_tf_data_feeds_run_without_an_autotuning_thread():
    """TensorFlow wakes an autotuned iterator's tuning thread at deletion before marking the
    iterator cancelled; on a busy machine the thread can sleep on for its whole period (up to
    60 s) and the deletion waits for it (up to 40 s measured). skann's feeds have nothing to
    tune, so none of them starts that thread."""
    from skann._pipeline import batch_dataset
    from skann.perceptron import OneVsRestSteps

    X, y = np.zeros((10, 3), "float32"), np.zeros(10, "float32")
    feeds = [
        batch_dataset((X, y), 4, 1)[0],  # endless, one iterator for the fit
        batch_dataset((X, y), 4, 2)[0],  # one epoch per iterator
        batch_dataset((X, y), 4, 2, shuffle=True, seed=0)[0],  # ... told its epoch by a callback
        OneVsRestSteps(X, np.eye(2, dtype="float32")[y.astype(int)], np.ones((10, 2), "float32"),
                       np.ones(10, bool), shuffle_seeds=None).dataset(),
    ]
    for feed in feeds:
        assert feed.options().autotune.enabled is False
        next(iter(feed))  # and they still run


def test_invalid_steps_per_execution_is_refused_before_training(housing):
    X, y, _ = housing
    reg = HousingMLPRegressor(steps_per_execution=0)
    with pytest.raises(ValueError, match="steps_per_execution"):
        reg.fit(X, y)
    assert not hasattr(reg, "model_")


@tensorflow_only
@pytest.mark.usefixtures("keras_fit_loop")
@pytest.mark.parametrize("api", ["functional", "subclass"])
def test_the_training_step_is_traced_once_and_learns_the_same(api, monkeypatch):
    """Optimizer variables exist before the first step, so tf.function traces it once, not twice."""
    from keras.src.backend.tensorflow import trainer

    from skann import wrappers

    X = np.random.RandomState(0).rand(200, 8)
    y = X.sum(axis=1)
    traces = []
    train_step = trainer.TensorFlowTrainer.train_step
    monkeypatch.setattr(trainer.TensorFlowTrainer, "train_step",
                        lambda self, data: traces.append(1) or train_step(self, data))
    fast = WideDeepRegressor(epochs=3, api=api, random_state=0).fit(X, y)
    assert len(traces) == 1
    monkeypatch.setattr(wrappers, "build_training_state", lambda model, batch: None)  # Keras' lazy build
    traces.clear()
    lazy = WideDeepRegressor(epochs=3, api=api, random_state=0).fit(X, y)
    assert len(traces) == 2
    for a, b in zip(fast.model_.get_weights(), lazy.model_.get_weights()):
        np.testing.assert_array_equal(a, b)
