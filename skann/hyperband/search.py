"""HyperbandSearchCV: the search class and one fit's run of waves (see the package's
docstring for the schedule, continued training and resuming)."""

from __future__ import annotations

import skann._backend  # noqa: F401  (first: quiet TensorFlow import, thread limits)
import hashlib
import math
import numbers
import os
import time
import uuid

import joblib
import numpy as np
from sklearn.base import clone, is_classifier
from sklearn.model_selection import check_cv
from sklearn.utils.validation import check_random_state, indexable

from skann._search_space import search_space
from skann._sklearn_compat import (
    BaseSearchCV, HasMethods, Interval, StrOptions, check_method_params, insert_error_scores,
    warn_or_raise_about_fit_failures,
)
from skann._steps import epochs_parameter
from skann._workers import retry_lost_workers
from skann.hyperband.checkpoints import States
from skann.hyperband.hparams import HParamsLog
from skann.hyperband.live import forget_live, runs_in_this_process
from skann.hyperband.samplers import make_sampler
from skann.hyperband.schedule import Bracket, Rung, hyperband_brackets
from skann.hyperband.trial import Task, TrialContext, train_and_score

__all__ = ["HyperbandSearchCV"]


class HyperbandSearchCV(BaseSearchCV):
    """Hyperband over epochs with continued training, cross-validation and checkpoints.

    Hyperband (Li et al., 2018) runs several brackets of successive halving: each bracket
    starts many candidates for a few epochs and lets the best ``1/factor`` continue,
    ``factor`` times longer, up to ``max_epochs``; the brackets trade exploration (many
    candidates, short first rung) against trusting short runs less (few candidates, long
    first rung). A surviving candidate continues training from its own state in every fold
    (weights, optimizer state, epoch count, and the fitted transformers when the estimator is
    a Pipeline), so a candidate that reaches ``max_epochs`` has trained ``max_epochs`` epochs
    per fold in all, not the sum of its rungs.

    A candidate's rung score is the mean over its folds (of the ``refit`` metric when several
    are given); all folds of a candidate advance together. ``best_params_`` is the best among
    the candidates that trained ``max_epochs`` epochs; the refit trains it from scratch on all
    of ``X``.

    Parameters
    ----------
    estimator : skann estimator or Pipeline ending in one
        The search sets its epochs (``epochs``; ``max_iter`` for the perceptron) and, to
        continue a candidate, ``warm_start``. Give it a ``random_state`` for reproducible
        (and exactly resumable) searches. With early stopping on, a rung may end before its
        epochs; the next rung trains on up to its own epoch count.
    param_distributions : dict or list of dicts, default=None
        scipy.stats distributions (anything with ``rvs``) and lists, as for
        ``RandomizedSearchCV``; by default :func:`skann.search.search_space` of the estimator.
        The epochs parameter is the resource and may not be searched.
    max_epochs : int, default=81
        Epochs of a candidate that survives its bracket.
    factor : int, default=3
        Each rung keeps the best ``1/factor`` and trains them ``factor`` times longer.
    min_epochs : int, default=1
        Epochs of the first rung of the most exploratory bracket.
    hyperband_iterations : int, default=1
        How many times to run the whole set of brackets (more candidates, same schedule).
    n_brackets : int, default=None
        Run only the first (most exploratory) ``n_brackets`` brackets; 1 gives one run of
        successive halving. By default all of them.
    sampler : "random", "tpe" or optuna.samplers.BaseSampler, default="random"
        How candidates are drawn. "random" needs nothing more; "tpe" (Optuna's TPE sampler,
        seeded by ``random_state``) or any Optuna sampler learns from every finished rung,
        so later brackets draw from what worked (BOHB-like); needs ``pip install
        'skann[optuna]'``.
    scoring, n_jobs, refit, cv, verbose, pre_dispatch, error_score, return_train_score
        As for ``RandomizedSearchCV``. A multi-metric ``scoring`` needs ``refit`` to name the
        metric the rungs are ranked by. Workers follow joblib's backend:
        ``joblib.parallel_config(backend="dask")`` runs the trials on a Dask cluster.
    random_state : int, RandomState or None, default=None
        Seeds the sampler.
    checkpoint_dir : str or path, default=None
        Keep the search's results and the live candidates' states in this folder, so that a
        search interrupted (Ctrl-C, a killed process) resumes where it stopped when ``fit``
        is called again with the same folder, search and data, and ends with the same result.
        The states are pickles: use a folder only you write to.
    log_dir : str or path, default=None
        TensorBoard logs: every trial's curves under ``candidate_NNNN/fold_K/run_...`` and an
        HParams summary (each candidate's parameters, its last score and epochs), shown in
        TensorBoard's HPARAMS tab. Needs ``pip install 'skann[tensorboard]'``.
    max_retries : int, default=2
        Reruns of a wave after lost workers (a Dask worker or a loky process that died);
        only the wave's unfinished trials run again.

    Attributes
    ----------
    cv_results_ : dict of ndarrays
        One row per candidate and rung (as ``HalvingRandomSearchCV``): the columns of
        ``RandomizedSearchCV`` plus ``candidate``, ``bracket``, ``rung``, ``n_epochs`` (the
        rung's epochs, also in ``params``) and ``epochs_trained`` (mean over folds; lower
        only when early stopping ended the rung early).
    best_estimator_, best_score_, best_params_, best_index_, scorer_, refit_time_, multimetric_, n_splits_
        As for ``RandomizedSearchCV``; the best is chosen among rows with ``max_epochs``.
    brackets_ : list of list of Rung
        The schedule (per Hyperband iteration).
    n_candidates_ : int
        Candidates drawn.
    total_epochs_ : int
        Epochs trained by the search, over all candidates and folds (the refit not counted).
    rungs_ : list of dict
        One entry per finished rung, in order: ``bracket``, ``rung``, ``n_epochs``,
        ``n_candidates``, ``best_score`` (of the rung), ``elapsed`` (seconds since the search
        started; replayed rungs of a resumed search count as 0) and ``total_epochs`` so far.
    seed_ : int
        The seed the sampler used (drawn when ``random_state`` is None; kept in the
        checkpoint).

    Examples
    --------
    >>> from skann import HousingMLPRegressor
    >>> from skann.search import HyperbandSearchCV
    >>> search = HyperbandSearchCV(HousingMLPRegressor(early_stopping=False), max_epochs=9)
    >>> [[(r.n_candidates, r.epochs) for r in b] for b in search.schedule()]
    [[(9, 1), (3, 3), (1, 9)], [(5, 3), (1, 9)], [(3, 9)]]
    """

    _parameter_constraints: dict = {
        **BaseSearchCV._parameter_constraints,
        "param_distributions": [dict, list, None],
        "max_epochs": [Interval(numbers.Integral, 1, None, closed="left")],
        "factor": [Interval(numbers.Integral, 2, None, closed="left")],
        "min_epochs": [Interval(numbers.Integral, 1, None, closed="left")],
        "hyperband_iterations": [Interval(numbers.Integral, 1, None, closed="left")],
        "n_brackets": [Interval(numbers.Integral, 1, None, closed="left"), None],
        "sampler": [StrOptions({"random", "tpe"}), None, HasMethods(["sample_independent"])],
        "random_state": ["random_state"],
        "checkpoint_dir": [str, os.PathLike, None],
        "log_dir": [str, os.PathLike, None],
        "max_retries": [Interval(numbers.Integral, 0, None, closed="left")],
    }

    def __init__(
        self,
        estimator,
        param_distributions=None,
        *,
        max_epochs=81,
        factor=3,
        min_epochs=1,
        hyperband_iterations=1,
        n_brackets=None,
        sampler="random",
        scoring=None,
        n_jobs=None,
        refit=True,
        cv=None,
        verbose=0,
        pre_dispatch="2*n_jobs",
        random_state=None,
        error_score=np.nan,
        return_train_score=False,
        checkpoint_dir=None,
        log_dir=None,
        max_retries=2,
    ):
        super().__init__(
            estimator=estimator,
            scoring=scoring,
            n_jobs=n_jobs,
            refit=refit,
            cv=cv,
            verbose=verbose,
            pre_dispatch=pre_dispatch,
            error_score=error_score,
            return_train_score=return_train_score,
        )
        self.param_distributions = param_distributions
        self.max_epochs = max_epochs
        self.factor = factor
        self.min_epochs = min_epochs
        self.hyperband_iterations = hyperband_iterations
        self.n_brackets = n_brackets
        self.sampler = sampler
        self.random_state = random_state
        self.checkpoint_dir = checkpoint_dir
        self.log_dir = log_dir
        self.max_retries = max_retries

    def schedule(self) -> list[list[Rung]]:
        """The brackets one Hyperband iteration runs (each a list of :class:`Rung`)."""
        if self.min_epochs > self.max_epochs:
            raise ValueError(f"min_epochs ({self.min_epochs}) must not exceed max_epochs ({self.max_epochs}).")
        brackets = hyperband_brackets(self.max_epochs, self.factor, self.min_epochs)
        return brackets[: self.n_brackets] if self.n_brackets else brackets

    def _distributions(self, epochs_name: str):
        distributions = search_space(self.estimator) if self.param_distributions is None else self.param_distributions
        for dists in distributions if isinstance(distributions, (list, tuple)) else [distributions]:
            if epochs_name in dists:
                raise ValueError(
                    f"{epochs_name!r} is the resource HyperbandSearchCV schedules; remove it from "
                    "param_distributions (max_epochs sets the most a candidate trains)."
                )
            for name, dist in dists.items():
                if not hasattr(dist, "rvs") and not (isinstance(dist, (list, tuple)) and len(dist)):
                    raise TypeError(
                        f"param_distributions[{name!r}] must be a scipy.stats distribution or a "
                        f"non-empty list; got {dist!r}."
                    )
        return distributions

    @staticmethod
    def _select_best_index(refit, refit_metric, results):
        """The best among the candidates that trained the full ``max_epochs``."""
        if callable(refit):
            return BaseSearchCV._select_best_index(refit, refit_metric, results)
        full = results["n_epochs"] == results["n_epochs"].max()
        ranks = np.where(full, results[f"rank_test_{refit_metric}"].astype(float), np.inf)
        return int(np.argmin(ranks))

    def _run_search(self, evaluate_candidates):  # pragma: no cover - fit schedules itself
        raise NotImplementedError("HyperbandSearchCV.fit schedules its own trials.")

    def fit(self, X, y=None, **params):
        """Run the search: Hyperband's brackets over epochs, then refit the best.

        Parameters
        ----------
        X, y : training data
        **params
            Passed to the estimator's ``fit`` (sample-aligned ones split with the folds), the
            scorer and the CV splitter, as for ``RandomizedSearchCV``.

        Returns
        -------
        self
        """
        self._validate_params()
        base = clone(self.estimator)
        epochs_name = epochs_parameter(base)  # also checks it is a skann estimator (or Pipeline ending in one)
        if isinstance(self.scoring, (list, tuple, dict)) and not isinstance(self.refit, str):
            raise ValueError(
                "With several metrics, HyperbandSearchCV ranks each rung by one of them: set refit to "
                f"its name (for example refit={next(iter(self.scoring))!r}); got refit={self.refit!r}."
            )
        scorers, refit_metric = self._get_scorers()
        X, y = indexable(X, y)
        params = check_method_params(X, params=params)
        routed = self._get_routed_params_for_fit(params)
        cv = check_cv(self.cv, y, classifier=is_classifier(self.estimator))
        splits = list(cv.split(X, y, **routed.splitter.split))
        self.n_splits_ = len(splits)
        distributions = self._distributions(epochs_name)
        brackets = self.schedule()
        self.brackets_ = brackets

        seed = int(check_random_state(self.random_state).randint(np.iinfo(np.int32).max))
        states = States(None if self.checkpoint_dir is None else os.fspath(self.checkpoint_dir))
        if self.checkpoint_dir is not None:  # hashing the data is only needed to resume
            seed = states.open(self._fingerprint(X, y, splits), seed)
        self.seed_ = seed
        sampler = make_sampler(self.sampler, distributions, seed)
        log_dir = None if self.log_dir is None else os.fspath(self.log_dir)
        run = _Run(self, base, X, y, splits, routed, scorers, refit_metric, states, sampler, epochs_name, log_dir)
        try:
            run.all()
        finally:
            forget_live(run.run_id)

        results = self._format_results(run.candidate_params, self.n_splits_, run.out, run.more_results)
        first = run.out[0]["test_scores"]
        self.multimetric_ = isinstance(first, dict)
        if callable(self.scoring) and self.multimetric_:
            self._check_refit_for_multimetric(first)
            refit_metric = self.refit
        if self.refit or not self.multimetric_:
            self.best_index_ = self._select_best_index(self.refit, refit_metric, results)
            if not callable(self.refit):
                self.best_score_ = results[f"mean_test_{refit_metric}"][self.best_index_]
            self.best_params_ = results["params"][self.best_index_]
        if self.refit:
            self.best_estimator_ = clone(base).set_params(**clone(self.best_params_, safe=False))
            start = time.time()
            if y is not None:
                self.best_estimator_.fit(X, y, **routed.estimator.fit)
            else:
                self.best_estimator_.fit(X, **routed.estimator.fit)
            self.refit_time_ = time.time() - start
            if hasattr(self.best_estimator_, "feature_names_in_"):
                self.feature_names_in_ = self.best_estimator_.feature_names_in_
        self.scorer_ = scorers._scorers if hasattr(scorers, "_scorers") else scorers
        self.cv_results_ = results
        self.n_candidates_ = run.n_candidates
        self.total_epochs_ = run.total_epochs
        self.rungs_ = run.rungs
        return self

    def _fingerprint(self, X, y, splits) -> str:
        """What makes two searches the same for resuming: parameters (but not how they run),
        data and folds."""
        ignore = {"n_jobs", "verbose", "pre_dispatch", "checkpoint_dir", "log_dir", "max_retries"}
        settings = {k: v for k, v in self.get_params(deep=False).items() if k not in ignore}
        digest = joblib.hash((_stable_description(settings), X, y, splits))
        return hashlib.sha256(digest.encode()).hexdigest()


def _stable_description(value):
    """A description of a parameter that is the same in every process: no memory addresses
    (an object's default repr), no global random state (a scipy distribution's pickle)."""
    if isinstance(value, dict):
        return {str(k): _stable_description(v) for k, v in sorted(value.items(), key=lambda kv: str(kv[0]))}
    if isinstance(value, (list, tuple)):
        return [_stable_description(v) for v in value]
    if hasattr(value, "get_params") and not isinstance(value, type):
        return [type(value).__qualname__, _stable_description(value.get_params(deep=False))]
    if hasattr(value, "dist") and hasattr(value, "args"):  # a frozen scipy.stats distribution
        return ["scipy", value.dist.name, _stable_description(list(value.args)), _stable_description(value.kwds)]
    if isinstance(value, (str, bytes, bool, int, float, type(None), np.generic, np.ndarray)):
        return value
    if callable(value):
        return getattr(value, "__module__", ""), getattr(value, "__qualname__", type(value).__qualname__)
    text = repr(value)
    return type(value).__qualname__ if " at 0x" in text else text


class _Run:
    """One fit of a HyperbandSearchCV: the waves, their trials and the bookkeeping."""

    def __init__(self, search, base, X, y, splits, routed, scorers, refit_metric, states, sampler, epochs_name, log_dir):
        self.search, self.base, self.X, self.y, self.splits = search, base, X, y, splits
        self.routed, self.scorers, self.refit_metric = routed, scorers, refit_metric
        self.states, self.sampler, self.epochs_name, self.log_dir = states, sampler, epochs_name, log_dir
        self.run_id = uuid.uuid4().hex
        self.params: list[dict] = []  # per candidate
        self.candidate_params, self.out = [], []
        self.more_results = {k: [] for k in ("candidate", "bracket", "rung", "n_epochs", "epochs_trained")}
        self.total_epochs = 0
        self.rungs: list[dict] = []
        self.start = time.time()
        if log_dir is None:
            self.hparams = None
        else:
            spaces = sampler.distributions if isinstance(sampler.distributions, (list, tuple)) else [sampler.distributions]
            self.hparams = HParamsLog(log_dir, sorted({name for space in spaces for name in space}), refit_metric)

    @property
    def n_candidates(self) -> int:
        return len(self.params)

    def all(self) -> None:
        n_waves = len(self.search.brackets_[0])
        for iteration in range(self.search.hyperband_iterations):
            brackets = [
                Bracket(iteration * len(self.search.brackets_) + b, rungs, n_waves - len(rungs))
                for b, rungs in enumerate(self.search.brackets_)
            ]
            for wave in range(n_waves):
                active = [b for b in brackets if b.first_wave <= wave]
                for bracket in active:
                    if wave == bracket.first_wave:
                        new = self.sampler.sample(bracket.rungs[0].n_candidates)
                        bracket.live = list(range(len(self.params), len(self.params) + len(new)))
                        self.params.extend(new)
                self._run_wave([(b, wave - b.first_wave) for b in active])

    def _previous_epochs(self, bracket: Bracket, rung: int) -> int:
        return 0 if rung == 0 else bracket.rungs[rung - 1].epochs

    def _run_wave(self, work: list[tuple[Bracket, int]]) -> None:
        tasks = [
            Task(c, f, self.params[c], self._previous_epochs(b, r), b.rungs[r].epochs)
            for b, r in work
            for c in b.live
            for f in range(len(self.splits))
        ]
        search = self.search
        if search.verbose:
            shapes = ", ".join(f"bracket {b.index} rung {r}: {len(b.live)} x {_epochs(b.rungs[r].epochs)}" for b, r in work)
            print(f"[HyperbandSearchCV] {len(tasks)} trainings ({shapes})", flush=True)
        def unfinished() -> list[Task]:
            return [t for t in tasks if (t.candidate, t.fold, t.stop) not in self.states.results]

        retry_lost_workers(
            lambda: self._run_tasks(unfinished()), search.max_retries,
            retry_notice=lambda exc: (
                f"A worker was lost ({type(exc).__name__}); running the wave's {len(unfinished())} unfinished "
                "trials again."
            ),
            failure=lambda attempts, exc: (
                f"Workers were lost {attempts} times in one wave (last: {type(exc).__name__}: {exc}); "
                f"{len(unfinished())} trials unfinished. With checkpoint_dir, fit again to resume."
            ),
        )
        results = [self.states.results[(t.candidate, t.fold, t.stop)] for t in tasks]
        warn_or_raise_about_fit_failures(results, search.error_score)
        if callable(search.scoring):
            insert_error_scores(results, search.error_score)
        by_candidate: dict[int, list[dict]] = {}
        for result in results:
            by_candidate.setdefault(result["candidate"], []).append(result)
            self.total_epochs += result["epochs_trained"] - result["epochs_before"]
        for bracket, rung in work:
            self._finish_rung(bracket, rung, by_candidate)

    def _run_tasks(self, todo: list[Task]) -> None:
        if not todo:
            return
        search = self.search
        parallel = joblib.Parallel(n_jobs=search.n_jobs, pre_dispatch=search.pre_dispatch, return_as="generator_unordered")
        # States travel as pickles only where another process may continue a candidate, or a
        # checkpoint keeps them; one process continues from its live estimators.
        keep_state = self.states.folder is not None or not runs_in_this_process(search.n_jobs)
        context = TrialContext(
            self.run_id, self.base, self.X, self.y, self.routed.estimator.fit, self.routed.scorer.score, self.scorers,
            search.return_train_score, search.error_score, self.log_dir, keep_state,
        )
        calls = (
            joblib.delayed(train_and_score)(
                context, t, self.states.state(t.candidate, t.fold, t.start) if keep_state else None,
                *self.splits[t.fold],
            )
            for t in todo
        )
        for result, state in parallel(calls):
            self.states.record(result, state, result["epochs_before"])

    def _finish_rung(self, bracket: Bracket, rung: int, by_candidate: dict[int, list[dict]]) -> None:
        epochs = bracket.rungs[rung].epochs
        last = rung == len(bracket.rungs) - 1
        scores, failed = {}, set()
        for c in bracket.live:
            folds = sorted(by_candidate[c], key=lambda r: r["fold"])
            self.candidate_params.append({**self.params[c], self.epochs_name: epochs})
            self.out.extend(folds)
            for key, value in (("candidate", c), ("bracket", bracket.index), ("rung", rung), ("n_epochs", epochs)):
                self.more_results[key].append(value)
            self.more_results["epochs_trained"].append(float(np.mean([r["epochs_trained"] for r in folds])))
            scores[c] = _rank_score(folds, self.refit_metric)
            if any(r["fit_error"] is not None for r in folds):
                failed.add(c)
        # Best first; failed (NaN) last; ties by candidate id, so the order is reproducible.
        # A candidate whose fit failed in any fold has no state to continue from: never kept.
        ranked = sorted(bracket.live, key=lambda c: (-scores[c] if math.isfinite(scores[c]) else math.inf, c))
        keep = set([c for c in ranked if c not in failed][: bracket.rungs[rung + 1].n_candidates]) if not last else set()
        for c in ranked:
            pruned = not last and c not in keep
            self.sampler.report(c, epochs, scores[c], finished=last, pruned=pruned)
            if pruned or last:
                self.states.drop(c)
                forget_live(self.run_id, c)  # when its trainings ran in this process
                if self.hparams is not None:
                    self.hparams.write(c, self.params[c], scores[c], epochs)
        bracket.live = [c for c in ranked if c in keep]
        finite = [s for s in scores.values() if math.isfinite(s)]
        self.rungs.append({
            "bracket": bracket.index, "rung": rung, "n_epochs": epochs, "n_candidates": len(scores),
            "best_score": max(finite) if finite else float("nan"),
            "elapsed": time.time() - self.start, "total_epochs": self.total_epochs,
        })
        if self.search.verbose:
            print(f"[HyperbandSearchCV] bracket {bracket.index} rung {rung} ({_epochs(epochs)}): best score "
                  f"{self.rungs[-1]['best_score']:.4g}, {len(bracket.live)} continue "
                  f"({self.rungs[-1]['elapsed']:.0f} s)", flush=True)


def _epochs(n: int) -> str:
    return f"{n} epoch" + ("" if n == 1 else "s")


def _rank_score(folds: list[dict], metric: str) -> float:
    """A candidate's rung score: the mean of its folds' test scores (of the ranking metric)."""
    values = [r["test_scores"][metric] if isinstance(r["test_scores"], dict) else r["test_scores"] for r in folds]
    values = np.asarray(values, dtype=float)
    return float(values.mean()) if np.isfinite(values).all() else float("nan")
