"""A cold cross-validated search with the book's regressors: the engine's padding on and off.

``GridSearchCV`` over 2 learning rates x 5 folds (plus the refit) of ``HousingMLPRegressor`` and
``WideDeepRegressor`` (20 epochs, early stopping on a 10% hold-out, as the book trains them) on
the first 2,003 rows of California housing (skann's bundled copy: folds of 1,602 and 1,603 rows,
hold-outs of 160 and 161, a refit on 2,003), against ``MLPRegressor`` with
``HousingMLPRegressor``'s hidden layers (3 x 50) and settings behind a ``StandardScaler`` (its
early stopping on, 10% held out). Every
search is cold: skann's compiled programs (and JAX's caches) are dropped before it.

``padding off`` runs skann's search with the engine's padding of short batches turned off
(``_Programs.padding`` set to None, so validation data is not padded either): each size of an
epoch's last batch and of the hold-out then has a program of its own on JAX, and on TensorFlow
for the Wide & Deep network (two outputs: Keras counts each output's loss by a batch's static
size). On TensorFlow a one-output network's batches have an unknown number of rows in the
trace either way, so there the two agree for ``HousingMLPRegressor``. Each Keras backend runs in
its own process; inside it the competitors alternate, repeat after repeat.

    python -m benchmarks.book_regressors --repeats 3 [--backends jax,tensorflow]
"""

from __future__ import annotations

import argparse
import json
import time
import warnings

from benchmarks.harness import clear_compiled

ROWS, FOLDS, EPOCHS = 2003, 5, 20
GRID = [1e-3, 3e-3]


def _search(estimator, grid: dict, X, y) -> tuple[float, float, int]:
    """Seconds of one search, its best CV score and the programs skann compiled for it."""
    from sklearn.model_selection import GridSearchCV

    from skann.engine import compiled_cache

    start = time.perf_counter()
    search = GridSearchCV(estimator, grid, cv=FOLDS).fit(X, y)
    seconds = time.perf_counter() - start
    programs = sum(len(entry.seen) for entry in compiled_cache._entries.values())
    return seconds, float(search.best_score_), programs


def worker(repeats: int) -> dict:
    import keras
    from sklearn.exceptions import ConvergenceWarning
    from sklearn.neural_network import MLPRegressor
    from sklearn.pipeline import make_pipeline
    from sklearn.preprocessing import StandardScaler

    import skann.engine
    from benchmarks.harness import alternate
    from skann import HousingMLPRegressor, WideDeepRegressor
    from skann.datasets import load_california_housing

    warnings.simplefilter("ignore", ConvergenceWarning)
    X, y = load_california_housing(sample=True, return_X_y=True)
    X, y = X[:ROWS], y[:ROWS]
    settings = dict(epochs=EPOCHS, random_state=0)
    skann_grid = {"learning_rate": GRID}
    estimators = {"housing": HousingMLPRegressor(**settings), "wide & deep": WideDeepRegressor(**settings)}
    sklearn = make_pipeline(StandardScaler(), MLPRegressor(
        hidden_layer_sizes=(50, 50, 50), max_iter=EPOCHS, batch_size=32, early_stopping=True, validation_fraction=0.1,
        n_iter_no_change=10, random_state=0,
    ))
    sklearn_grid = {"mlpregressor__learning_rate_init": GRID}
    padding = skann.engine._Programs.__init__
    extras: dict = {}

    def unpadded_init(self, *args, **kwargs):
        padding(self, *args, **kwargs)
        self.padding, self.pads_evaluation = None, False

    def run(name, estimator, grid, padded=True):
        def once():
            clear_compiled()
            if not padded:
                skann.engine._Programs.__init__ = unpadded_init
            try:
                seconds, score, programs = _search(estimator, grid, X, y)
            finally:
                skann.engine._Programs.__init__ = padding
            extras[name] = {"best_cv": score, "programs": programs}
            return seconds

        return once

    competitors = {"MLPRegressor": run("MLPRegressor", sklearn, sklearn_grid)}
    for label, estimator in estimators.items():
        competitors[f"{label}, padded"] = run(f"{label}, padded", estimator, skann_grid)
        competitors[f"{label}, padding off"] = run(f"{label}, padding off", estimator, skann_grid, padded=False)
    results = alternate(competitors, repeats)
    return {
        "backend": keras.backend.backend(),
        "median": {name: r.median for name, r in results.items()},
        "times": {name: r.times for name, r in results.items()},
        "extras": extras,
    }


def report(results: list[dict]) -> str:
    from benchmarks.harness import markdown_table

    rows = []
    for res in results:
        m, extras = res["median"], res["extras"]
        base = m["MLPRegressor"]
        for name in m:
            if name == "MLPRegressor":
                continue
            rows.append([
                res["backend"], name, f"{m[name]:.2f} s", f"{m[name] / base:.2f}x", extras[name]["programs"],
                f"{extras[name]['best_cv']:.4f}",
            ])
        rows.append([res["backend"], "MLPRegressor", f"{base:.2f} s", "1.00x", "-", f"{extras['MLPRegressor']['best_cv']:.4f}"])
    return markdown_table(["backend", "search", "time (cold)", "vs MLPRegressor", "programs compiled", "best CV R²"], rows)


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--repeats", type=int, default=3)
    parser.add_argument("--backends", default="jax,tensorflow")
    parser.add_argument("--worker", action="store_true", help=argparse.SUPPRESS)
    parser.add_argument("--json", help="also write the raw results to this file")
    args = parser.parse_args()
    if args.worker:
        print(json.dumps(worker(args.repeats)))
        return
    from benchmarks.harness import backend_workers, machine_description

    results = backend_workers("benchmarks.book_regressors", args.backends.split(","), ["--repeats", str(args.repeats)], args.json)
    print(machine_description() + "\n")
    print(report(results))


if __name__ == "__main__":
    main()
