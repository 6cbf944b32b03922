"""HyperbandSearchCV: the schedule, continued training, samplers, Pipelines, metrics,
checkpoints and resuming after a kill, TensorBoard HParams, parallel workers."""

from __future__ import annotations

import glob
import json
import os
import pickle
import signal
import subprocess
import sys
import textwrap
import time
import warnings

import numpy as np
import pytest
from scipy.stats import loguniform, randint
from sklearn.base import BaseEstimator, TransformerMixin
from sklearn.exceptions import FitFailedWarning
from sklearn.model_selection import ShuffleSplit
from sklearn.pipeline import make_pipeline
from sklearn.preprocessing import StandardScaler

from skann import FashionMLPClassifier, HousingMLPRegressor, PerceptronBaseline
from skann.hyperband import hyperband_brackets
from skann.search import HyperbandSearchCV

SPACE = {"learning_rate": loguniform(1e-3, 3e-2), "n_neurons": [4, 8]}
HOLDOUT = ShuffleSplit(n_splits=1, test_size=0.25, random_state=0)


def small_regressor(**kw):
    return HousingMLPRegressor(n_hidden=1, n_neurons=8, early_stopping=False, random_state=0, **kw)


def small_search(estimator=None, **kw):
    settings = dict(max_epochs=4, factor=2, n_brackets=1, cv=2, random_state=0)
    settings.update(kw)
    return HyperbandSearchCV(small_regressor() if estimator is None else estimator, SPACE, **settings)


@pytest.fixture(scope="module")
def housing(housing_sample):
    X, y = housing_sample
    order = np.random.RandomState(0).permutation(len(X))[:300]
    return X[order], y[order]


def rows(search, key):
    return [search.cv_results_[key][i] for i in range(len(search.cv_results_["params"]))]


# ---------------------------------------------------------------------- schedule
def test_brackets_follow_hyperband():
    assert [[(r.n_candidates, r.epochs) for r in b] for b in hyperband_brackets(81, 3)] == [
        [(81, 1), (27, 3), (9, 9), (3, 27), (1, 81)],
        [(34, 3), (11, 9), (3, 27), (1, 81)],
        [(15, 9), (5, 27), (1, 81)],
        [(8, 27), (2, 81)],
        [(5, 81)],
    ]
    # Epochs grow strictly and end at max_epochs even when max_epochs is not a power of factor.
    for bracket in hyperband_brackets(20, 3, min_epochs=2):
        epochs = [r.epochs for r in bracket]
        assert epochs == sorted(set(epochs)) and epochs[-1] == 20 and epochs[0] >= 2
    assert len(HyperbandSearchCV(small_regressor(), max_epochs=27, n_brackets=2).schedule()) == 2


def test_bad_settings_are_refused(housing):
    X, y = housing
    with pytest.raises(ValueError, match="resource"):
        HyperbandSearchCV(small_regressor(), {"epochs": [1, 2]}, max_epochs=4).fit(X, y)
    with pytest.raises(ValueError, match="min_epochs"):
        HyperbandSearchCV(small_regressor(), SPACE, max_epochs=4, min_epochs=5).fit(X, y)
    for refit in (True, False):
        with pytest.raises(ValueError, match="set refit to its name"):
            small_search(scoring=["r2", "neg_mean_squared_error"], refit=refit).fit(X, y)
    with pytest.raises(TypeError, match="skann estimator"):
        HyperbandSearchCV(StandardScaler(), SPACE).fit(X, y)
    with pytest.raises(TypeError, match="scipy.stats distribution or a non-empty list"):
        HyperbandSearchCV(small_regressor(), {"n_neurons": []}, max_epochs=2).fit(X, y)


# ---------------------------------------------------------------------- continued training
def test_every_rung_equals_an_uninterrupted_fit_of_its_epochs(housing, monkeypatch):
    """Continued training is real: the score of a candidate after rung k equals that of one
    fit of the same total epochs from scratch, on the same fold, with the same seed. In one
    process the live networks go on as they are: no state is unpickled."""
    import skann.hyperband.trial as trial

    X, y = housing
    loads = []
    real_loads = trial.pickle.loads
    monkeypatch.setattr(trial.pickle, "loads", lambda data: loads.append(1) or real_loads(data))
    search = small_search(cv=HOLDOUT, refit=False).fit(X, y)
    monkeypatch.undo()
    assert loads == []
    (train, test), = HOLDOUT.split(X, y)
    results = search.cv_results_
    assert list(results["n_epochs"]) == [1] * 4 + [2] * 2 + [4]
    for i in (4, 6):  # a rung-2 and the rung-3 candidate, both continued
        params = results["params"][i]
        fresh = small_regressor().set_params(**params).fit(X[train], y[train])
        assert fresh.current_epoch == params["epochs"]
        np.testing.assert_allclose(results["split0_test_score"][i], fresh.score(X[test], y[test]), rtol=1e-6)
    # Epochs trained: 4 x 1 + 2 x (2 - 1) + 1 x (4 - 2), not 4 + 2 x 2 + 4 as retraining would.
    assert search.total_epochs_ == 8
    assert search.n_candidates_ == 4 and len(search.rungs_) == 3


def test_best_is_among_full_trainings_and_refit_trains_max_epochs(housing):
    X, y = housing
    search = small_search(n_brackets=None, cv=HOLDOUT).fit(X, y)
    best = search.best_index_
    assert search.cv_results_["n_epochs"][best] == 4
    full = search.cv_results_["n_epochs"] == 4
    assert search.best_score_ == search.cv_results_["mean_test_score"][full].max()
    assert search.best_estimator_.current_epoch == 4
    assert search.best_params_["epochs"] == 4
    assert np.isfinite(search.score(X, y))
    # Three brackets: 4 x 1 -> 2 x 2 -> 1 x 4, 3 x 2 -> 1 x 4, 3 x 4.
    assert search.n_candidates_ == 10 and sorted(set(search.cv_results_["bracket"])) == [0, 1, 2]
    assert search.total_epochs_ == 4 + 2 + 2 + 3 * 2 + 2 + 3 * 4


# ---------------------------------------------------------------------- samplers
def test_tpe_sampler_is_seeded_and_searches_the_space(housing):
    pytest.importorskip("optuna", reason="Optuna is not installed (pip install 'skann[optuna]')")
    X, y = housing
    settings = dict(max_epochs=2, cv=HOLDOUT, refit=False)
    first = small_search(sampler="tpe", **settings).fit(X, y)
    second = small_search(sampler="tpe", **settings).fit(X, y)
    random = small_search(**settings).fit(X, y)
    assert first.cv_results_["params"] == second.cv_results_["params"]
    assert first.cv_results_["params"] != random.cv_results_["params"]
    for params in first.cv_results_["params"]:
        assert 1e-3 <= params["learning_rate"] <= 3e-2 and params["n_neurons"] in (4, 8)


def test_optuna_sampler_learns_from_rungs():
    """The Optuna front: reported rungs reach the study, pruned and finished trials are told."""
    optuna = pytest.importorskip("optuna", reason="Optuna is not installed (pip install 'skann[optuna]')")
    from skann.hyperband.samplers import make_sampler

    sampler = make_sampler("tpe", {"x": loguniform(1e-3, 1.0), "k": ["a", "b", "c"], "n": randint(0, 4)}, seed=0)
    drawn = sampler.sample(4)
    assert all(1e-3 <= p["x"] <= 1.0 and p["k"] in "abc" and p["n"] in range(4) for p in drawn)
    assert all(type(p["n"]) is int for p in drawn)  # randint's quantiles come back as ints
    for c in range(4):
        sampler.report(c, 1, float(c), finished=False, pruned=c < 2)
    sampler.report(3, 2, 5.0, finished=True, pruned=False)
    states = [t.state for t in sampler.study.trials]
    assert states.count(optuna.trial.TrialState.PRUNED) == 2
    assert states.count(optuna.trial.TrialState.COMPLETE) == 1
    assert sampler.study.best_value == 5.0
    # An Optuna sampler instance is copied, not changed.
    given = optuna.samplers.RandomSampler(seed=1)
    used = make_sampler(given, {"x": loguniform(1e-3, 1.0)}, seed=0)
    assert isinstance(used.study.sampler, optuna.samplers.RandomSampler) and used.study.sampler is not given


# ---------------------------------------------------------------------- Pipelines, metrics, failures
class CountingScaler(TransformerMixin, BaseEstimator):
    fits = 0

    def fit(self, X, y=None):
        type(self).fits += 1
        self.scaler_ = StandardScaler().fit(X)
        return self

    def transform(self, X):
        return self.scaler_.transform(X)


def test_pipeline_transformers_are_fitted_once_per_candidate_and_fold(housing):
    """In a (nested) Pipeline the transformers are fitted once per candidate and fold; a
    survivor's network continues on the data its fitted transformers give, as one fit would."""
    from sklearn.base import clone

    X, y = housing
    CountingScaler.fits = 0
    pipe = make_pipeline(CountingScaler(), make_pipeline(StandardScaler(), small_regressor()))
    space = {"pipeline__housingmlpregressor__learning_rate": loguniform(1e-3, 3e-2)}
    search = HyperbandSearchCV(pipe, space, max_epochs=4, factor=2, n_brackets=1, cv=HOLDOUT, random_state=0,
                               refit=False).fit(X, y)
    best = search.cv_results_["params"][-1]
    assert best["pipeline__housingmlpregressor__epochs"] == 4
    assert CountingScaler.fits == 4  # 4 candidates x 1 fold; survivors are not refitted
    (train, test), = HOLDOUT.split(X, y)
    fresh = clone(pipe).set_params(**best).fit(X[train], y[train])
    np.testing.assert_allclose(search.cv_results_["split0_test_score"][-1], fresh.score(X[test], y[test]), rtol=1e-6)


def test_multi_metric_ranks_by_the_refit_metric(housing):
    X, y = housing
    search = small_search(scoring={"r2": "r2", "mae": "neg_mean_absolute_error"}, refit="mae", cv=HOLDOUT).fit(X, y)
    results = search.cv_results_
    assert {"mean_test_r2", "mean_test_mae", "rank_test_mae"} <= set(results)
    # Survivors of each rung are the best by the refit metric (MAE), not by R².
    first = results["n_epochs"] == 1
    survivors = set(results["candidate"][results["n_epochs"] == 2])
    best_by_mae = np.argsort(-results["mean_test_mae"][first])[:2]
    assert survivors == set(results["candidate"][first][best_by_mae])
    assert search.best_score_ == results["mean_test_mae"][search.best_index_]


def test_a_failing_candidate_is_scored_error_score_and_pruned(housing):
    X, y = housing
    space = {"learning_rate": [-1.0, 1e-2]}  # -1 is refused by the estimator's fit in every fold
    with pytest.warns(FitFailedWarning):
        search = HyperbandSearchCV(small_regressor(), space, max_epochs=2, factor=2, n_brackets=1, cv=2,
                                   random_state=0).fit(X, y)  # draws -1 and 1e-2
    results = search.cv_results_
    failed = [i for i, p in enumerate(results["params"]) if p["learning_rate"] == -1.0]
    assert failed and all(np.isnan(results["mean_test_score"][i]) for i in failed)
    assert all(results["n_epochs"][i] == 1 for i in failed)  # never continued
    assert search.best_params_["learning_rate"] == 1e-2
    with pytest.raises(ValueError, match="learning_rate"):
        HyperbandSearchCV(small_regressor(), {"learning_rate": [-1.0]}, max_epochs=2, factor=2, n_brackets=1,
                          cv=2, error_score="raise").fit(X, y)


def test_perceptron_and_general_wrapper(blobs):
    X, y = blobs
    search = HyperbandSearchCV(PerceptronBaseline(random_state=0), max_epochs=2, factor=2, n_brackets=1, cv=2,
                               random_state=0).fit(X, y)
    assert search.best_params_["max_iter"] == 2 and search.best_estimator_.current_epoch <= 2


# ---------------------------------------------------------------------- checkpoints
def test_pruned_candidates_states_are_deleted(housing, tmp_path):
    """Disk holds the states of live candidates only: after the first rung keeps 2 of 4
    candidates, at most 2 candidates x 2 folds have states on disk."""
    X, y = housing
    folder = tmp_path / "ckpt"
    seen = []

    def scorer(estimator, X_test, y_test):
        if estimator.current_epoch >= 2:
            seen.append(len(os.listdir(folder / "states")))
        return estimator.score(X_test, y_test)

    small_search(scoring=scorer, checkpoint_dir=folder, refit=False).fit(X, y)
    assert seen and max(seen) <= 4
    assert os.listdir(folder / "states") == []  # all brackets over: nothing left to continue
    lines = (folder / "results.jsonl").read_text().splitlines()
    assert len(lines) == 2 * (4 + 2 + 1)


RESUMABLE = textwrap.dedent(
    """
    import json, sys
    import numpy as np
    from scipy.stats import loguniform, randint
    from skann import HousingMLPRegressor
    from skann.datasets import load_california_housing
    from skann.search import HyperbandSearchCV

    X, y = load_california_housing(sample=True, return_X_y=True)
    order = np.random.RandomState(0).permutation(len(X))[:300]
    X, y = X[order], y[order]
    est = HousingMLPRegressor(n_hidden=1, n_neurons=8, early_stopping=False, random_state=0)
    search = HyperbandSearchCV(est, {"learning_rate": loguniform(1e-3, 3e-2), "n_neurons": [4, 8]},
                               max_epochs=4, factor=2, n_brackets=1, cv=2, sampler=sys.argv[2],
                               checkpoint_dir=sys.argv[1], refit=False, random_state=0)
    search.fit(X, y)
    keep = [k for k in search.cv_results_ if "time" not in k]
    print(json.dumps({k: np.asarray(search.cv_results_[k]).tolist() for k in keep if k != "params"}
                     | {"total_epochs": search.total_epochs_}, default=str))
    """
)


def _run(script: str, *args) -> subprocess.Popen:
    return subprocess.Popen([sys.executable, "-c", script, *map(str, args)], stdout=subprocess.PIPE,
                            stderr=subprocess.PIPE, text=True)


@pytest.mark.parametrize("sampler", ["random", pytest.param("tpe", marks=pytest.mark.long)])
def test_a_search_killed_midway_resumes_to_the_same_result(tmp_path, sampler):
    """SIGKILL a search once 5 trials are written, fit again with the same checkpoint_dir:
    the finished trials are not rerun and cv_results_ equal an uninterrupted run's. The states
    left on disk at the kill hold exactly the weights of uninterrupted fits of their epochs."""
    if sampler == "tpe":
        pytest.importorskip("optuna", reason="Optuna is not installed (pip install 'skann[optuna]')")
    folder = tmp_path / "ckpt"
    uninterrupted = _run(RESUMABLE, tmp_path / "fresh", sampler)  # alongside, for the comparison
    killed = _run(RESUMABLE, folder, sampler)
    results = folder / "results.jsonl"
    deadline = time.time() + 300
    while killed.poll() is None and time.time() < deadline:
        if results.exists() and len(results.read_text().splitlines()) >= 10:
            break
        time.sleep(0.05)
    killed.send_signal(signal.SIGKILL)
    killed.communicate()
    assert killed.returncode == -signal.SIGKILL, "the search finished before it could be killed"
    finished_before = len(results.read_text().splitlines())
    assert 10 <= finished_before < 14

    # A state written before the kill continues exactly an uninterrupted fit.
    from skann.datasets import load_california_housing

    X, y = load_california_housing(sample=True, return_X_y=True)
    order = np.random.RandomState(0).permutation(len(X))[:300]
    X, y = X[order], y[order]
    continued = [p for p in glob.glob(str(folder / "states" / "*_e2.pkl"))]
    assert continued, "no candidate had reached its second rung"
    with open(continued[0], "rb") as f:
        state = pickle.load(f)
    candidate, fold = (int(part[1:]) for part in os.path.basename(continued[0]).split("_")[:2])
    from sklearn.model_selection import KFold

    train, _ = list(KFold(2).split(X))[fold]
    fresh = HousingMLPRegressor(n_hidden=1, n_neurons=8, early_stopping=False, random_state=0)
    fresh.set_params(**{k: v for k, v in state.get_params().items() if k in ("learning_rate", "n_neurons")},
                     epochs=2).fit(X[train], y[train])
    for a, b in zip(fresh.model_.get_weights(), state.model_.get_weights()):
        np.testing.assert_array_equal(a, b)

    resumed = _run(RESUMABLE, folder, sampler)
    out, err = resumed.communicate(timeout=600)
    assert resumed.returncode == 0, err
    assert len(results.read_text().splitlines()) == 14  # 10+ replayed from disk, the rest run once
    out2, err2 = uninterrupted.communicate(timeout=600)
    assert uninterrupted.returncode == 0, err2
    assert json.loads(out) == json.loads(out2)


def test_checkpoint_of_another_search_is_refused(housing, tmp_path):
    X, y = housing
    small_search(n_brackets=1, max_epochs=2, checkpoint_dir=tmp_path, refit=False).fit(X, y)
    with pytest.raises(ValueError, match="holds a different search"):
        small_search(n_brackets=1, max_epochs=2, checkpoint_dir=tmp_path, refit=False).fit(X[:200], y[:200])


# ---------------------------------------------------------------------- TensorBoard
def test_hparams_and_curves_read_back(housing, tmp_path):
    pytest.importorskip("tensorboard", reason="TensorBoard is not installed (pip install 'skann[tensorboard]')")
    import tensorflow as tf
    from tensorboard.backend.event_processing.event_accumulator import EventAccumulator
    from tensorboard.plugins.hparams import plugin_data_pb2

    X, y = housing
    search = small_search(log_dir=tmp_path, refit=False).fit(X, y)
    root = EventAccumulator(str(tmp_path))
    root.Reload()
    config = plugin_data_pb2.HParamsPluginData.FromString(root.PluginTagToContent("hparams")["_hparams_/experiment"])
    assert {m.name.tag for m in config.experiment.metric_infos} == {"hparams/score", "hparams/epochs"}
    results = search.cv_results_
    for candidate in range(4):
        run = EventAccumulator(str(tmp_path / f"candidate_{candidate:04d}"))
        run.Reload()
        info = plugin_data_pb2.HParamsPluginData.FromString(
            run.PluginTagToContent("hparams")["_hparams_/session_start_info"]
        ).session_start_info
        last = np.flatnonzero(results["candidate"] == candidate)[-1]
        assert info.hparams["n_neurons"].number_value == results["params"][last]["n_neurons"]
        np.testing.assert_allclose(info.hparams["learning_rate"].number_value,
                                   results["params"][last]["learning_rate"], rtol=1e-12)
        (score,) = run.Tensors("hparams/score")
        np.testing.assert_allclose(float(tf.make_ndarray(score.tensor_proto)),
                                   results["mean_test_score"][last], rtol=1e-5)
        assert score.step == results["n_epochs"][last]
        # The training curve of fold 0 goes on across rungs in one run folder.
        (run_dir,) = glob.glob(str(tmp_path / f"candidate_{candidate:04d}" / "fold_0" / "run_*"))
        train = EventAccumulator(os.path.join(run_dir, "train"))
        train.Reload()
        # (Sorted: each rung's writer has its own event file, and rungs finished within the
        # same second have files whose names do not order them.)
        assert sorted(e.step for e in train.Tensors("epoch_loss")) == list(range(results["n_epochs"][last]))


# ---------------------------------------------------------------------- workers
def test_live_estimators_pushed_out_of_memory_still_continue(housing, monkeypatch):
    # In one process without checkpoints, states are pickled only when a live estimator
    # leaves the bounded cache; with room for one, every other continuation loads one.
    import skann.hyperband.live as live
    import skann.hyperband.trial as trial

    X, y = housing
    roomy = small_search(refit=False).fit(X, y)
    monkeypatch.setattr(live, "LIVE_MAX_BYTES", 1)
    loads = []
    real_loads = pickle.loads
    monkeypatch.setattr(trial.pickle, "loads", lambda data: loads.append(1) or real_loads(data))
    tight = small_search(refit=False).fit(X, y)
    assert loads  # continued from the evicted states ...
    assert tight.cv_results_["params"] == roomy.cv_results_["params"]  # ... exactly as from live ones
    np.testing.assert_allclose(tight.cv_results_["mean_test_score"], roomy.cv_results_["mean_test_score"], rtol=1e-6)
    assert not live.EVICTED and not live.LIVE  # nothing left behind


def test_two_workers_give_the_sequential_results(housing):
    X, y = housing
    one = small_search(refit=False, max_epochs=2).fit(X, y)
    two = small_search(refit=False, max_epochs=2, n_jobs=2).fit(X, y)
    assert one.cv_results_["params"] == two.cv_results_["params"]
    np.testing.assert_allclose(two.cv_results_["mean_test_score"], one.cv_results_["mean_test_score"], rtol=1e-5)
    assert one.total_epochs_ == two.total_epochs_


def test_fashion_pipeline_in_a_quiet_search(fashion_sample, capsys):
    from skann import ImageFlattener

    (X, y), _ = fashion_sample
    X, y = X[:300], y[:300]
    pipe = make_pipeline(ImageFlattener(), FashionMLPClassifier(n_neurons=(8,), n_hidden=1, early_stopping=False,
                                                                random_state=0))
    search = HyperbandSearchCV(pipe, {"fashionmlpclassifier__learning_rate": loguniform(1e-3, 1e-1)},
                               max_epochs=2, factor=2, n_brackets=1, cv=2, random_state=0).fit(X, y)
    assert capsys.readouterr().out == ""
    assert search.predict(X[:5]).shape == (5,) and set(search.classes_) == set(np.unique(y))
    with warnings.catch_warnings():
        warnings.simplefilter("error")
        search.score(X, y)
