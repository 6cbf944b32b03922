"""Searches on a real Dask cluster on loopback: LocalCluster, a scheduler given by address,
a worker killed mid-search."""

from __future__ import annotations

import json
import os
import signal
import subprocess
import sys
import threading
import time

import joblib
import numpy as np
import pytest
from sklearn.model_selection import GridSearchCV

from .conftest import tf_threads_probe
from skann import FashionMLPClassifier, HousingMLPRegressor

distributed = pytest.importorskip("distributed", reason="dask[distributed] is not installed (pip install 'skann[dask]')")
from distributed import Client, LocalCluster  # noqa: E402

# One LocalCluster per xdist worker: the tests using it share a group (pytest --dist loadgroup).
pytestmark = [pytest.mark.timeout(600)]
uses_cluster = pytest.mark.xdist_group("dask-local-cluster")


@pytest.fixture(scope="module")
def cluster():
    with LocalCluster(
        n_workers=2, threads_per_worker=1, processes=True, host="127.0.0.1", dashboard_address=":0"
    ) as cluster:
        yield cluster


def _search(est, grid, X, y, backend=None):
    search = GridSearchCV(est, grid, cv=2)
    if backend is None:
        return search.fit(X, y)
    with joblib.parallel_config(backend=backend):
        return search.fit(X, y)


def _assert_same_search(dask_search, local_search):
    assert dask_search.best_params_ == local_search.best_params_
    # Workers run TensorFlow with one thread, the local run with all cores: float rounding
    # may differ (it did not in our runs), so scores agree to 1e-6 relative.
    for key in local_search.cv_results_:
        if key.startswith(("mean_test", "split")):
            np.testing.assert_allclose(dask_search.cv_results_[key], local_search.cv_results_[key], rtol=1e-6)


@uses_cluster
def test_search_on_a_local_cluster_equals_the_local_search(cluster, housing_sample, blobs):
    X, y = housing_sample
    X, y = X[:400], y[:400]
    reg = HousingMLPRegressor(n_hidden=1, n_neurons=16, epochs=3, early_stopping=False, random_state=0)
    grid = {"learning_rate": [1e-3, 1e-2], "n_neurons": [8, 16]}
    with Client(cluster) as client:
        dask_search = _search(reg, grid, X, y, backend="dask")
        # The fits ran on the workers, and each worker limits TensorFlow to one thread.
        assert set(client.run(tf_threads_probe()).values()) == {1}
        assert len(client.scheduler_info()["workers"]) == 2
    _assert_same_search(dask_search, _search(reg, grid, X, y))

    Xb, yb = blobs
    clf = FashionMLPClassifier(n_hidden=1, n_neurons=8, epochs=3, random_state=0)
    with Client(cluster):
        dask_clf = _search(clf, {"learning_rate": [0.01, 0.1]}, Xb, yb, backend="dask")
    _assert_same_search(dask_clf, _search(clf, {"learning_rate": [0.01, 0.1]}, Xb, yb))


@pytest.mark.long  # ~40 s: a scheduler and two workers started as separate processes
def test_search_on_a_scheduler_given_by_address(tmp_path, housing_sample):
    """The multi-machine set-up, on loopback: `dask scheduler` and `dask worker` processes."""
    scheduler_file = tmp_path / "scheduler.json"
    env = {**os.environ, "DASK_DISTRIBUTED__WORKER__DAEMON": "False"}
    scheduler = subprocess.Popen(
        [sys.executable, "-m", "distributed.cli.dask_scheduler", "--host", "127.0.0.1", "--port", "0",
         "--no-dashboard", "--scheduler-file", str(scheduler_file)],
        stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL, env=env,
    )
    workers = []
    try:
        deadline = time.time() + 60
        while not scheduler_file.exists() and time.time() < deadline:
            time.sleep(0.2)
        address = json.loads(scheduler_file.read_text())["address"]
        assert address.startswith("tcp://127.0.0.1:")
        for _ in range(2):
            workers.append(subprocess.Popen(
                [sys.executable, "-m", "distributed.cli.dask_worker", address, "--nthreads", "1",
                 "--host", "127.0.0.1", "--no-dashboard"],
                stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL, env=env,
            ))
        X, y = housing_sample
        X, y = X[:300], y[:300]
        reg = HousingMLPRegressor(n_hidden=1, n_neurons=8, epochs=2, early_stopping=False, random_state=0)
        grid = {"learning_rate": [1e-3, 1e-2]}
        with Client(address, timeout=60) as client:
            client.wait_for_workers(2, timeout=120)
            remote = _search(reg, grid, X, y, backend="dask")
            assert set(client.run(tf_threads_probe()).values()) == {1}
        _assert_same_search(remote, _search(reg, grid, X, y))
    finally:
        for proc in [*workers, scheduler]:
            proc.terminate()
        for proc in [*workers, scheduler]:
            try:
                proc.wait(timeout=30)
            except subprocess.TimeoutExpired:
                proc.kill()


@uses_cluster
def test_cli_search_on_a_scheduler_address(cluster):
    """`skann search --scheduler ADDRESS`: fits on the cluster's workers, progress counted there."""
    from click.testing import CliRunner

    from skann.cli import main

    transitions = cluster.scheduler.transition_counter
    result = CliRunner().invoke(main, ["search", "housing", "--n-iter", "2", "--cv", "2", "--epochs", "1",
                                       "--sample", "--scheduler", cluster.scheduler_address])
    assert result.exit_code == 0, (result.output, result.stderr, result.exception)
    assert "2 candidates, 2-fold CV" in result.output and "best model: test RMSE" in result.output
    assert "fits" in result.stderr  # the progress bar (stderr is not a terminal: its label only)
    assert cluster.scheduler.transition_counter > transitions  # the fits went through this scheduler


def _search_killing_workers(client, fit, n_killed: int) -> dict:
    """Run ``fit()`` in a thread and SIGKILL ``n_killed`` workers while fits run."""
    outcome: dict = {}

    def run_search():
        try:
            outcome["search"] = fit()
        except Exception as exc:
            outcome["error"] = exc

    thread = threading.Thread(target=run_search, daemon=True)
    thread.start()
    deadline = time.time() + 120
    while time.time() < deadline and not any(client.processing().values()):
        time.sleep(0.02)
    # Fits are running: killed at once, since a warm fit here is over in a fraction of a second
    # (the first fit of each architecture in a worker compiles its programs first).
    for victim in list(client.run(os.getpid).values())[:n_killed]:
        os.kill(victim, signal.SIGKILL)
    thread.join(timeout=400)
    outcome["hung"] = thread.is_alive()
    return outcome


@pytest.mark.long  # ~80 s: killed workers are restarted and import TensorFlow again
def test_a_worker_killed_mid_search_fails_promptly_or_is_recovered(housing_sample):
    """SIGKILL workers while fits run.

    Plain ``joblib.parallel_config(backend="dask")``, one of two workers killed: joblib put
    the fold indices on one worker, so the search fails at once with Dask's
    FutureCancelledError (or finishes, if the dead worker held nothing it needed).
    ``skann.search.fit_with_dask``, both workers killed (so the data is surely lost): it
    reruns the search once the nannies have restarted the workers and gives the local run's
    results. Neither may hang."""
    from distributed.client import FutureCancelledError

    from skann.search import fit_with_dask

    X, y = housing_sample
    X, y = X[:1000], y[:1000]
    reg = HousingMLPRegressor(n_hidden=2, n_neurons=32, epochs=40, early_stopping=False, random_state=0)
    grid = {"learning_rate": [1e-3, 1e-2]}
    with LocalCluster(n_workers=2, threads_per_worker=1, processes=True, host="127.0.0.1",
                      dashboard_address=":0") as cluster, Client(cluster) as client:
        client.run(tf_threads_probe())  # workers have imported TensorFlow: fits start at once
        plain = _search_killing_workers(client, lambda: _search(reg, grid, X, y, backend="dask"), 1)
        assert not plain["hung"], "the search hung after a worker was killed"
        if "error" in plain:
            assert isinstance(plain["error"], FutureCancelledError), repr(plain["error"])
        client.wait_for_workers(2, timeout=120)
        with pytest.warns(RuntimeWarning, match="Dask worker was lost"):
            resilient = _search_killing_workers(
                client, lambda: fit_with_dask(GridSearchCV(reg, grid, cv=2), X, y, client=client), 2
            )
        assert not resilient["hung"], "the search hung after a worker was killed"
        assert "error" not in resilient, repr(resilient.get("error"))
    local = _search(reg, grid, X, y)
    _assert_same_search(resilient["search"], local)
    if "search" in plain:
        _assert_same_search(plain["search"], local)


def test_fit_with_dask_needs_a_client(housing_sample):
    from skann.search import fit_with_dask

    X, y = housing_sample
    with pytest.raises(ValueError, match="No Dask client"):
        fit_with_dask(GridSearchCV(HousingMLPRegressor(), {"epochs": [1]}), X[:50], y[:50])


def _hyperband(X, y, **kw):
    from scipy.stats import loguniform

    from skann.search import HyperbandSearchCV

    reg = HousingMLPRegressor(n_hidden=1, n_neurons=16, early_stopping=False, random_state=0)
    return HyperbandSearchCV(reg, {"learning_rate": loguniform(1e-3, 3e-2)}, max_epochs=4, factor=2, n_brackets=1,
                             cv=2, random_state=0, refit=False, **kw)


def _assert_same_hyperband(dask_search, local_search):
    assert dask_search.cv_results_["params"] == local_search.cv_results_["params"]
    np.testing.assert_allclose(dask_search.cv_results_["mean_test_score"], local_search.cv_results_["mean_test_score"],
                               rtol=1e-6)
    assert dask_search.total_epochs_ == local_search.total_epochs_


@uses_cluster
def test_hyperband_on_a_local_cluster_equals_the_local_search(cluster, housing_sample):
    X, y = housing_sample
    X, y = X[:400], y[:400]
    with Client(cluster) as client, joblib.parallel_config(backend="dask", client=client):
        on_dask = _hyperband(X, y).fit(X, y)
    _assert_same_hyperband(on_dask, _hyperband(X, y).fit(X, y))


@pytest.mark.long  # ~60 s: a killed worker is restarted and imports TensorFlow again
def test_hyperband_survives_a_worker_killed_mid_search(housing_sample):
    """SIGKILL one of two workers while a rung trains: HyperbandSearchCV reruns only the
    unfinished trainings of that wave (a RuntimeWarning says so) and ends with the local run's
    results."""
    X, y = housing_sample
    X, y = X[:1000], y[:1000]
    with LocalCluster(n_workers=2, threads_per_worker=1, processes=True, host="127.0.0.1",
                      dashboard_address=":0") as cluster, Client(cluster) as client:
        client.run(tf_threads_probe())

        def fit():
            with joblib.parallel_config(backend="dask", client=client):
                return _hyperband(X, y, max_retries=3).fit(X, y)

        with pytest.warns(RuntimeWarning, match="worker was lost"):
            outcome = _search_killing_workers(client, fit, 1)
    assert not outcome["hung"], "the search hung after a worker was killed"
    assert "error" not in outcome, repr(outcome.get("error"))
    _assert_same_hyperband(outcome["search"], _hyperband(X, y).fit(X, y))
