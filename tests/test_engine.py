"""The training engine: compiled programs reused across fits, invisibly; every backend.

Reuse must be invisible: a fit through the cache gives exactly the weights (and optimizer
slots, BatchNormalization statistics, dropout seeds) of a first, compiling fit, whatever other
estimators trained through the same programs before.
"""

from __future__ import annotations

import contextlib
import functools
import json
import os
import subprocess
import sys
import textwrap
import threading

import keras
import numpy as np
import pytest
from sklearn.model_selection import GridSearchCV

from skann import HousingMLPRegressor, KerasClassifier, KerasRegressor, WideDeepRegressor
from skann._backend import jax_compiler_options
from skann.engine import CompiledCache, architecture_key, compiled_cache

from .conftest import BACKEND, REPO, backend_independent, requires_float64

fused_only = pytest.mark.skipif(
    BACKEND not in ("jax", "tensorflow"), reason=f"the fused loop runs on JAX and TensorFlow; the backend here is {BACKEND}"
)


def rich_classifier(meta, hidden=16):
    """Dropout (a seed generator in the state) and BatchNormalization (moving statistics)."""
    return keras.Sequential([
        keras.Input((meta["n_features_in_"],)),
        keras.layers.Dense(hidden, activation="relu"),
        keras.layers.BatchNormalization(),
        keras.layers.Dropout(0.2),
        keras.layers.Dense(meta["n_classes_"], activation="softmax"),
    ])


def _data(seed, n=203, features=6, classes=3):
    rng = np.random.RandomState(seed)
    X = rng.normal(size=(n, features)).astype(np.float32)
    y = (X[:, 0] + X[:, 1] > 0).astype(int) + (X[:, 2] > 1).astype(int)
    return X, y % classes


def _classifier(**kwargs):
    settings = dict(loss="sparse_categorical_crossentropy", optimizer="adam", epochs=4, batch_size=16, random_state=3)
    return KerasClassifier(rich_classifier, **{**settings, **kwargs})


def _state(est) -> list[np.ndarray]:
    model = est.model_
    return [keras.ops.convert_to_numpy(v) for v in [*model.variables, *model.optimizer.variables]]


def _assert_same_state(a, b):
    sa, sb = _state(a), _state(b)
    assert len(sa) == len(sb)
    for x, y in zip(sa, sb):
        np.testing.assert_array_equal(x, y)


def _fresh(make, X, y):
    """The fit a new process would make: nothing compiled before it."""
    compiled_cache.clear()
    return make().fit(X, y)


def _dense_classifier(meta):
    return keras.Sequential([
        keras.Input((meta["n_features_in_"],)), keras.layers.Dense(16, activation="relu"),
        keras.layers.Dense(8, activation="tanh"), keras.layers.Dense(meta["n_classes_"], activation="softmax"),
    ])


# A ReLU-tanh MLP trained with a hold-out (programs for training and for validation).
_dense_classifier_with_holdout = functools.partial(
    KerasClassifier, _dense_classifier, loss="sparse_categorical_crossentropy", optimizer="adam",
    optimizer__learning_rate=0.01, epochs=4, batch_size=16, random_state=3, early_stopping=True, n_iter_no_change=50,
)


def _assert_trained_alike(a, b):
    """Weights, optimizer state and history equal to float rounding."""
    for x, y in zip(_state(a), _state(b)):
        np.testing.assert_allclose(x, y, rtol=1e-5, atol=1e-6)
    assert a.history_.keys() == b.history_.keys()
    for key in b.history_:
        np.testing.assert_allclose(a.history_[key], b.history_[key], rtol=1e-5)


def test_a_fit_through_the_cache_equals_a_fresh_fit_and_nothing_leaks():
    X1, y1 = _data(0)
    X2, y2 = _data(1, n=150)
    fresh = _fresh(lambda: _classifier(optimizer__learning_rate=0.01), X2, y2)
    # Other estimators train first through the same programs, on other data and settings.
    _classifier(optimizer__learning_rate=0.05).fit(X1, y1)
    _classifier(optimizer__learning_rate=0.01, random_state=9).fit(X2, y2)
    hits = compiled_cache.hits
    reused = _classifier(optimizer__learning_rate=0.01).fit(X2, y2)
    if BACKEND in ("jax", "tensorflow"):
        assert compiled_cache.hits > hits
    _assert_same_state(reused, fresh)
    assert reused.history_ == fresh.history_
    np.testing.assert_array_equal(reused.predict_proba(X1), fresh.predict_proba(X1))


def test_the_learning_rate_lives_in_the_state():
    X, y = _data(0)
    slow = _fresh(lambda: _classifier(optimizer__learning_rate=1e-4), X, y)
    fast_fresh = _fresh(lambda: _classifier(optimizer__learning_rate=3e-2), X, y)
    _classifier(optimizer__learning_rate=1e-4).fit(X, y)
    fast = _classifier(optimizer__learning_rate=3e-2).fit(X, y)
    _assert_same_state(fast, fast_fresh)
    assert not np.array_equal(_state(fast)[0], _state(slow)[0])


def test_normalization_statistics_follow_each_network():
    # HousingMLPRegressor adapts a Normalization layer to its training data: its mean and
    # variance must come from each network's state, not from the network the programs were
    # compiled with.
    rng = np.random.RandomState(0)
    X = rng.rand(300, 8) * 10
    y = X.sum(axis=1)

    def make():
        return HousingMLPRegressor(epochs=3, early_stopping=False, random_state=0)

    fresh = _fresh(make, X[100:] * 3, y[100:])
    make().fit(X[:200], y[:200])
    _assert_same_state(make().fit(X[100:] * 3, y[100:]), fresh)


def test_validation_early_stopping_and_warm_start_through_the_cache():
    X, y = _data(0, n=300)

    def make():
        return HousingMLPRegressor(epochs=15, patience=2, random_state=0)

    fresh = _fresh(make, X, y.astype(float))
    again = make().fit(X, y.astype(float))
    _assert_same_state(again, fresh)
    assert again.history_ == fresh.history_ and "val_loss" in again.history_
    # warm start continues from the current state, through the same programs
    again.set_params(warm_start=True, epochs=2, early_stopping=False).fit(X, y.astype(float))
    assert again.current_epoch == fresh.current_epoch + 2


@fused_only
@pytest.mark.parametrize("make", [
    lambda seed: HousingMLPRegressor(epochs=3, early_stopping=False, random_state=seed),
    lambda seed: WideDeepRegressor(n_neurons=8, n_hidden=1, epochs=3, early_stopping=False, random_state=seed),
], ids=["housing", "wide & deep"])
def test_seeds_share_programs_and_each_gives_its_fresh_fit(make):
    """The book estimators write ``random_state`` into their initializers' seeds: the initial
    weights differ, the training program does not (it takes the weights as inputs)."""
    X, y = _data(0, n=200, features=8)  # the book's 8 housing features
    y = y.astype(float)
    fresh = _fresh(lambda: make(1), X, y)
    compiled_cache.clear()
    other = make(0).fit(X, y)
    misses = compiled_cache.misses
    reused = make(1).fit(X, y)
    assert compiled_cache.misses == misses  # no new program for another seed
    assert architecture_key(reused.model_) == architecture_key(other.model_)
    _assert_same_state(reused, fresh)
    assert any(not np.array_equal(a, b) for a, b in zip(_state(reused), _state(other)))  # the seed still counts


@fused_only
def test_programs_are_shared_across_folds_and_candidates():
    X, y = _data(0, n=300)
    compiled_cache.clear()
    search = GridSearchCV(_classifier(epochs=2), {"optimizer__learning_rate": [1e-3, 1e-2]}, cv=3).fit(X, y)
    assert len(compiled_cache) == 1  # one architecture: every fold, candidate and the refit
    assert compiled_cache.hits >= 6
    assert search.best_score_ > 0.5


@fused_only
def test_the_cache_is_bounded_in_bytes():
    cache = CompiledCache(max_bytes=3 * 2**20)
    X, y = _data(0)
    models = []
    for hidden in (8, 16, 32, 64):
        est = _classifier(model__hidden=hidden, epochs=1).fit(X, y)
        models.append(est.model_)
        cache.programs_for(est.model_, (X[:1], y[:1], None))
    assert len(cache) < 4
    assert cache.size() <= 3 * 2**20 or len(cache) == 1
    # the most recently used architecture stays
    assert architecture_key(models[-1]) in cache._entries


def test_architecture_keys_ignore_names_and_learning_rates_only():
    X, y = _data(0)
    a = _classifier(epochs=1, optimizer__learning_rate=1e-3).fit(X, y).model_
    b = _classifier(epochs=1, optimizer__learning_rate=5e-2).fit(X, y).model_
    assert a.layers[0].name != b.layers[0].name
    assert architecture_key(a) == architecture_key(b)
    other_width = _classifier(epochs=1, model__hidden=17).fit(X, y).model_
    other_optimizer = _classifier(epochs=1, optimizer="sgd").fit(X, y).model_
    momentum = _classifier(epochs=1, optimizer="sgd", optimizer__momentum=0.9).fit(X, y).model_
    keys = {architecture_key(m) for m in (a, other_width, other_optimizer, momentum)}
    assert len(keys) == 4


def seeded_mlp(meta, hidden=16):
    """Initial weights from explicit seeds: no global random state involved."""
    return keras.Sequential([
        keras.Input((meta["n_features_in_"],)),
        keras.layers.Dense(hidden, activation="relu", kernel_initializer=keras.initializers.GlorotUniform(1)),
        keras.layers.Dense(meta["n_classes_"], activation="softmax", kernel_initializer=keras.initializers.GlorotUniform(2)),
    ])


def _fit_in_threads(make, X, y, n):
    results = [None] * n

    def fit(i):
        results[i] = make(i).fit(X, y)

    threads = [threading.Thread(target=fit, args=(i,)) for i in range(n)]
    for t in threads:
        t.start()
    for t in threads:
        t.join()
    return results


def test_fits_in_threads_equal_fits_one_after_another():
    X, y = _data(0)
    rates = [1e-3, 3e-3, 1e-2, 3e-2]

    # Unseeded estimators, deterministic networks: the fits run truly concurrently.
    def make(i):
        return KerasClassifier(
            seeded_mlp, loss="sparse_categorical_crossentropy", optimizer="adam", optimizer__learning_rate=rates[i],
            epochs=3, batch_size=16, shuffle=False,
        )

    expected = [make(i).fit(X, y) for i in range(len(rates))]
    compiled_cache.clear()
    for got, want in zip(_fit_in_threads(make, X, y, len(rates)), expected):
        _assert_same_state(got, want)
    # Seeded estimators (random_state): seeding is process-wide, so seeded fits take turns.
    seeded = [_classifier(optimizer__learning_rate=r).fit(X, y) for r in rates]
    for got, want in zip(_fit_in_threads(lambda i: _classifier(optimizer__learning_rate=rates[i]), X, y, 4), seeded):
        _assert_same_state(got, want)


class CountingModel(keras.Model):
    """A subclassed model with its own training step, which reports how often it ran."""

    def __init__(self, units=1, **kwargs):
        super().__init__(**kwargs)
        self.units = units
        self.dense = keras.layers.Dense(units)

    def call(self, x):
        return self.dense(x)

    def get_config(self):
        return {**super().get_config(), "units": self.units}

    traced_steps = 0  # Python calls of train_step: one per trace of it in a program

    if BACKEND == "jax":

        def train_step(self, state, data):
            type(self).traced_steps += 1
            logs, state = super().train_step(state, data)
            return {**logs, "custom_step": 1.0}, state

    else:

        def train_step(self, data):
            type(self).traced_steps += 1
            logs = super().train_step(data)
            return {**logs, "custom_step": 1.0}


def test_a_custom_train_step_still_trains_through_it():
    rng = np.random.RandomState(0)
    X = rng.normal(size=(100, 3)).astype(np.float32)
    y = X @ np.array([1.0, -2.0, 0.5], dtype=np.float32)

    def build():
        return CountingModel(1)

    compiled_cache.clear()
    CountingModel.traced_steps = 0
    reg = KerasRegressor(build, loss="mse", optimizer="adam", epochs=3, random_state=0).fit(X, y)
    assert reg.history_["custom_step"] == [1.0, 1.0, 1.0]
    assert reg.history_["loss"][-1] < reg.history_["loss"][0]
    if BACKEND not in ("jax", "tensorflow"):
        # Keras' own loop (the engine compiles nothing here): the step runs at every batch.
        assert CountingModel.traced_steps == 3 * 4  # 3 epochs of 4 batches (100 rows, 32 a batch)
        return
    # Its Python ran once for the batches of the loop and once for the short last batch: the
    # program of an epoch was traced once (the step's Python is most of a trace), and a second
    # fit traces nothing.
    assert CountingModel.traced_steps == 2
    KerasRegressor(build, loss="mse", optimizer="adam", epochs=3, random_state=1).fit(X, y)
    assert CountingModel.traced_steps == 2


def _run(code: str, backend: str) -> str:
    env = {**os.environ, "KERAS_BACKEND": backend}
    result = subprocess.run(
        [sys.executable, "-c", textwrap.dedent(code)], capture_output=True, text=True, timeout=300, env=env, cwd=REPO
    )
    assert result.returncode == 0, result.stderr[-3000:]
    assert result.stderr == ""
    return result.stdout


@backend_independent
def test_import_and_fit_on_jax_never_import_tensorflow(tmp_path):
    pytest.importorskip("jax")
    out = _run(
        f"""
        import sys
        import numpy as np
        import skann
        from skann import KerasClassifier, HousingMLPRegressor
        from skann.builders import build_classification_mlp
        rng = np.random.RandomState(0)
        X, y = rng.normal(size=(80, 8)), rng.randint(0, 2, 80)
        reg = HousingMLPRegressor(epochs=2, random_state=0).fit(X, X.sum(1))
        skann.save(reg, {str(tmp_path / 'r.skann')!r})
        skann.load({str(tmp_path / 'r.skann')!r}).predict(X[:3])
        print("tensorflow" in sys.modules)
        """,
        "jax",
    )
    assert out.strip() == "False"


@pytest.mark.skipif(BACKEND != "jax", reason="SKANN_COMPILATION_CACHE is JAX's persistent compilation cache")
def test_a_new_process_loads_every_compilation_from_the_disk_cache(tmp_path):
    """The folder is set when skann's engine is imported, before the network is built, so
    Keras' initializers' programs (one per weight shape) are kept too, not only the training
    program: a second process compiles nothing that the first kept. (Every program is kept
    here, whatever its compile time, so that the test does not depend on the machine's speed.)"""
    folder = str(tmp_path / "xla")
    code = """
        import collections, json
        import jax, jax.monitoring
        events = collections.Counter()
        jax.monitoring.register_event_listener(lambda name, **kw: events.update([name]))
        import numpy as np
        from skann import KerasClassifier
        from tests.test_engine import seeded_mlp
        folder = jax.config.jax_compilation_cache_dir  # set by importing the estimators
        jax.config.update("jax_persistent_cache_min_compile_time_secs", 0)
        rng = np.random.RandomState(0)
        X, y = rng.normal(size=(60, 5)).astype("float32"), rng.randint(0, 2, 60)
        KerasClassifier(seeded_mlp, loss="sparse_categorical_crossentropy", epochs=2, random_state=0).fit(X, y)
        print(json.dumps({"folder": folder, **{k.rsplit("/", 1)[-1]: v for k, v in events.items()}}))
        """
    env = {**os.environ, "SKANN_COMPILATION_CACHE": folder}
    first, second = (
        json.loads(subprocess.run([sys.executable, "-c", textwrap.dedent(code)], capture_output=True, text=True,
                                  timeout=300, env=env, cwd=REPO, check=True).stdout.strip().splitlines()[-1])
        for _ in range(2)
    )
    assert first["folder"] == folder  # before any network was built
    assert first.get("cache_misses", 0) >= 3  # two initializer shapes and the training program, at least
    assert second.get("cache_hits", 0) == first["cache_misses"]
    assert second.get("cache_misses", 0) == 0


@backend_independent
@pytest.mark.parametrize("writer,reader", [("jax", "tensorflow"), ("tensorflow", "jax")])
def test_a_file_saved_under_one_backend_predicts_the_same_under_another(tmp_path, writer, reader):
    pytest.importorskip("jax")
    pytest.importorskip("tensorflow")
    X = np.random.RandomState(0).normal(size=(50, 8))
    np.save(tmp_path / "X.npy", X)
    fit = f"""
        import numpy as np
        import skann
        from skann import HousingMLPRegressor
        X = np.load({str(tmp_path / 'X.npy')!r})
        reg = HousingMLPRegressor(epochs=2, random_state=0).fit(X, X.sum(1))
        skann.save(reg, {str(tmp_path / 'm.skann')!r})
        np.save({str(tmp_path / 'written.npy')!r}, reg.predict(X))
        """
    load = f"""
        import numpy as np
        import skann
        X = np.load({str(tmp_path / 'X.npy')!r})
        np.save({str(tmp_path / 'read.npy')!r}, skann.load({str(tmp_path / 'm.skann')!r}).predict(X))
        """
    _run(fit, writer)
    _run(load, reader)
    np.testing.assert_allclose(np.load(tmp_path / "read.npy"), np.load(tmp_path / "written.npy"), rtol=1e-5, atol=1e-6)


@fused_only
@pytest.mark.parametrize("with_weights", [False, True])
def test_the_fused_loop_trains_as_keras_fit_does(monkeypatch, with_weights):
    # Unshuffled, so that both see the same batches: the same steps, up to float rounding.
    import skann.engine

    X, y = _data(0, n=150)
    weights = np.random.RandomState(1).uniform(0.5, 2.0, len(y)) if with_weights else None

    def make():
        return KerasClassifier(
            seeded_mlp, loss="sparse_categorical_crossentropy", optimizer="adam", metrics=["accuracy"],
            epochs=3, batch_size=32, shuffle=False, random_state=0,
        )

    fused = make().fit(X, y, sample_weight=weights, validation_data=(X[:40], y[:40]))
    monkeypatch.setattr(skann.engine, "FUSED_LOOP", False)
    keras_loop = make().fit(X, y, sample_weight=weights, validation_data=(X[:40], y[:40]))
    for a, b in zip(_state(fused), _state(keras_loop)):
        np.testing.assert_allclose(a, b, rtol=1e-5, atol=1e-6)
    assert fused.history_.keys() == keras_loop.history_.keys()
    for key in fused.history_:
        np.testing.assert_allclose(fused.history_[key], keras_loop.history_[key], rtol=1e-5)


def _regression_mlp(meta):
    return keras.Sequential([
        keras.Input((meta["n_features_in_"],)),
        keras.layers.Dense(8, activation="tanh", kernel_initializer=keras.initializers.GlorotUniform(1)),
        keras.layers.Dense(1, kernel_initializer=keras.initializers.GlorotUniform(2)),
    ])


_PADDED_SETTINGS = {
    "classifier, mean loss, metrics both ways": lambda: KerasClassifier(
        seeded_mlp, loss="sparse_categorical_crossentropy", optimizer="adam", metrics=["accuracy"],
        compile__weighted_metrics=["accuracy"], epochs=3, batch_size=32, shuffle=False, random_state=0,
    ),
    "regressor, summed loss": lambda: KerasRegressor(
        _regression_mlp, loss=keras.losses.MeanSquaredError(reduction="sum"), optimizer="sgd",
        optimizer__learning_rate=1e-3, metrics=["mae"], epochs=3, batch_size=32, shuffle=False, random_state=0,
    ),
    # Keras' RootMeanSquaredError is a Mean of squared errors, not a MeanMetricWrapper
    # (HousingMLPRegressor's metric): it averages with the padding mask as its weights.
    "regressor, mean loss, RMSE metric instances both ways": lambda: KerasRegressor(
        _regression_mlp, loss="mse", optimizer="adam", metrics=[keras.metrics.RootMeanSquaredError()],
        compile__weighted_metrics=[keras.metrics.RootMeanSquaredError(name="weighted_rmse")],
        epochs=3, batch_size=32, shuffle=False, random_state=0,
    ),
}


@fused_only
@pytest.mark.parametrize("setting", list(_PADDED_SETTINGS))
@pytest.mark.parametrize("with_weights", [False, True])
def test_a_short_last_batch_trains_padded_exactly_as_keras_fit(monkeypatch, setting, with_weights):
    """Fold sizes and the refit share one program: the short last batch is padded to the
    batch size with rows of weight 0 (unshuffled: Keras' loop on TensorFlow is fed by tf.data,
    which shuffles otherwise). The weights, optimizer slots and every logged metric
    are those of Keras' own loop on the same batches (the loss tracker counts real rows).
    Validation data of every size shares one program too: padded on JAX, of any number of
    rows in TensorFlow's trace."""
    import skann.engine

    X, y = _data(0, n=300)
    if setting.startswith("regressor"):
        y = X[:, 0] - 2 * X[:, 1]
    weights = np.random.RandomState(1).uniform(0.5, 2.0, len(y)) if with_weights else None
    make = _PADDED_SETTINGS[setting]
    sizes = ((200, 37), (203, 40), (256, 44), (250, 30))

    def fit(n, n_val):
        val_weights = () if weights is None else (weights[-n_val:],)
        return make().fit(
            X[:n], y[:n], sample_weight=None if weights is None else weights[:n],
            validation_data=(X[-n_val:], y[-n_val:], *val_weights),
        )

    compiled_cache.clear()
    fused = [fit(*size) for size in sizes]
    (programs,) = compiled_cache._entries.values()
    assert programs.padding == ("mask" if "summed" in setting else "mean")
    evaluation = "evaluate_padded" if BACKEND == "jax" else "evaluate"
    # One program for the four sizes of training data, one for the four of validation data.
    assert sorted(name for name, *_ in programs.seen) == [evaluation, "train_padded"]
    monkeypatch.setattr(skann.engine, "FUSED_LOOP", False)
    for size, est in zip(sizes, fused):
        keras_loop = fit(*size)
        for a, b in zip(_state(est), _state(keras_loop)):
            np.testing.assert_allclose(a, b, rtol=1e-5, atol=1e-6)
        assert est.history_.keys() == keras_loop.history_.keys()
        assert any(key.startswith("val_") for key in est.history_)
        for key in est.history_:
            np.testing.assert_allclose(est.history_[key], keras_loop.history_[key], rtol=1e-5)


@fused_only
@pytest.mark.parametrize("with_weights", [False, True])
def test_a_two_output_network_trains_padded_as_keras_fit(monkeypatch, with_weights):
    """The book's Wide & Deep network (two inputs, a main and an auxiliary output, each with
    its loss and RMSE): its short last batches and validation data are padded too, one
    program for every size, and each output's loss tracker counts real rows only. The state
    and logs of Keras' own loop (whose per-output losses on TensorFlow are means of batch
    means, Keras' tf.data batches having no static size: there the engine's are checked to
    add up to the total loss instead)."""
    import skann.engine
    from skann import WideDeepRegressor

    X, _ = _data(0, n=300, features=8)
    y = (X[:, 0] - 2 * X[:, 3]).astype("float32")
    weights = np.random.RandomState(1).uniform(0.5, 2.0, len(y)) if with_weights else None
    sizes = ((200, 37), (203, 40), (250, 30))

    def fit(n, n_val):
        val_weights = () if weights is None else (weights[-n_val:],)
        return WideDeepRegressor(epochs=2, early_stopping=False, shuffle=False, random_state=0).fit(
            X[:n], y[:n], sample_weight=None if weights is None else weights[:n],
            validation_data=(X[-n_val:], y[-n_val:], *val_weights),
        )

    compiled_cache.clear()
    fused = [fit(*size) for size in sizes]
    (programs,) = compiled_cache._entries.values()
    assert programs.padding == "mean"
    assert sorted(name for name, *_ in programs.seen) == ["evaluate_padded", "train_padded"]
    monkeypatch.setattr(skann.engine, "FUSED_LOOP", False)
    per_output = {"output_loss", "aux_output_loss"}
    for size, est in zip(sizes, fused):
        keras_loop = fit(*size)
        for a, b in zip(_state(est), _state(keras_loop)):
            np.testing.assert_allclose(a, b, rtol=1e-5, atol=1e-6)
        assert est.history_.keys() == keras_loop.history_.keys()
        for key in est.history_:
            if BACKEND == "tensorflow" and key in per_output:
                continue
            np.testing.assert_allclose(est.history_[key], keras_loop.history_[key], rtol=1e-5)
        combined = 0.9 * np.array(est.history_["output_loss"]) + 0.1 * np.array(est.history_["aux_output_loss"])
        np.testing.assert_allclose(est.history_["loss"], combined, rtol=1e-5)


def _batchnorm_mlp(meta):
    """BatchNormalization: its batch statistics would see padding rows, so it is not padded."""
    return keras.Sequential([
        keras.Input((meta["n_features_in_"],)),
        keras.layers.Dense(8, activation="relu", kernel_initializer=keras.initializers.GlorotUniform(1)),
        keras.layers.BatchNormalization(),
        keras.layers.Dense(meta["n_classes_"], activation="softmax", kernel_initializer=keras.initializers.GlorotUniform(2)),
    ])


@fused_only
def test_a_network_not_padded_trains_as_keras_fit_with_one_program_per_size_on_jax_only(monkeypatch):
    """A network the engine does not pad keeps its short last batch as it is. On TensorFlow a
    batch's number of rows is unknown in the trace (as in Model.fit's): one program serves
    every size of the last batch. JAX compiles one per size. Either way, the state and
    logs of Keras' own loop on the same batches."""
    import skann.engine

    X, y = _data(0, n=300)
    sizes = ((200, 37), (203, 40), (250, 30))

    def fit(n, n_val):
        return KerasClassifier(
            _batchnorm_mlp, loss="sparse_categorical_crossentropy", optimizer="adam", metrics=["accuracy"],
            epochs=2, batch_size=32, shuffle=False, random_state=0,
        ).fit(X[:n], y[:n], validation_data=(X[-n_val:], y[-n_val:]))

    compiled_cache.clear()
    fused = [fit(*size) for size in sizes]
    (programs,) = compiled_cache._entries.values()
    assert programs.padding is None
    kinds = sorted(name for name, *_ in programs.seen)
    assert kinds == (["evaluate", "train"] if BACKEND == "tensorflow" else ["evaluate"] * 3 + ["train"] * 3)
    monkeypatch.setattr(skann.engine, "FUSED_LOOP", False)
    for size, est in zip(sizes, fused):
        keras_loop = fit(*size)
        for a, b in zip(_state(est), _state(keras_loop)):
            np.testing.assert_allclose(a, b, rtol=1e-5, atol=1e-6)
        for key in est.history_:
            np.testing.assert_allclose(est.history_[key], keras_loop.history_[key], rtol=1e-5)


class OwnStepModel(keras.Sequential):
    def train_step(self, *args, **kwargs):
        return super().train_step(*args, **kwargs)


def _user_loss(y_true, y_pred):
    """A batch's mean, reduced by the user (padding rows would count)."""
    return keras.ops.mean(keras.ops.square(keras.ops.reshape(y_true, (-1, 1)) - y_pred))


@pytest.mark.parametrize("change", ["batchnorm", "dropout", "mean iou", "user loss", "user metric", "two reductions", "own train_step", "activity regularizer"])
def test_a_last_batch_is_never_padded_where_padding_would_change_training(change):
    """BatchNormalization's batch statistics, dropout's random draws, metrics that are not
    weighted means (mean IoU), a user's loss or metric (they may reduce over rows), a user's
    training step and activity regularizers all see padding rows, and outputs whose losses
    reduce differently (a mean and a sum) cannot share the padding rows' weights: those
    networks keep a program per last-batch size."""
    from skann.engine import padded_loss_weighting

    def dense(**kwargs):
        return keras.layers.Dense(2, activation="softmax", **kwargs)

    layers = [keras.Input((3,)), keras.layers.Dense(4)]
    loss, metrics, cls = "sparse_categorical_crossentropy", [], keras.Sequential
    if change == "batchnorm":
        layers.append(keras.layers.BatchNormalization())
    elif change == "dropout":
        layers.append(keras.layers.Dropout(0.1))
    elif change == "mean iou":
        metrics = [keras.metrics.MeanIoU(num_classes=2, sparse_y_pred=False)]
    elif change == "user loss":
        loss = _user_loss
    elif change == "user metric":
        metrics = [_user_loss]
    elif change == "own train_step":
        cls = OwnStepModel
    elif change == "activity regularizer":
        layers.append(keras.layers.Dense(4, activity_regularizer="l2"))
    if change == "two reductions":
        inputs = keras.Input((3,))
        hidden = keras.layers.Dense(4)(inputs)
        model = keras.Model(inputs, [dense()(hidden), dense()(hidden)])
        model.compile(loss=[loss, keras.losses.SparseCategoricalCrossentropy(reduction="sum")], optimizer="adam")
    else:
        model = cls(layers + [dense()])
        model.compile(loss=loss, optimizer="adam", metrics=metrics)
    x, y = np.zeros((4, 3), "float32"), np.zeros(4)
    model.fit(x, (y, y) if change == "two reductions" else y, epochs=1, verbose=0)
    assert padded_loss_weighting(model) is None
    plain = keras.Sequential([keras.Input((3,)), keras.layers.Dense(4), dense()])
    plain.compile(loss=loss if change == "user loss" else "sparse_categorical_crossentropy", optimizer="adam", metrics=["accuracy"])
    plain.fit(x, y, epochs=1, verbose=0)
    assert (padded_loss_weighting(plain) is None) == (change == "user loss")


@pytest.mark.skipif(BACKEND != "jax", reason="XLA:CPU's slow convolution gradients inside loops concern JAX's CPU backend")
def test_convolutional_networks_train_step_by_step_on_jax_cpu(monkeypatch):
    """jax-ml/jax#12868: inside a while loop, XLA:CPU runs convolution gradients tens of times
    slower (a small CNN's epoch 7 s instead of 1 s here), so a CNN is not trained in the fused
    loop but step by step by the engine (one cached step program per architecture): the
    weights of Keras' own loop on the same batches, and a second fit compiles nothing."""
    import jax

    from skann import engine

    if jax.default_backend() != "cpu":
        pytest.skip("not on XLA:CPU")

    def cnn():
        return keras.Sequential([
            keras.Input((8, 8, 1)), keras.layers.Conv2D(2, 3, kernel_initializer=keras.initializers.GlorotUniform(1)),
            keras.layers.Flatten(), keras.layers.Dense(2, activation="softmax", kernel_initializer=keras.initializers.GlorotUniform(2)),
        ])

    dense = keras.Sequential([keras.Input((64,)), keras.layers.Dense(2)])
    conv = cnn()
    for model in (conv, dense):
        model.compile(optimizer="sgd", loss="mse")
    assert not engine.fused_loop_available(conv, [], verbose=0) and engine.by_batch_available(conv, [], verbose=0)
    assert engine.fused_loop_available(dense, [], verbose=0)
    rng = np.random.default_rng(0)
    X, y = rng.random((100, 8, 8, 1), dtype=np.float32), rng.integers(0, 2, 100)
    settings = dict(loss="sparse_categorical_crossentropy", optimizer="adam", epochs=3, batch_size=16, random_state=0)
    stepwise = KerasClassifier(cnn, **settings).fit(X, y, validation_data=(X[:20], y[:20]))
    misses = compiled_cache.misses
    again = KerasClassifier(cnn, **settings).fit(X, y, validation_data=(X[:20], y[:20]))
    assert compiled_cache.misses == misses  # the same architecture: no new program
    monkeypatch.setattr(engine, "FUSED_LOOP", False)  # Keras' loop, on the same batches
    keras_loop = KerasClassifier(cnn, **settings).fit(X, y, validation_data=(X[:20], y[:20]))
    for a, b, c in zip(stepwise.model_.get_weights(), again.model_.get_weights(), keras_loop.model_.get_weights()):
        np.testing.assert_array_equal(a, b)
        np.testing.assert_allclose(a, c, rtol=1e-5, atol=1e-6)
    np.testing.assert_allclose(stepwise.history_["val_loss"], keras_loop.history_["val_loss"], rtol=1e-5)
    np.testing.assert_allclose(stepwise.history_["loss"], keras_loop.history_["loss"], rtol=1e-5)


def _counting_epochs_per_call(monkeypatch) -> list[int]:
    """The number of epochs of each call of a training program, recorded."""
    import skann.engine

    calls: list[int] = []
    train_epochs = skann.engine._Programs.train_epochs

    def counting(self, model, zero_metrics, data, batch, epochs, pad=False):
        calls.append(len(epochs))
        return train_epochs(self, model, zero_metrics, data, batch, epochs, pad)

    monkeypatch.setattr(skann.engine._Programs, "train_epochs", counting)
    return calls


def _mlp_classifier(**kwargs):
    settings = dict(
        loss="sparse_categorical_crossentropy", optimizer="adam", metrics=["accuracy"], epochs=40, batch_size=32,
        random_state=0,
    )
    return KerasClassifier(seeded_mlp, **{**settings, **kwargs})


@fused_only
@pytest.mark.parametrize("make", [_mlp_classifier, _classifier], ids=["padded mlp", "batchnorm and dropout"])
def test_several_epochs_in_one_call_train_as_one_epoch_a_call(monkeypatch, make):
    """Where the callbacks only read each epoch's logs (skann's divergence guard and Keras'
    history), up to 32 epochs run in one call of the program and are shown to the callbacks
    afterwards: the weights, optimizer slots, dropout seeds and every epoch's logs are those of
    one epoch a call."""
    import skann.engine

    X, y = _data(0, n=300)
    calls = _counting_epochs_per_call(monkeypatch)
    several = make(epochs=40).fit(X, y)
    assert calls == [32, 8]
    calls.clear()
    monkeypatch.setattr(skann.engine, "_MAX_EPOCHS_PER_CALL", 1)
    one_at_a_time = make(epochs=40).fit(X, y)
    assert calls == [1] * 40
    _assert_same_state(several, one_at_a_time)
    assert several.history_ == one_at_a_time.history_
    assert len(several.history_["loss"]) == 40


@fused_only
def test_a_callback_that_reads_the_weights_sees_every_epoch_end(monkeypatch):
    calls = _counting_epochs_per_call(monkeypatch)
    X, y = _data(0, n=300)
    first_weights = []
    record = keras.callbacks.LambdaCallback(
        on_epoch_end=lambda epoch, logs: first_weights.append(keras.ops.convert_to_numpy(est.model_.weights[0]).copy())
    )
    est = _mlp_classifier(epochs=5, callbacks=[record])
    est.fit(X, y)
    assert calls == [1] * 5
    assert len(first_weights) == 5
    assert all(not np.array_equal(a, b) for a, b in zip(first_weights, first_weights[1:]))  # each epoch's own weights
    np.testing.assert_array_equal(first_weights[-1], keras.ops.convert_to_numpy(est.model_.weights[0]))


def _linear_regressor(meta):
    return keras.Sequential([keras.Input((meta["n_features_in_"],)), keras.layers.Dense(1, kernel_initializer="zeros")])


@fused_only
def test_a_run_of_epochs_that_diverges_stops_at_the_epoch_one_epoch_a_call_stops_at(monkeypatch):
    """Full-batch gradient descent with too large a step grows the weights geometrically: the
    divergence guard stops the fit at the same (later than first) epoch and with the same
    message whether epochs run 32 to a call or one at a time, and the estimator is left
    unfitted."""
    import skann.engine
    from sklearn.exceptions import NotFittedError
    from sklearn.utils.validation import check_is_fitted

    from skann import DivergenceError

    rng = np.random.RandomState(0)
    X = rng.normal(size=(64, 4)).astype(np.float32)
    y = X.sum(axis=1)

    def diverging():
        return KerasRegressor(
            _linear_regressor, loss="mse", optimizer="sgd", optimizer__learning_rate=2.5, epochs=200, batch_size=64,
            shuffle=False, random_state=0,
        )

    calls = _counting_epochs_per_call(monkeypatch)
    messages = []
    for per_call in (32, 1):
        monkeypatch.setattr(skann.engine, "_MAX_EPOCHS_PER_CALL", per_call)
        est = diverging()
        with pytest.raises(DivergenceError) as error:
            est.fit(X, y)
        messages.append(str(error.value))
        with pytest.raises(NotFittedError):
            check_is_fitted(est)
    assert messages[0] == messages[1]
    epoch = int(messages[0].split("diverged at epoch ")[1].split(":")[0])
    assert 1 < epoch <= 32, messages[0]
    # 32 epochs in one call, not all finite: the same epochs again one at a time up to the
    # guard's stop; then one at a time throughout.
    assert calls == [32] + [1] * epoch + [1] * epoch


@fused_only
@requires_float64
def test_a_padded_fit_trains_in_float64_as_keras_fit_does(monkeypatch):
    """Under Keras' float64 floatx (integers default to int64 there) the padded last batch
    trains as Keras' own loop does, in float64."""
    import skann.engine

    X, y = _data(0, n=150)  # a last batch of 22 rows, padded
    floatx, policy = keras.backend.floatx(), keras.config.dtype_policy()
    keras.backend.set_floatx("float64")
    keras.config.set_dtype_policy("float64")  # Keras keeps the policy of its first layer's floatx
    try:
        def make():
            return KerasClassifier(
                seeded_mlp, loss="sparse_categorical_crossentropy", optimizer="adam", metrics=["accuracy"],
                epochs=3, batch_size=32, shuffle=False, random_state=0,
            )

        compiled_cache.clear()
        fused = make().fit(X.astype(np.float64), y)
        (programs,) = compiled_cache._entries.values()
        assert programs.padding == "mean"
        monkeypatch.setattr(skann.engine, "FUSED_LOOP", False)
        keras_loop = make().fit(X.astype(np.float64), y)
    finally:
        keras.backend.set_floatx(floatx)
        keras.config.set_dtype_policy(policy)
    for a, b in zip(_state(fused), _state(keras_loop)):
        assert a.dtype == b.dtype
        np.testing.assert_allclose(a, b, rtol=1e-10, atol=1e-12)
    assert fused.model_.weights[0].dtype == "float64"
    for key in fused.history_:
        np.testing.assert_allclose(fused.history_[key], keras_loop.history_[key], rtol=1e-10)


@pytest.mark.skipif(BACKEND != "tensorflow", reason="TensorFlow's cache of eager kernels, keyed on a variable's label")
def test_every_fit_labels_its_variables_alike_and_other_variables_keep_tensorflows_labels():
    """TensorFlow keys its eager kernel cache on a variable handle's label: networks of one
    architecture must label theirs alike (no cache miss per variable per fit), while
    variables made outside skann keep TensorFlow's own labels."""
    import re

    from skann.engine import network_variables

    def label(variable):  # TensorFlow shows it in the handle's repr: name="<label>/<uid>"
        return re.search(r'ResourceHandle\(name="(.*)/\d+"', repr(variable.value.handle)).group(1)

    def labels(model):
        return [label(v) for v in network_variables(model)]

    X, y = _data(0)
    first, second = _classifier(epochs=1).fit(X, y), _classifier(epochs=1).fit(X, y)
    paths = [v.path for v in network_variables(second.model_)]
    assert [v.path for v in network_variables(first.model_)] != paths  # Keras' counters differ ...
    assert labels(first.model_) == labels(second.model_)  # ... the labels do not
    assert "sequential/dense/kernel" in labels(second.model_)
    assert "adam/sequential_dense_kernel_momentum" in labels(second.model_)
    outside = keras.layers.Dense(2, name="dense_77")
    outside.build((None, 3))
    assert label(outside.kernel) == "dense_77/kernel"


def _default_executor_fit(monkeypatch, make, X, y):
    """The fit skann made before its programs ran on TensorFlow's single-threaded executor."""
    from skann import engine

    with monkeypatch.context() as patch:
        patch.setattr(engine, "_fused_program_executor", lambda: "")
        return _fresh(make, X, y)


def _while_loops_lowered(programs) -> list[bool]:
    """Whether each While loop in the programs' traces is to be lowered to old-style control
    flow (which only TensorFlow's default executor runs)."""
    flags = []
    for function in programs._functions.values():
        for graph in [function.graph, *[f.graph for f in function.graph._functions.values()]]:
            for op in graph.get_operations():
                if op.type in ("While", "StatelessWhile"):
                    try:
                        flags.append(op.get_attr("_lower_using_switch_merge"))
                    except ValueError:
                        flags.append(False)
    return flags


@pytest.mark.skipif(BACKEND != "tensorflow", reason="TensorFlow's executors")
def test_programs_run_on_the_single_threaded_executor_with_the_default_executors_results(monkeypatch):
    """On a machine without accelerators skann's TensorFlow programs are traced and run for the
    single-threaded executor (their loops kept as functional While ops, which it needs), and
    train as on the default executor to float rounding: TensorFlow rewrites the two forms of
    loop differently (measured: bitwise equal for a ReLU MLP, up to 2e-7 apart after 4 epochs
    with tanh, Dropout or BatchNormalization, 6e-8 to 9e-8 for the book's networks)."""
    from skann.engine import _fused_program_executor

    if not _fused_program_executor():
        pytest.skip("an accelerator is visible: programs keep TensorFlow's default executor")

    X, y = _data(0)
    make = _dense_classifier_with_holdout
    default = _default_executor_fit(monkeypatch, make, X, y)
    (programs,) = compiled_cache._entries.values()
    assert programs._executor == "" and any(_while_loops_lowered(programs))
    single = _fresh(make, X, y)
    (programs,) = compiled_cache._entries.values()
    assert programs._executor == "SINGLE_THREADED_EXECUTOR"
    assert {"train_padded", "evaluate"} <= {key[0] for key in programs._functions}  # training and validation
    lowered = _while_loops_lowered(programs)
    assert lowered and not any(lowered)
    _assert_trained_alike(single, default)


@pytest.mark.skipif(BACKEND != "tensorflow", reason="TensorFlow's executors")
def test_a_program_the_single_threaded_executor_refuses_runs_on_the_default_one(monkeypatch):
    """A loss that calls a TensorFlow function traced outside skann brings old-style control
    flow, which the single-threaded executor refuses before it stores anything: the fit
    retraces for the default executor and trains exactly as it would have there."""
    import tensorflow as tf

    from skann.engine import _many_small_ops

    def thrice(x):
        return tf.while_loop(lambda i, acc: i < 3, lambda i, acc: (i + 1, acc + x), (tf.constant(0), tf.zeros_like(x)))[1]

    traced = tf.function(thrice, autograph=False).get_concrete_function(tf.TensorSpec((None, 1), tf.float32))

    @keras.saving.register_keras_serializable("skann_tests")
    def thrice_mse(y_true, y_pred):
        return keras.ops.mean(keras.ops.square(traced(y_pred) / 3.0 - y_true), axis=-1)

    def network(meta):
        return keras.Sequential([keras.Input((6,)), keras.layers.Dense(8, activation="relu"), keras.layers.Dense(1)])

    X, y = _data(0)
    y = y.astype(np.float32)
    make = functools.partial(KerasRegressor, network, loss=thrice_mse, optimizer="sgd", epochs=3, batch_size=16, random_state=0)
    default = _default_executor_fit(monkeypatch, make, X, y)
    retried = _fresh(make, X, y)
    (programs,) = compiled_cache._entries.values()
    assert _many_small_ops(programs.template)  # it was to run single-threaded ...
    assert programs._executor == ""  # ... and fell back
    assert any(_while_loops_lowered(programs))
    _assert_same_state(retried, default)
    again = make().fit(X, y)  # later fits go straight to the default executor
    _assert_same_state(again, default)


@pytest.mark.skipif(BACKEND != "tensorflow", reason="TensorFlow's executors")
def test_convolutional_and_subclassed_networks_keep_the_default_executor():
    """The single-threaded executor serves Sequential and functional networks of many small ops
    only: a small CNN's epoch took 3x longer on it, and a subclassed model's call is unknown."""
    from skann.engine import _many_small_ops

    class Subclassed(keras.Model):
        def __init__(self, **kwargs):
            super().__init__(**kwargs)
            self.dense = keras.layers.Dense(1)

        def call(self, x):
            return self.dense(x)

    X = np.random.RandomState(0).rand(32, 8, 8, 1).astype(np.float32)
    y = np.arange(32) % 2

    def cnn(meta):
        return keras.Sequential([
            keras.Input((8, 8, 1)), keras.layers.Conv2D(2, 3), keras.layers.Flatten(), keras.layers.Dense(2, activation="softmax"),
        ])

    compiled_cache.clear()
    KerasClassifier(cnn, loss="sparse_categorical_crossentropy", epochs=1, batch_size=8, random_state=0).fit(X, y)
    (programs,) = compiled_cache._entries.values()
    assert not _many_small_ops(programs.template) and programs._executor == ""
    assert _many_small_ops(keras.Sequential([keras.Input((3,)), keras.layers.Normalization(), keras.layers.Dense(1)]))
    subclassed = Subclassed()
    subclassed(np.zeros((1, 3), np.float32))
    assert not _many_small_ops(subclassed)  # Dense layers only, but not a graph of them


@pytest.mark.skipif(BACKEND != "tensorflow", reason="TensorFlow's cache of eager kernels, keyed on a variable's label")
def test_many_fits_in_one_process_do_not_grow_its_memory():
    """TensorFlow kept a kernel for every variable of every fit while Keras' unique labels
    reached it: these 80 fits grew the process by 40 MB then (400 fits of the benchmarks'
    MLP: 290 MB), by nothing measurable now (-3 MB in two runs)."""
    out = _run(
        """
        import gc, json
        from skann import KerasClassifier  # first: TensorFlow imported quietly
        import numpy as np, keras

        def rss_mb():
            with open("/proc/self/status") as f:
                return int(next(l for l in f if l.startswith("VmRSS")).split()[1]) / 1024

        def mlp(meta):
            return keras.Sequential([keras.Input((meta["n_features_in_"],)), keras.layers.Dense(32, activation="relu"),
                                     keras.layers.Dense(16, activation="relu"), keras.layers.Dense(3, activation="softmax")])

        rng = np.random.RandomState(0)
        X, y = rng.normal(size=(100, 8)).astype("float32"), rng.randint(0, 3, 100)

        def fit():
            KerasClassifier(mlp, loss="sparse_categorical_crossentropy", epochs=1, random_state=0).fit(X, y)

        for _ in range(10):
            fit()
        gc.collect()
        before = rss_mb()
        for _ in range(80):
            fit()
        gc.collect()
        print(json.dumps({"grown_mb": rss_mb() - before}))
        """,
        "tensorflow",
    )
    grown = json.loads(out.strip().splitlines()[-1])["grown_mb"]
    assert grown < 20, f"{grown:.1f} MB more after 80 fits"


@pytest.mark.skipif(BACKEND != "jax", reason="XLA's options are those of JAX's programs")
def test_long_epochs_compile_with_xlas_own_options_and_train_as_short_ones(monkeypatch):
    """A program whose epoch is long (its rows times the network's weights at least
    ``_LONG_EPOCH_WORK``) compiles with XLA's own options, a short one with skann's (XLA's older
    CPU fusion emitters at LLVM's first optimisation level, quicker to compile): training and
    validation alike, and the two train to float rounding alike."""
    from skann import engine

    if jax_compiler_options() is None:
        pytest.skip("skann's programs compile with XLA's own options here (not the CPU)")
    assert engine._compiler_options_for(20000 * 266_610) is None  # the book's Fashion MLP, 20,000 images
    assert engine._compiler_options_for(2048 * 2_768) == jax_compiler_options()  # digits' MLP

    X, y = _data(0)
    make = _dense_classifier_with_holdout
    short = _fresh(make, X, y)
    (programs,) = compiled_cache._entries.values()
    assert set(programs._programs) == {("train_padded", False), ("evaluate_padded", False)}
    monkeypatch.setattr(engine, "_LONG_EPOCH_WORK", 1)
    long = _fresh(make, X, y)
    (programs,) = compiled_cache._entries.values()
    assert set(programs._programs) == {("train_padded", True), ("evaluate_padded", True)}
    _assert_trained_alike(long, short)


@pytest.mark.skipif(BACKEND != "jax", reason="Keras' initializers compile a program per weight shape on JAX only")
def test_initializers_compile_once_per_bucket_of_sizes_with_keras_values(caplog):
    """While skann builds a network, Keras' random initializers draw a flat bucket of sizes and
    keep the first values (JAX's partitionable threefry: a value's bits depend on its position
    only), and zeros come from NumPy: bitwise the values of Keras' own calls (uniform draws
    through a program of skann's XLA options, on the CPU), with one compilation of the random
    draw for three kernel shapes instead of three."""
    import logging

    import jax

    from skann._keras_compat import _uniform_program, shared_initializer_programs

    shapes = [(13, 32), (32, 16), (16, 3), (7,), (2, 3, 5, 4)]
    initializers = [
        keras.initializers.GlorotUniform, keras.initializers.GlorotNormal, keras.initializers.HeNormal,
        keras.initializers.RandomNormal, keras.initializers.RandomUniform, keras.initializers.TruncatedNormal,
        keras.initializers.LecunUniform,
    ]

    def draw_all():
        values = [keras.ops.convert_to_numpy(make(seed=3)(shape)) for make in initializers for shape in shapes]
        generator = keras.random.SeedGenerator(5)  # a layer's seed generator: advanced once a draw
        values += [keras.ops.convert_to_numpy(keras.random.normal(shape, seed=generator)) for shape in shapes]
        values += [keras.ops.convert_to_numpy(keras.initializers.Zeros()(shape, dtype)) for shape in shapes for dtype in ("float32", "int32")]
        return values

    outside = draw_all()
    with shared_initializer_programs():
        inside = draw_all()
    assert len(inside) == len(outside)
    for a, b in zip(inside, outside):
        assert a.dtype == b.dtype and a.shape == b.shape
        np.testing.assert_array_equal(a, b)

    def uniform_compilations(within: bool) -> int:
        jax.clear_caches()
        _uniform_program.cache_clear()
        caplog.clear()
        with caplog.at_level(logging.WARNING), jax.log_compiles(True), (shared_initializer_programs() if within else contextlib.nullcontext()):
            for shape in [(13, 32), (32, 16), (16, 3)]:
                keras.initializers.GlorotUniform(seed=1)(shape)
        return sum(
            "XLA compilation of jit(_uniform)" in message or "XLA compilation of jit(flat_uniform)" in message
            for message in (record.getMessage() for record in caplog.records)
        )

    assert uniform_compilations(within=False) == 3
    assert uniform_compilations(within=True) == 1
    if jax_compiler_options() is not None:  # the draw's program is skann's, with its options
        assert _uniform_program.cache_info().currsize == 1
