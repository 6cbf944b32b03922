"""Persistence: joblib and the safe format, proven in fresh processes; integrity; interrupts."""

from __future__ import annotations

import json
import subprocess
import sys
import textwrap
import zipfile

import joblib
import keras
import numpy as np
import pytest
from sklearn.kernel_approximation import Nystroem
from sklearn.model_selection import GridSearchCV, RandomizedSearchCV
from sklearn.pipeline import make_pipeline
from sklearn.preprocessing import FunctionTransformer, StandardScaler

import skann
from skann import (
    FashionMLPClassifier,
    HousingMLPRegressor,
    ImageFlattener,
    KerasClassifier,
    PerceptronBaseline,
    PixelScaler,
    WideDeepRegressor,
)
from skann.persistence import SkannFileError, UnsafeObjectError

from .conftest import REPO


@pytest.fixture(scope="module")
def data(fashion_sample, housing_sample):
    (Xf, yf), _ = fashion_sample
    X, y = housing_sample
    rng = np.random.RandomState(0)
    idx = rng.permutation(len(X))[:600]
    names = np.asarray(skann.datasets.FASHION_CLASS_NAMES)
    return {"Xf": Xf[:400], "yf": names[yf[:400]], "X": X[idx], "y": y[idx]}


def _fitted_objects(data):
    """name -> (fitted object, input for predict, training data)."""
    pd = pytest.importorskip("pandas")
    Xf, yf, X, y = data["Xf"], data["yf"], data["X"], data["y"]
    df = pd.DataFrame(X, columns=skann.datasets.CALIFORNIA_FEATURE_NAMES)
    small = dict(epochs=2, random_state=0)
    objects = {
        "fashion": (FashionMLPClassifier(n_hidden=1, n_neurons=32, **small).fit(Xf, yf), Xf[:50], (Xf, yf)),
        "housing_df": (HousingMLPRegressor(early_stopping=False, **small).fit(df, y), df.iloc[:50], (df, y)),
        "wide_deep_subclass": (WideDeepRegressor(api="subclass", early_stopping=False, **small).fit(X, y), X[:50], (X, y)),
        "wide_deep": (WideDeepRegressor(early_stopping=False, **small).fit(X, y), X[:50], (X, y)),
        "perceptron": (PerceptronBaseline(max_iter=3, tol=None, random_state=0).fit(X, y > 2), X[:50], (X, y > 2)),
        "pipeline": (
            make_pipeline(ImageFlattener(), PixelScaler(), FashionMLPClassifier(n_hidden=1, n_neurons=16, **small)).fit(Xf, yf),
            Xf[:50],
            None,
        ),
        "grid": (
            GridSearchCV(HousingMLPRegressor(n_hidden=1, early_stopping=False, **small), {"n_neurons": [4, 8]}, cv=2).fit(X, y),
            X[:50],
            None,
        ),
        "randomized": (
            RandomizedSearchCV(
                make_pipeline(StandardScaler(), PerceptronBaseline(max_iter=2, random_state=0)),
                {"perceptronbaseline__eta0": [0.1, 1.0]},
                n_iter=2,
                cv=2,
                random_state=0,
            ).fit(X, y > 2),
            X[:50],
            None,
        ),
    }
    return objects


def _final_estimator(obj):
    if hasattr(obj, "best_estimator_"):
        obj = obj.best_estimator_
    return obj[-1] if hasattr(obj, "steps") else obj


def _facts(obj, X) -> dict:
    est = _final_estimator(obj)
    facts = {
        "pred": np.asarray(obj.predict(X)).tolist(),
        "n_features_in_": int(est.n_features_in_),
        "history_": {k: list(v) for k, v in est.history_.items()},
        "iterations": int(est.model_.optimizer.iterations.numpy()),
    }
    if hasattr(est, "classes_"):
        facts["classes_"] = np.asarray(est.classes_).tolist()
    if hasattr(est, "feature_names_in_"):
        facts["feature_names_in_"] = est.feature_names_in_.tolist()
    if hasattr(est, "predict_aux"):
        facts["aux"] = est.predict_aux(X).tolist()
    return facts


CHECK_IN_FRESH_PROCESS = textwrap.dedent(
    """
    import json, sys
    import joblib, skann
    from tests.test_persistence import _facts
    jobs_path = sys.argv[1]
    results = {}
    for kind, name, path, X, train in joblib.load(jobs_path):
        obj = joblib.load(path) if kind == "joblib" else skann.load(path)
        facts = _facts(obj, X)
        if train is not None:
            # Training goes on from the saved weights and optimizer state.
            obj.partial_fit(*train)
            facts["n_iter_after"] = obj.n_iter_
            facts["iterations_after"] = int(obj.model_.optimizer.iterations.numpy())
        results[kind + ":" + name] = facts
    print(json.dumps(results))
    """
)


def _run_fresh(jobs, tmp_path) -> dict:
    """Load every (kind, name, path, X, train) job in one new Python process; return its facts."""
    jobs_path = tmp_path / "jobs.joblib"
    joblib.dump(jobs, jobs_path)
    result = subprocess.run(
        [sys.executable, "-c", CHECK_IN_FRESH_PROCESS, str(jobs_path)],
        capture_output=True,
        text=True,
        timeout=600,
        cwd=REPO,
    )
    assert result.returncode == 0, result.stderr
    return json.loads(result.stdout)


def _assert_same(facts, original, X):
    expected = _facts(original, X)
    pred = np.asarray(facts["pred"])
    if pred.dtype.kind == "f":
        np.testing.assert_allclose(pred, expected["pred"], atol=1e-6, rtol=0)
    else:
        assert facts["pred"] == expected["pred"]
    for key in ("n_features_in_", "history_", "classes_", "feature_names_in_", "iterations"):
        assert facts.get(key) == expected.get(key), key
    if "aux" in expected:
        np.testing.assert_allclose(facts["aux"], expected["aux"], atol=1e-6, rtol=0)


def test_round_trip_in_a_fresh_process(data, tmp_path):
    """joblib files and skann.save files, loaded (and trained further) in one new process."""
    objects = _fitted_objects(data)
    jobs = []
    for kind in ("joblib", "safe"):
        for name, (obj, X, train) in objects.items():
            if kind == "safe" and name in ("grid", "randomized"):  # scorers, CV splitters: joblib only
                continue
            path = tmp_path / f"{name}.{kind}"
            if kind == "joblib":
                joblib.dump(obj, path)
            else:
                skann.save(obj, path)
            jobs.append((kind, name, str(path), X, train))
    all_facts = _run_fresh(jobs, tmp_path)
    assert sorted(all_facts) == sorted(f"{kind}:{name}" for kind, name, *_ in jobs)
    for kind, name, _, X, train in jobs:
        obj = objects[name][0]
        facts = all_facts[f"{kind}:{name}"]
        _assert_same(facts, obj, X)
        if train is not None:
            # One more epoch on top of the saved optimizer step count.
            steps_per_epoch = -(-len(train[0]) // (1 if name == "perceptron" else 32))
            # The perceptron counts the epochs of the last call, as scikit-learn's does.
            assert facts["n_iter_after"] == (1 if name == "perceptron" else obj.n_iter_ + 1), name
            assert facts["iterations_after"] == int(obj.model_.optimizer.iterations.numpy()) + steps_per_epoch, name


def test_loaded_estimator_keeps_training_with_its_optimizer_state(data, tmp_path):
    X, y = data["X"], data["y"]
    reg = HousingMLPRegressor(epochs=2, early_stopping=False, random_state=0).fit(X, y)
    steps = int(reg.model_.optimizer.iterations.numpy())
    for kind in ("joblib", "safe"):
        path = tmp_path / f"reg.{kind}"
        joblib.dump(reg, path) if kind == "joblib" else skann.save(reg, path)
        loaded = joblib.load(path) if kind == "joblib" else skann.load(path)
        assert int(loaded.model_.optimizer.iterations.numpy()) == steps
        # Adam's moment estimates came back too: one more epoch on both gives the same weights.
        original = joblib.load(tmp_path / "reg.joblib") if kind == "safe" else None
        loaded.partial_fit(X, y)
        assert loaded.n_iter_ == 3
        assert int(loaded.model_.optimizer.iterations.numpy()) == steps + steps // 2
        if original is not None:
            original.partial_fit(X, y)
            np.testing.assert_allclose(original.predict(X[:20]), loaded.predict(X[:20]), atol=1e-5)


def test_unfitted_estimators_round_trip(tmp_path):
    for est in (FashionMLPClassifier(n_neurons=[5, 6]), WideDeepRegressor(wide_features=slice(0, 3)), PerceptronBaseline(eta0=0.5)):
        joblib.dump(est, tmp_path / "u.joblib")
        skann.save(est, tmp_path / "u.skann")
        for loaded in (joblib.load(tmp_path / "u.joblib"), skann.load(tmp_path / "u.skann")):
            assert type(loaded) is type(est) and loaded.get_params() == est.get_params()
            assert not hasattr(loaded, "model_")


def test_safe_format_refuses_what_it_cannot_store(tmp_path):
    with pytest.raises(UnsafeObjectError, match="joblib"):
        skann.save(HousingMLPRegressor(callbacks=[keras.callbacks.TerminateOnNaN()]), tmp_path / "x.skann")
    with pytest.raises(UnsafeObjectError, match="Nystroem"):
        skann.save(make_pipeline(Nystroem(), HousingMLPRegressor()), tmp_path / "x.skann")
    with pytest.raises(UnsafeObjectError, match="is a function.*NUMPY_FUNCTIONS"):  # code, not a NumPy function
        skann.save(make_pipeline(FunctionTransformer(lambda X: X + 1), HousingMLPRegressor()), tmp_path / "x.skann")
    assert not (tmp_path / "x.skann").exists()


def _write_zip(path, members: dict[str, bytes]):
    with zipfile.ZipFile(path, "w") as archive:
        for name, content in members.items():
            archive.writestr(name, content)


def test_safe_format_integrity_errors(data, tmp_path):
    X, y = data["X"], data["y"]
    reg = HousingMLPRegressor(epochs=1, early_stopping=False, random_state=0).fit(X, y)
    good = tmp_path / "good.skann"
    skann.save(reg, good)
    members = {}
    with zipfile.ZipFile(good) as archive:
        for name in archive.namelist():
            members[name] = archive.read(name)

    # A modified member: the checksum catches it.
    meta = json.loads(members["skann.json"])
    meta["object"]["fitted"]["n_iter_"] = 99
    _write_zip(tmp_path / "modified.skann", {**members, "skann.json": json.dumps(meta).encode()})
    with pytest.raises(SkannFileError, match="modified"):
        skann.load(tmp_path / "modified.skann")

    # Truncated file.
    (tmp_path / "truncated.skann").write_bytes(good.read_bytes()[: good.stat().st_size // 2])
    with pytest.raises(SkannFileError, match="truncated or corrupt"):
        skann.load(tmp_path / "truncated.skann")

    # Not a skann file at all, and a zip that is not ours.
    (tmp_path / "text.skann").write_text("hello")
    with pytest.raises(SkannFileError, match="not a skann model file"):
        skann.load(tmp_path / "text.skann")
    _write_zip(tmp_path / "other.zip", {"readme.txt": b"hi"})
    with pytest.raises(SkannFileError, match="not a skann model file"):
        skann.load(tmp_path / "other.zip")

    # Written by a future, incompatible format version.
    manifest = json.loads(members["skann-manifest.json"])
    manifest["format_version"] = 99
    _write_zip(tmp_path / "future.skann", {**members, "skann-manifest.json": json.dumps(manifest).encode()})
    with pytest.raises(SkannFileError, match="version 99.*Upgrade skann"):
        skann.load(tmp_path / "future.skann")

    with pytest.raises(FileNotFoundError):
        skann.load(tmp_path / "missing.skann")


def _two_class_network(meta):
    return keras.Sequential([keras.Input((meta["n_features_in_"],)), keras.layers.Dense(2, activation="softmax")])


def test_files_name_classes_by_their_public_import_paths(tmp_path):
    import re

    X, y = np.random.default_rng(0).random((40, 3)), np.arange(40) % 2
    pipe = make_pipeline(StandardScaler(), KerasClassifier(_two_class_network, loss="sparse_categorical_crossentropy"))
    skann.save(pipe.fit(X, y), tmp_path / "p.skann")
    with zipfile.ZipFile(tmp_path / "p.skann") as archive:
        names = set(re.findall(r'"__object__": "([^"]+)"', archive.read("skann.json").decode()))
    assert names == {"sklearn.pipeline.Pipeline", "sklearn.preprocessing.StandardScaler", "skann.wrappers.KerasClassifier",
                     "skann.wrappers.ClassifierLabelEncoder", "sklearn.preprocessing.FunctionTransformer"}
    assert names <= skann.persistence.SAFE_CLASSES


def test_format_1_names_are_read_only_in_format_1_files(tmp_path):
    """The defining-module names of format 1 are a migration of old files, not aliases: a file
    of the current format naming one is refused."""
    import hashlib

    for version, refused in ((1, False), (2, True)):
        meta = {"format": "skann-safe", "format_version": version,
                "object": {"__object__": "sklearn.preprocessing._data.StandardScaler",
                           "state": {"copy": True, "with_mean": True, "with_std": True}}}
        body = json.dumps(meta).encode()
        manifest = {"format": "skann-safe", "format_version": version,
                    "sha256": {"skann.json": hashlib.sha256(body).hexdigest()}}
        _write_zip(tmp_path / "s.skann", {"skann-manifest.json": json.dumps(manifest).encode(), "skann.json": body})
        if refused:
            with pytest.raises(UnsafeObjectError, match="_data.StandardScaler.*allow-list"):
                skann.load(tmp_path / "s.skann")
        else:
            assert type(skann.load(tmp_path / "s.skann")).__name__ == "StandardScaler"


def test_safe_format_refuses_classes_outside_the_allow_list(tmp_path):
    import hashlib

    meta = {
        "format": "skann-safe",
        "format_version": 1,
        "object": {"__object__": "subprocess.Popen", "state": {}},
    }
    body = json.dumps(meta).encode()
    manifest = {"format": "skann-safe", "format_version": 1, "sha256": {"skann.json": hashlib.sha256(body).hexdigest()}}
    _write_zip(tmp_path / "evil.skann", {"skann-manifest.json": json.dumps(manifest).encode(), "skann.json": body})
    with pytest.raises(UnsafeObjectError, match="subprocess.Popen.*allow-list.*joblib"):
        skann.load(tmp_path / "evil.skann")


def test_interrupted_fit_leaves_the_estimator_unfitted_and_the_checkpoint_usable(tmp_path):
    """Ctrl-C (a real SIGINT) during fit: the estimator is as before the call, and the
    ModelCheckpoint file holds the best weights so far.

    The signal is sent at the start of an epoch: Keras' ModelCheckpoint does not write
    atomically, so a Ctrl-C that lands while it writes leaves a broken file (Keras' limit).
    """
    checkpoint = tmp_path / "best.keras"
    script = textwrap.dedent(
        f"""
        import os, signal, time, numpy as np, keras
        from skann import HousingMLPRegressor
        from skann.datasets import load_california_housing

        class CtrlC(keras.callbacks.Callback):
            def on_epoch_begin(self, epoch, logs=None):
                if epoch == 5:
                    os.kill(os.getpid(), signal.SIGINT)
                    time.sleep(5)  # the signal interrupts this sleep

        X, y = load_california_housing(sample=True, return_X_y=True)
        reg = HousingMLPRegressor(
            epochs=100000, random_state=0, early_stopping=False,
            callbacks=[keras.callbacks.ModelCheckpoint({str(checkpoint)!r}, monitor="loss", save_best_only=True), CtrlC()],
        )
        try:
            reg.fit(X[:3000], y[:3000])
        except KeyboardInterrupt:
            print("interrupted; fitted:", hasattr(reg, "model_"), hasattr(reg, "history_"), flush=True)
            best = keras.models.load_model({str(checkpoint)!r})
            print("checkpoint predicts", best.predict_on_batch(X[:2].astype("float32")).shape, flush=True)
        """
    )
    proc = subprocess.run([sys.executable, "-c", script], capture_output=True, text=True, timeout=240)
    assert "interrupted; fitted: False False" in proc.stdout, proc.stdout + proc.stderr
    assert "checkpoint predicts (2, 1)" in proc.stdout, proc.stdout + proc.stderr


def test_interrupt_during_partial_fit_restores_weights_and_optimizer(data):
    X, y = data["X"], data["y"]
    reg = HousingMLPRegressor(epochs=1, early_stopping=False, random_state=0).fit(X, y)
    weights = [w.copy() for w in reg.model_.get_weights()]
    steps = int(reg.model_.optimizer.iterations.numpy())

    class CtrlC(keras.callbacks.Callback):
        def on_train_batch_end(self, batch, logs=None):
            if batch == 5:
                raise KeyboardInterrupt

    reg.set_params(callbacks=[CtrlC()])
    with pytest.raises(KeyboardInterrupt):
        reg.partial_fit(X, y)
    assert reg.n_iter_ == 1 and len(reg.history_["loss"]) == 1
    assert int(reg.model_.optimizer.iterations.numpy()) == steps
    for before, after in zip(weights, reg.model_.get_weights()):
        np.testing.assert_array_equal(before, after)


def test_save_takes_any_file_name_and_leaves_no_litter(tmp_path):
    """A 255-character name (the temporary name once added a suffix to it); a save killed midway
    leaves one hidden part file, which the next save to that path removes (a part file of a
    process still running is left alone)."""
    import hashlib
    import os
    import signal
    import time

    est = PerceptronBaseline(eta0=0.5)
    long_name = tmp_path / ("m" * 249 + ".skann")
    skann.save(est, long_name)
    assert skann.load(long_name).get_params() == est.get_params()
    assert os.listdir(tmp_path) == [long_name.name]

    folder = tmp_path / "killed"
    folder.mkdir()
    path = folder / "model.skann"
    script = textwrap.dedent(
        f"""
        import time, zipfile
        import skann
        from skann import PerceptronBaseline

        write = zipfile.ZipFile.writestr
        calls = []
        def slow_writestr(self, *args, **kwargs):
            calls.append(1)
            if len(calls) == 2:
                time.sleep(120)  # killed here, halfway through the file
            return write(self, *args, **kwargs)
        zipfile.ZipFile.writestr = slow_writestr
        skann.save(PerceptronBaseline(), {str(path)!r})
        """
    )
    proc = subprocess.Popen([sys.executable, "-c", script], cwd=REPO)
    try:
        deadline = time.monotonic() + 120
        while not list(folder.glob(".*.skann-part")) and time.monotonic() < deadline:
            time.sleep(0.2)
        time.sleep(0.5)
    finally:
        proc.send_signal(signal.SIGKILL)
        proc.wait()
    parts = list(folder.glob(".*.skann-part"))
    assert len(parts) == 1 and not path.exists()
    tag = hashlib.sha256(path.name.encode()).hexdigest()[:12]
    alive = folder / f".{tag}.{os.getppid()}.abcdefgh.skann-part"  # a running writer's
    alive.write_bytes(b"")
    skann.save(est, path)
    assert sorted(p.name for p in folder.iterdir()) == sorted([alive.name, path.name])
    assert skann.load(path).get_params() == est.get_params()


# Files written by skann before the training engine and other backends (commit abfdd4d,
# TensorFlow backend, format version 1): they load, and predict as they did, forever.
FIXTURES = REPO / "tests" / "fixtures"


def test_a_pickle_older_than_some_parameters_loads_with_their_defaults():
    # Written with joblib by commit 10a48cc (JAX), before KerasClassifier had early_stopping,
    # validation_fraction and n_iter_no_change.
    saved = joblib.load(FIXTURES / "v1_keras_classifier.joblib")
    clf = saved["estimator"]
    np.testing.assert_allclose(clf.predict_proba(saved["X"]), saved["proba"], rtol=1e-5, atol=1e-6)
    params = clf.get_params()
    assert (params["early_stopping"], params["validation_fraction"], params["n_iter_no_change"]) == (False, 0.1, 10)
    clf.fit(saved["X"], clf.predict(saved["X"]))  # and it trains again
    assert clf.current_epoch == 2


@pytest.mark.parametrize("version", [1, 2, 3])
@pytest.mark.parametrize("name", ["housing_mlp", "wide_deep", "pipeline_classifier", "perceptron"])
def test_files_of_every_format_version_load_and_predict_as_they_did(name, version):
    # v1_*: written in format 1 (classes named by their defining modules, each object's
    # vars()); v2_*, v3_*: the same objects loaded and saved again by the code that introduced
    # format 2 (public names), then format 3 (declared state: parameters and fitted attributes).
    expected = np.load(FIXTURES / "v1_expected.npz")
    assert skann.persistence.read_metadata(FIXTURES / f"v{version}_{name}.skann")["format_version"] == version
    model = skann.load(FIXTURES / f"v{version}_{name}.skann")
    got = model.predict(expected["X"])
    if got.dtype.kind == "f":
        np.testing.assert_allclose(got, expected[name], rtol=1e-5, atol=1e-6)
    else:
        np.testing.assert_array_equal(got, expected[name])


def test_a_column_transformer_pipeline_file_of_format_3_loads_and_predicts_as_it_did():
    # Written (TensorFlow backend) by the code that introduced format 3, from tests/_tabular.py.
    from ._tabular import frame

    X, _ = frame()
    path = FIXTURES / "v3_column_pipeline.skann"
    assert skann.persistence.read_metadata(path)["format_version"] == 3
    model = skann.load(path)
    np.testing.assert_allclose(model.predict_proba(X), np.load(FIXTURES / "v3_expected.npz")["column_pipeline"], rtol=1e-5, atol=1e-6)
    assert model.feature_names_in_.tolist() == list(X.columns)
