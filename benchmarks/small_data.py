"""The everyday job on small data: a grid search of a small MLP, skann against scikit-learn's MLP.

``GridSearchCV`` over 4 learning rates x 5 folds (plus the refit), 50 epochs of a (32, 16) ReLU
MLP with Adam and batch size 32, each behind a ``StandardScaler``: skann's ``KerasClassifier``
against ``MLPClassifier`` with the same sizes and settings (its early stopping off, its
tolerance at 0 so that both train every epoch). Each Keras backend runs in its own process (a
process has one Keras backend); inside it the two competitors alternate, repeat after repeat.
skann's compiled programs are dropped before each of its repeats (``cold``: what one search in
a new script pays, compilation included); ``warm`` runs the same search again with them kept.
On JAX, ``disk`` is one search in a new process with ``SKANN_COMPILATION_CACHE`` holding what an
earlier process compiled (a second run of a script): two fresh processes per repeat, the first
fills a new folder, the second is timed (its search only, not its imports).

Also: a warm 1-epoch fit, a 1-row prediction, and the best CV accuracy of both.

    python -m benchmarks.small_data --repeats 3 [--backends jax,tensorflow] [--datasets breast_cancer,digits,wine]
"""

from __future__ import annotations

import argparse
import json
import os
import statistics
import subprocess
import sys
import tempfile
import time
import warnings

import numpy as np

from benchmarks.harness import clear_compiled

GRID = {"learning_rate": [3e-4, 1e-3, 3e-3, 1e-2]}
EPOCHS, BATCH, HIDDEN, FOLDS = 50, 32, (32, 16), 5


def _data(name: str):
    from sklearn import datasets

    X, y = getattr(datasets, f"load_{name}")(return_X_y=True)
    return X.astype("float32"), y


def build(meta, width=1.0):
    """The (32, 16) ReLU MLP (``width`` scales its layers)."""
    import keras

    return keras.Sequential(
        [keras.Input((meta["n_features_in_"],))]
        + [keras.layers.Dense(int(n * width), activation="relu") for n in HIDDEN]
        + [keras.layers.Dense(meta["n_classes_"], activation="softmax")]
    )


def _skann_pipeline():
    from sklearn.pipeline import make_pipeline
    from sklearn.preprocessing import StandardScaler

    from skann import KerasClassifier

    clf = KerasClassifier(
        build, loss="sparse_categorical_crossentropy", optimizer="adam", optimizer__learning_rate=1e-3,
        epochs=EPOCHS, batch_size=BATCH, random_state=0,
    )
    return make_pipeline(StandardScaler(), clf), {"kerasclassifier__optimizer__learning_rate": GRID["learning_rate"]}


def _sklearn_pipeline():
    from sklearn.neural_network import MLPClassifier
    from sklearn.pipeline import make_pipeline
    from sklearn.preprocessing import StandardScaler

    clf = MLPClassifier(
        HIDDEN, solver="adam", batch_size=BATCH, max_iter=EPOCHS, early_stopping=False, tol=0.0,
        n_iter_no_change=EPOCHS + 1, random_state=0,
    )
    return make_pipeline(StandardScaler(), clf), {"mlpclassifier__learning_rate_init": GRID["learning_rate"]}


def _search(make, X, y):
    from sklearn.model_selection import GridSearchCV

    pipe, grid = make()
    start = time.perf_counter()
    search = GridSearchCV(pipe, grid, cv=FOLDS).fit(X, y)
    return time.perf_counter() - start, search


def hyperband_against_the_same_candidates(name: str, max_epochs: int = 27, factor: int = 3) -> dict:
    """One Hyperband bracket (survivors continue training) against training the same
    candidates for ``max_epochs`` each (what a random search over them trains), 3-fold CV;
    both with nothing compiled before them (``cold``), then both again (``warm``)."""
    from sklearn.model_selection import GridSearchCV

    from skann.search import HyperbandSearchCV

    X, y = _data(name)
    space = {
        "kerasclassifier__optimizer__learning_rate": [3e-4, 1e-3, 3e-3, 1e-2, 3e-2],
        "kerasclassifier__model__width": [0.5, 1.0, 2.0],
    }

    def hyperband():
        pipe, _ = _skann_pipeline()
        return HyperbandSearchCV(pipe, space, max_epochs=max_epochs, factor=factor, n_brackets=1, cv=3,
                                 refit=False, random_state=0).fit(X, y)

    ours = hyperband()
    first = ours.cv_results_["n_epochs"] == ours.cv_results_["n_epochs"].min()
    candidates = [
        {k: [v] for k, v in p.items() if not k.endswith("epochs")} for p in np.asarray(ours.cv_results_["params"])[first]
    ]

    def every_candidate():
        pipe, _ = _skann_pipeline()
        pipe.set_params(kerasclassifier__epochs=max_epochs)
        return GridSearchCV(pipe, candidates, cv=3, refit=False).fit(X, y)

    out = {"candidates": len(candidates), "epochs_hyperband": int(ours.total_epochs_),
           "epochs_every": len(candidates) * 3 * max_epochs}
    for kind in ("cold", "warm"):
        for label, run in (("hyperband", hyperband), ("every candidate", every_candidate)):
            if kind == "cold":
                clear_compiled()
            seconds, search = _timed_search(run)
            out[f"{label} {kind}"] = seconds
            out[f"best {label}"] = float(search.best_score_)
    return out


def _timed_search(run):
    start = time.perf_counter()
    search = run()
    return time.perf_counter() - start, search


def _search_in_a_new_process(name: str, folder: str) -> float:
    """Seconds of one skann search in a fresh process with ``SKANN_COMPILATION_CACHE=folder``."""
    env = {**os.environ, "SKANN_COMPILATION_CACHE": folder}
    proc = subprocess.run(
        [sys.executable, "-m", "benchmarks.small_data", "--one-search", name], capture_output=True, text=True, env=env,
        cwd=os.path.dirname(os.path.dirname(os.path.abspath(__file__))), check=True,
    )
    return float(proc.stdout.strip().splitlines()[-1])


def one_search(name: str) -> float:
    """Seconds of one skann search (what ``--one-search`` prints)."""
    from sklearn.exceptions import ConvergenceWarning

    warnings.simplefilter("ignore", ConvergenceWarning)
    X, y = _data(name)
    seconds, _ = _search(_skann_pipeline, X, y)
    return seconds


def worker(datasets: list[str], repeats: int) -> dict:
    """Run in one process, on the backend of its environment: the measurements as a dict."""
    import keras
    from sklearn.exceptions import ConvergenceWarning

    warnings.simplefilter("ignore", ConvergenceWarning)
    out = {"backend": keras.backend.backend(), "datasets": {}}
    for name in datasets:
        X, y = _data(name)
        times = {"sklearn": [], "skann cold": [], "skann warm": []}
        if keras.backend.backend() == "jax":
            times["skann disk"] = []
        for _ in range(repeats):
            seconds, sk = _search(_sklearn_pipeline, X, y)
            times["sklearn"].append(seconds)
            clear_compiled()
            seconds, ours = _search(_skann_pipeline, X, y)
            times["skann cold"].append(seconds)
            seconds, ours = _search(_skann_pipeline, X, y)
            times["skann warm"].append(seconds)
            if "skann disk" in times:
                with tempfile.TemporaryDirectory() as folder:
                    _search_in_a_new_process(name, folder)
                    times["skann disk"].append(_search_in_a_new_process(name, folder))
        # A warm 1-epoch fit, and a 1-row prediction, of the best of each.
        best_ours, best_sk = ours.best_estimator_, sk.best_estimator_
        one_epoch = {"kerasclassifier__epochs": 1}
        best_ours.set_params(**one_epoch)
        best_sk.set_params(mlpclassifier__max_iter=1)
        fit_1, sk_fit_1 = _alternating_medians(lambda: best_ours.fit(X, y), lambda: best_sk.fit(X, y), number=1)
        row = X[:1]
        predict_ours, predict_sk = _alternating_medians(lambda: best_ours.predict(row), lambda: best_sk.predict(row))
        out["datasets"][name] = {
            "rows": int(len(X)),
            "median": {k: statistics.median(v) for k, v in times.items()},
            "times": times,
            "best_cv": {"skann": float(ours.best_score_), "sklearn": float(sk.best_score_)},
            "fit_1_epoch": {"skann": fit_1, "sklearn": sk_fit_1},
            "predict_1_row": {"skann": predict_ours, "sklearn": predict_sk},
        }
    out["hyperband"] = {name: hyperband_against_the_same_candidates(name) for name in datasets}
    return out


def _alternating_medians(ours, theirs, number: int = 200, repeats: int = 7) -> tuple[float, float]:
    """Median seconds per call of each, their repeats alternating (each called once first)."""
    ours(), theirs()
    times: tuple[list, list] = ([], [])
    for _ in range(repeats):
        times[0].append(_time(ours, number))
        times[1].append(_time(theirs, number))
    return statistics.median(times[0]), statistics.median(times[1])


def _time(fn, number: int = 1) -> float:
    start = time.perf_counter()
    for _ in range(number):
        fn()
    return (time.perf_counter() - start) / number


def report(results: list[dict]) -> str:
    from benchmarks.harness import markdown_table

    rows = []
    for res in results:
        for name, d in res["datasets"].items():
            m = d["median"]
            disk = f"{m['skann disk'] / m['sklearn']:.2f}x" if "skann disk" in m else "-"
            rows.append([
                name, d["rows"], res["backend"], f"{m['sklearn']:.2f} s", f"{m['skann cold']:.2f} s",
                f"{m['skann cold'] / m['sklearn']:.2f}x", disk, f"{m['skann warm'] / m['sklearn']:.2f}x",
                f"{d['fit_1_epoch']['skann'] * 1e3:.0f} / {d['fit_1_epoch']['sklearn'] * 1e3:.0f} ms",
                f"{d['predict_1_row']['skann'] * 1e3:.3f} / {d['predict_1_row']['sklearn'] * 1e3:.3f} ms",
                f"{d['best_cv']['skann']:.4f} / {d['best_cv']['sklearn']:.4f}",
            ])
    headers = ["data", "rows", "backend", "MLPClassifier search", "skann search (cold)", "ratio cold",
               "ratio, a later process (disk cache)", "ratio warm", "1-epoch fit skann / sklearn", "1-row predict skann / sklearn", "best CV skann / sklearn"]
    table = markdown_table(headers, rows)
    hb_rows = []
    for res in results:
        for name, hb in res.get("hyperband", {}).items():
            hb_rows.append([
                name, res["backend"], hb["candidates"],
                f"{hb['hyperband cold']:.2f} / {hb['every candidate cold']:.2f} s",
                f"{hb['hyperband cold'] / hb['every candidate cold']:.2f}x",
                f"{hb['hyperband warm'] / hb['every candidate warm']:.2f}x",
                f"{hb['epochs_hyperband']} / {hb['epochs_every']}",
                f"{hb['best hyperband']:.4f} / {hb['best every candidate']:.4f}",
            ])
    hb = markdown_table(
        ["data", "backend", "candidates", "Hyperband / every candidate (cold)", "ratio cold", "ratio warm",
         "epochs trained", "best CV"], hb_rows,
    )
    return table + "\n\nHyperband (max_epochs 27, factor 3, 3-fold CV) against the same candidates:\n\n" + hb


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--repeats", type=int, default=3)
    parser.add_argument("--backends", default="jax,tensorflow")
    parser.add_argument("--datasets", default="breast_cancer,digits,wine")
    parser.add_argument("--worker", action="store_true", help=argparse.SUPPRESS)
    parser.add_argument("--one-search", help=argparse.SUPPRESS)
    parser.add_argument("--json", help="also write the raw results to this file")
    args = parser.parse_args()
    datasets = args.datasets.split(",")
    if args.one_search:
        print(one_search(args.one_search))
        return
    if args.worker:
        print(json.dumps(worker(datasets, args.repeats)))
        return
    from benchmarks.harness import backend_workers, machine_description

    results = backend_workers("benchmarks.small_data", args.backends.split(","), ["--repeats", str(args.repeats), "--datasets", args.datasets], args.json)
    print(machine_description() + "\n")
    print(report(results))


if __name__ == "__main__":
    main()
