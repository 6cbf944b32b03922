"""Parallel hyperparameter search on one machine: n_jobs=2 vs n_jobs=1 (joblib's loky).

A 4-candidate x 3-fold GridSearchCV of HousingMLPRegressor on 12,000 California housing
rows (20 epochs per fit, refit=False so that only the parallel part is timed). Runs
alternate between n_jobs=1 and n_jobs=2. The first n_jobs=2 run starts the worker processes
(each imports TensorFlow); later runs reuse them, as a notebook session does. Each worker
limits TensorFlow to cpu_count // n_jobs threads, so the workers do not oversubscribe the CPU.
The scores of both runs are compared.

    SKANN_DATA=../shared/data python -m benchmarks.search_parallel --repeats 3
"""

from __future__ import annotations

import os
import time

import numpy as np
from sklearn.model_selection import GridSearchCV

import skann  # noqa: F401
from benchmarks.harness import cli, markdown_table
from skann import HousingMLPRegressor
from skann.datasets import load_california_housing

GRID = {"learning_rate": [3e-4, 1e-3, 3e-3, 1e-2]}


def _search(n_jobs: int, X, y, epochs: int):
    est = HousingMLPRegressor(epochs=epochs, early_stopping=False, random_state=0)
    search = GridSearchCV(est, GRID, cv=3, n_jobs=n_jobs, refit=False)
    start = time.perf_counter()
    search.fit(X, y)
    return time.perf_counter() - start, search.cv_results_["mean_test_score"]


def run(repeats: int = 3, epochs: int = 20, n_rows: int = 12000) -> str:
    X, y = load_california_housing(return_X_y=True)
    X, y = X[:n_rows], y[:n_rows]
    times: dict[int, list[float]] = {1: [], 2: []}
    scores: dict[int, np.ndarray] = {}
    for repeat in range(repeats):
        for n_jobs in (1, 2):
            seconds, scores[n_jobs] = _search(n_jobs, X, y, epochs)
            times[n_jobs].append(seconds)
            print(f"  [{repeat + 1}/{repeats}] n_jobs={n_jobs}: {seconds:.1f} s", flush=True)
    diff = float(np.max(np.abs(scores[2] - scores[1]) / np.abs(scores[1])))
    warm1, warm2 = np.median(times[1][1:] or times[1]), np.median(times[2][1:] or times[2])
    rows = [
        ["n_jobs=1", f"{times[1][0]:.1f} s", f"{warm1:.1f} s", "1.00x (reference)"],
        ["n_jobs=2", f"{times[2][0]:.1f} s (starts the workers)", f"{warm2:.1f} s",
         f"{warm1 / warm2:.2f}x (first run {times[1][0] / times[2][0]:.2f}x)"],
    ]
    return (
        f"4 candidates x 3 folds, HousingMLPRegressor, {n_rows:,} rows, {epochs} epochs per fit, "
        f"{os.cpu_count()} cores; {repeats} alternating repeats. Largest relative difference "
        f"between the two runs' mean CV scores: {diff:.1e}.\n\n"
        + markdown_table(["", "first run", "median of later runs", "speed-up"], rows)
    )


if __name__ == "__main__":
    cli(run, __doc__, repeats=3, epochs=20)
