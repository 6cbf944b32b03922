"""Search quality on Fashion-MNIST: skann's HyperbandSearchCV against Keras Tuner and scikit-learn.

Three parts, all in one run on the book's split (55,000 training images, the 5,000 validation
images as the single holdout, 10,000 test images) and the book's search space (``n_hidden``
0-3, ``n_neurons`` 1-100, ``learning_rate`` log-uniform 3e-4 to 3e-2, SGD or Adam):

1. ``quality``: every method gets the same wall-clock budget: Keras Tuner's ``Hyperband`` runs
   to its end first and its time is the budget of the others (skann ``HyperbandSearchCV`` with
   the random and the TPE sampler, Keras Tuner ``RandomSearch`` and ``BayesianOptimization``,
   scikit-learn ``HalvingRandomSearchCV`` and ``RandomizedSearchCV`` over skann's estimator).
   A method still running at the deadline has its next trainings refused (a callback raises
   at the start of training: the search scores them as failed and goes on). The best
   validation accuracy reached is recorded against wall time after every trial (anytime
   curve); each method's best candidate is then refitted the same way (skann's estimator,
   ``max_epochs`` epochs, on all 60,000 training images) and scored on the test set.
2. ``halving``: the same candidates (drawn by skann) through one bracket of skann's search and
   through scikit-learn's ``HalvingGridSearchCV`` (retraining every survivor from scratch).
3. ``parallel``: one bracket with ``n_jobs=1`` and with ``n_jobs=2``.

    SKANN_DATA=../shared/data python -m benchmarks.search_quality --max-epochs 10 \\
        --plot docs/img/search_quality.png

Needs ``pip install 'skann[bench,optuna,plot]'`` (keras-tuner is a benchmark-only dependency).
"""

from __future__ import annotations

import argparse
import json
import os
import tempfile
import time
import warnings

import numpy as np

import skann  # noqa: F401  (first: quiet TensorFlow import)
import keras
from benchmarks.harness import load_fashion, machine_description, markdown_table
from skann import FashionMLPClassifier
from skann.builders import build_classification_mlp
from skann.search import HyperbandSearchCV, search_space

SEED = 42


class BudgetSpent(RuntimeError):
    pass


class Deadline:
    deadline = float("inf")


class BudgetedFashionMLP(FashionMLPClassifier):
    """skann's Fashion MLP refusing to train once the budget is spent (the search records a
    failed fit and goes on; a wave where all fail ends the search)."""

    def fit(self, X, y, sample_weight=None, **kwargs):
        if time.perf_counter() > Deadline.deadline:
            raise BudgetSpent("the wall-clock budget is spent")
        return super().fit(X, y, sample_weight, **kwargs)


class Curve:
    """Best validation accuracy reached, against seconds since the method started; every
    evaluation's parameters and epochs, to pick the candidate to refit."""

    def __init__(self):
        self.start = time.perf_counter()
        self.points: list[tuple[float, float]] = []
        self.evaluations: list[tuple[float, int, dict]] = []

    def add(self, score: float) -> None:
        if np.isfinite(score):
            best = max([score] + [s for _, s in self.points[-1:]])
            self.points.append((time.perf_counter() - self.start, best))

    def scorer(self):
        def accuracy(estimator, X, y):
            score = float(np.mean(estimator.predict(X) == y))
            self.add(score)
            params = {k: estimator.get_params()[k] for k in ("n_hidden", "n_neurons", "learning_rate", "optimizer")}
            self.evaluations.append((score, estimator.current_epoch, _plain(params)))
            return score

        return accuracy

    def best_full(self, max_epochs: int) -> dict:
        """The best candidate among full trainings (else among all evaluations)."""
        full = [e for e in self.evaluations if e[1] >= max_epochs] or self.evaluations
        return max(full, key=lambda e: e[0])[2]

    def time_to(self, target: float) -> float:
        return next((t for t, s in self.points if s >= target - 1e-12), float("nan"))

    @property
    def final(self) -> float:
        return self.points[-1][1] if self.points else float("nan")


def estimator(max_epochs: int, **params) -> FashionMLPClassifier:
    return BudgetedFashionMLP(epochs=max_epochs, early_stopping=False, random_state=SEED, **params)


def _until_budget(search, X, y) -> None:
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        try:
            search.fit(X, y)
        except ValueError as exc:  # every fit of a wave refused: the budget is spent
            if "fits failed" not in str(exc):
                raise


def space():
    return search_space(FashionMLPClassifier(), batch_size=False)


# ---------------------------------------------------------------------- the methods
def run_skann(sampler, data, max_epochs, factor, budget):
    X, y, cv = data["X_search"], data["y_search"], data["cv"]
    curve = Curve()
    search = HyperbandSearchCV(estimator(max_epochs), space(), max_epochs=max_epochs, factor=factor,
                               hyperband_iterations=20, sampler=sampler, cv=cv, scoring=curve.scorer(),
                               refit=False, random_state=SEED)
    Deadline.deadline = curve.start + budget
    _until_budget(search, X, y)
    return curve, curve.best_full(max_epochs), {"trials": len(curve.evaluations)}


def run_sklearn(kind, data, max_epochs, factor, budget):
    from sklearn.experimental import enable_halving_search_cv  # noqa: F401
    from sklearn.model_selection import HalvingRandomSearchCV, RandomizedSearchCV

    X, y, cv = data["X_search"], data["y_search"], data["cv"]
    curve = Curve()
    if kind == "halving":
        search = HalvingRandomSearchCV(estimator(max_epochs), space(), factor=factor, resource="epochs",
                                       min_resources=1, max_resources=max_epochs, cv=cv, scoring=curve.scorer(),
                                       refit=False, random_state=SEED, return_train_score=False)
    else:
        search = RandomizedSearchCV(estimator(max_epochs), space(), n_iter=500, cv=cv, scoring=curve.scorer(),
                                    refit=False, random_state=SEED)
    Deadline.deadline = curve.start + budget
    _until_budget(search, X, y)
    return curve, curve.best_full(max_epochs), {"trials": len(curve.evaluations)}


def run_keras_tuner(kind, data, max_epochs, factor, budget):
    import keras_tuner as kt

    curve = Curve()

    def build(hp):
        model = build_classification_mlp(
            (28, 28), 10, n_hidden=hp.Int("n_hidden", 0, 3), n_neurons=hp.Int("n_neurons", 1, 100)
        )
        optimizer = keras.optimizers.get({"class_name": hp.Choice("optimizer", ["sgd", "adam"]),
                                          "config": {"learning_rate": hp.Float("learning_rate", 3e-4, 3e-2,
                                                                               sampling="log")}})
        model.compile(loss="sparse_categorical_crossentropy", optimizer=optimizer, metrics=["accuracy"])
        return model

    class Recording:
        def run_trial(self, trial, *args, **kwargs):
            if time.perf_counter() > Deadline.deadline:
                raise kt.errors.FatalError("the wall-clock budget is spent")
            return super().run_trial(trial, *args, **kwargs)

        def on_trial_end(self, trial):
            super().on_trial_end(trial)
            if trial.score is not None:
                curve.add(float(trial.score))

    base = {"hyperband": kt.Hyperband, "random": kt.RandomSearch, "bayesian": kt.BayesianOptimization}[kind]
    tuner_class = type(f"Recording{base.__name__}", (Recording, base), {})
    settings = {"max_epochs": max_epochs, "factor": factor} if kind == "hyperband" else {"max_trials": 500}
    with tempfile.TemporaryDirectory() as folder:
        tuner = tuner_class(build, objective="val_accuracy", seed=SEED, directory=folder, project_name=kind,
                            overwrite=True, **settings)
        Deadline.deadline = curve.start + budget
        fit_args = {} if kind == "hyperband" else {"epochs": max_epochs}
        try:
            tuner.search(data["X_train"] / np.float32(255), data["y_train"], verbose=0,
                         validation_data=(data["X_valid"] / np.float32(255), data["y_valid"]), **fit_args)
        except kt.errors.FatalError:
            pass
        best = tuner.get_best_hyperparameters(1)[0].values
        trials = len(tuner.oracle.trials)
    return curve, {k: best[k] for k in ("n_hidden", "n_neurons", "learning_rate", "optimizer")}, {"trials": trials}


def _plain(params: dict, drop=()) -> dict:
    return {k: (v.item() if isinstance(v, np.generic) else v) for k, v in params.items() if k not in drop}


def refit_and_test(params: dict, data, max_epochs: int) -> float:
    Deadline.deadline = float("inf")
    est = FashionMLPClassifier(epochs=max_epochs, early_stopping=False, random_state=SEED, **params)
    est.fit(data["X_search"], data["y_search"])
    return float(est.score(data["X_test"], data["y_test"]))


# ---------------------------------------------------------------------- the parts
def quality(data, max_epochs, factor, budget_cap, budget_fraction, reference, plot, only=None):
    methods = {
        "Keras Tuner Hyperband": lambda b: run_keras_tuner("hyperband", data, max_epochs, factor, b),
        "skann Hyperband (random)": lambda b: run_skann("random", data, max_epochs, factor, b),
        "skann Hyperband (TPE)": lambda b: run_skann("tpe", data, max_epochs, factor, b),
        "sklearn HalvingRandomSearchCV": lambda b: run_sklearn("halving", data, max_epochs, factor, b),
        "sklearn RandomizedSearchCV": lambda b: run_sklearn("random", data, max_epochs, factor, b),
        "Keras Tuner RandomSearch": lambda b: run_keras_tuner("random", data, max_epochs, factor, b),
        "Keras Tuner BayesianOptimization": lambda b: run_keras_tuner("bayesian", data, max_epochs, factor, b),
    }
    budget = budget_cap
    outcomes = {}
    if reference:  # Keras Tuner Hyperband measured in an earlier run: "seconds,best,test,trials"
        seconds, best_val, test, trials = (float(v) for v in reference.split(","))
        outcomes["Keras Tuner Hyperband"] = {"curve": [(seconds, best_val)], "seconds": seconds, "best": None,
                                             "test": test, "final": best_val, "trials": int(trials),
                                             "reference": True}
        methods.pop("Keras Tuner Hyperband")
        budget = min(budget_cap, budget_fraction * seconds)
    if only:
        methods = {name: run for name, run in methods.items() if name in only}
    for name, run in methods.items():
        start = time.perf_counter()
        curve, best, extra = run(budget)
        seconds = time.perf_counter() - start
        if name == "Keras Tuner Hyperband":
            budget = min(budget_cap, budget_fraction * seconds)  # a share of Keras Tuner's own time
        test = refit_and_test(best, data, max_epochs)
        outcomes[name] = {"curve": curve.points, "seconds": seconds, "best": best, "test": test,
                          "final": curve.final, **extra}
        print(f"  {name}: {seconds:.0f} s, best val {curve.final:.4f}, test {test:.4f}, {extra}", flush=True)
        with open(os.path.join(tempfile.gettempdir(), "skann_search_quality.json"), "w") as f:
            json.dump({"budget": budget, "outcomes": outcomes}, f, default=str)
    return summary(outcomes, budget, budget_fraction, max_epochs, factor, plot)


def summary(outcomes, budget, budget_fraction, max_epochs, factor, plot):
    kt_final = outcomes["Keras Tuner Hyperband"]["final"]
    kt_seconds = outcomes["Keras Tuner Hyperband"]["seconds"]
    rows = []
    for name, o in outcomes.items():
        c = Curve()
        c.points = [tuple(p) for p in o["curve"]]
        reach = c.time_to(kt_final)
        rows.append([name, str(o["trials"]), f"{o['final']:.4f}", f"{o['test']:.4f}",
                     "-" if np.isnan(reach) else f"{reach:.0f} s ({reach / kt_seconds:.2f}x)", f"{o['seconds']:.0f} s"])
    if plot:
        _plot(outcomes, budget, kt_seconds, kt_final, plot)
    return (
        f"Budget: {budget:.0f} s per method ({budget_fraction:g} x Keras Tuner Hyperband's full run of "
        f"{kt_seconds:.0f} s), max_epochs={max_epochs}, "
        f"factor={factor}. Keras Tuner Hyperband's final best validation accuracy: {kt_final:.4f}.\n\n"
        + markdown_table(["method", "trials", "best val acc", "test acc (refit)",
                          "time to reach KT Hyperband's best", "wall time"], rows)
    )


def _plot(outcomes, budget, kt_seconds, kt_final, path):
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    fig, ax = plt.subplots(figsize=(8, 5))
    ax.axhline(kt_final, color="0.4", linewidth=1, linestyle=":")
    ax.plot([kt_seconds], [kt_final], "o", color="0.2",
            label=f"Keras Tuner Hyperband, end of its run ({kt_final:.4f})")
    ax.axvline(0.5 * kt_seconds, color="0.6", linewidth=1, linestyle=":")
    for name, o in outcomes.items():
        if o["curve"] and not o.get("reference"):
            t, s = zip(*o["curve"])
            ax.step(t + (budget,), s + (s[-1],), where="post", label=name,
                    linestyle="-" if name.startswith("skann") else "--")
    ax.set_xlim(0, max(kt_seconds, budget) * 1.05)
    ax.set_xlabel("wall time (s)")
    ax.set_ylabel("best validation accuracy so far")
    ax.set_ylim(0.75, None)
    ax.grid(True, alpha=0.3)
    ax.legend(fontsize=8, loc="lower right")
    ax.set_title("Fashion-MNIST search, same wall-clock budget")
    fig.tight_layout()
    fig.savefig(path, dpi=110)


def halving(data, max_epochs, factor):
    from sklearn.experimental import enable_halving_search_cv  # noqa: F401
    from sklearn.model_selection import HalvingGridSearchCV

    X, y, cv = data["X_search"], data["y_search"], data["cv"]
    Deadline.deadline = float("inf")
    est = FashionMLPClassifier(epochs=max_epochs, early_stopping=False, random_state=SEED)
    start = time.perf_counter()
    ours = HyperbandSearchCV(est, space(), max_epochs=max_epochs, factor=factor, n_brackets=1, cv=cv, refit=False,
                             random_state=SEED).fit(X, y)
    ours_seconds = time.perf_counter() - start
    first = ours.cv_results_["n_epochs"] == ours.cv_results_["n_epochs"].min()
    grid = [{k: [v] for k, v in _plain(p, ("epochs",)).items()} for p in np.asarray(ours.cv_results_["params"])[first]]
    start = time.perf_counter()
    theirs = HalvingGridSearchCV(est, grid, factor=factor, resource="epochs", min_resources=ours.brackets_[0][0].epochs,
                                 max_resources=max_epochs, cv=cv, refit=False).fit(X, y)
    theirs_seconds = time.perf_counter() - start
    same = _plain(ours.best_params_, ("epochs",)) == _plain(theirs.best_params_, ("epochs",))
    rows = [
        ["skann HyperbandSearchCV, one bracket", " / ".join(f"{r.n_candidates}x{r.epochs}" for r in ours.brackets_[0]),
         str(ours.total_epochs_), f"{ours_seconds:.0f} s", f"{ours_seconds / theirs_seconds:.2f}x"],
        ["sklearn HalvingGridSearchCV", " / ".join(f"{n}x{r}" for n, r in zip(theirs.n_candidates_, theirs.n_resources_)),
         str(sum(n * r for n, r in zip(theirs.n_candidates_, theirs.n_resources_))), f"{theirs_seconds:.0f} s", "1.00x"],
    ]
    return (
        f"The same {int(first.sum())} candidates, factor={factor}, max_epochs={max_epochs}; same best candidate: "
        f"{same} (skann {ours.best_params_}, scikit-learn {theirs.best_params_}); best validation accuracy "
        f"{ours.best_score_:.4f} vs {theirs.best_score_:.4f}.\n\n"
        + markdown_table(["search", "rungs (candidates x epochs)", "epochs trained", "wall time", "ratio"], rows)
    )


def parallel(data, max_epochs, factor, n_brackets=None):
    """The whole Hyperband (all brackets) by default: its waves hold several brackets' rungs."""
    X, y, cv = data["X_search"], data["y_search"], data["cv"]
    Deadline.deadline = float("inf")
    est = FashionMLPClassifier(epochs=max_epochs, early_stopping=False, random_state=SEED)
    times, results = {}, {}
    # Warm the loky workers first (each imports TensorFlow), as a session that searched before.
    HyperbandSearchCV(est, space(), max_epochs=1, n_brackets=1, cv=2, refit=False, n_jobs=2,
                      random_state=SEED).fit(X[:2000], y[:2000])
    for n_jobs in (1, 2):
        start = time.perf_counter()
        search = HyperbandSearchCV(est, space(), max_epochs=max_epochs, factor=factor, n_brackets=n_brackets, cv=cv,
                                   refit=False, n_jobs=n_jobs, random_state=SEED).fit(X, y)
        times[n_jobs] = time.perf_counter() - start
        results[n_jobs] = search.cv_results_["mean_test_score"]
    same = np.allclose(results[1], results[2], rtol=1e-5)
    brackets = "all brackets" if n_brackets is None else f"{n_brackets} bracket(s)"
    return f"HyperbandSearchCV, {brackets}, max_epochs={max_epochs}, factor={factor}, the holdout split.\n\n" + markdown_table(
        ["n_jobs", "wall time", "speed-up", "same scores (rtol 1e-5)"],
        [["1", f"{times[1]:.0f} s", "1.00x", ""], ["2", f"{times[2]:.0f} s", f"{times[1] / times[2]:.2f}x", str(same)]],
    )


def main():
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--parts", default="quality,halving,parallel")
    parser.add_argument("--max-epochs", type=int, default=10)
    parser.add_argument("--factor", type=int, default=3)
    parser.add_argument("--halving-max-epochs", type=int, default=16)
    parser.add_argument("--halving-factor", type=int, default=2)
    parser.add_argument("--budget-cap", type=float, default=1800.0, help="seconds at most per method")
    parser.add_argument("--budget-fraction", type=float, default=1.0,
                        help="the others' budget as a share of Keras Tuner Hyperband's time")
    parser.add_argument("--reference", default=None,
                        help="Keras Tuner Hyperband from an earlier run: 'seconds,best_val,test_acc,trials'")
    parser.add_argument("--n-train", type=int, default=None, help="fewer training images (a quick check)")
    parser.add_argument("--plot", default=None)
    parser.add_argument("--only", default=None, help="comma-separated method names to run")
    parser.add_argument("--merge", default=None,
                        help="comma-separated result files of earlier runs: print their summary (later ones win)")
    args = parser.parse_args()
    X_train, y_train, X_valid, y_valid, X_test, y_test = load_fashion(args.n_train)
    if args.n_train:
        X_valid, y_valid = X_valid[: args.n_train // 10], y_valid[: args.n_train // 10]
    from sklearn.model_selection import PredefinedSplit

    data = {
        "X_train": X_train, "y_train": y_train, "X_valid": X_valid, "y_valid": y_valid,
        "X_test": X_test, "y_test": y_test,
        "X_search": np.concatenate([X_train, X_valid]), "y_search": np.concatenate([y_train, y_valid]),
        "cv": PredefinedSplit(np.r_[np.full(len(X_train), -1), np.zeros(len(X_valid), int)]),
    }
    if args.merge:
        outcomes, budget = {}, None
        for path in args.merge.split(","):
            with open(path) as f:
                saved = json.load(f)
            outcomes.update(saved.get("outcomes", saved))
            budget = saved.get("budget", budget)
        order = ["Keras Tuner Hyperband", "skann Hyperband (random)", "skann Hyperband (TPE)",
                 "sklearn HalvingRandomSearchCV", "sklearn RandomizedSearchCV", "Keras Tuner RandomSearch",
                 "Keras Tuner BayesianOptimization"]
        outcomes = {name: outcomes[name] for name in order if name in outcomes}
        if budget is None:
            budget = args.budget_fraction * outcomes["Keras Tuner Hyperband"]["seconds"]
        print(summary(outcomes, budget, args.budget_fraction, args.max_epochs, args.factor, args.plot))
        return
    print(machine_description() + "\n", flush=True)
    parts = args.parts.split(",")
    if "halving" in parts:
        print(halving(data, args.halving_max_epochs, args.halving_factor) + "\n", flush=True)
    if "parallel" in parts:
        print(parallel(data, 9, 3) + "\n", flush=True)
    if "quality" in parts:
        print(quality(data, args.max_epochs, args.factor, args.budget_cap, args.budget_fraction, args.reference,
                      args.plot, args.only and args.only.split(",")) + "\n", flush=True)


if __name__ == "__main__":
    main()
